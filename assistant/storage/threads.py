"""Threads: who owns each one, what kind it is, its status, its lease and its decisions.

Every run (a turn, a resume, a continue) takes the thread's **lease** first: a row saying
which process and run may write the thread, and until when. It is taken atomically
(``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` the old lease was released or expired),
renewed while the run goes on and released when it ends, so at most one run writes a
thread at a time across tabs, the CLI and every process sharing the database. A holder that
died is recognised at once on the same host (its process id is gone) and elsewhere when its
lease expires. Releasing writes how the run ended into the row (``ended``), and the next
run reads it in the statement that takes the lease: whether the last run reached its end
is known without a race, where the thread's status may be older than a run that died.

**Decisions** are the answers to approvals, one row per interrupt, inserted before the run
that applies them: a question is answered once, by whoever inserts first, and an answer
survives a crash of the run it started (LangGraph keeps resume values only in memory).
"""

from __future__ import annotations

import functools
import json
import os
import socket
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from assistant.errors import AssistantError, InputError
from assistant.storage.db import Database
from tools.text import brief

LOCAL_OWNER = "local"
"""The owner of threads made in single-user mode and in the terminal."""


class ThreadKind(StrEnum):
    """What a thread runs: a conversation with the supervisor, or one research run."""

    CHAT = "chat"
    RESEARCH = "research"


class ThreadStatus(StrEnum):
    """Where a thread stands after its last run."""

    RUNNING = "running"
    WAITING = "waiting"  # for the person's approval
    DONE = "done"
    REJECTED = "rejected"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped, or its process died


@dataclass(frozen=True)
class ThreadInfo:
    """One saved conversation or research run."""

    thread_id: str
    kind: ThreadKind
    title: str
    owner: str
    status: ThreadStatus
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class RunStart:
    """A run holding its thread's lease: the thread (as its row says), and whether the run
    before reached its end and released the thread, so that its latest checkpoint leaves
    nothing to do (``False`` for a new thread, and after a run that was stopped, failed,
    waits for an answer or died)."""

    info: ThreadInfo
    at_rest: bool

    @property
    def status(self) -> ThreadStatus:
        """How the run before really left the thread: one that died never recorded its end,
        and the row still says how the one before it ended."""
        if self.info.status is ThreadStatus.DONE and not self.at_rest:
            return ThreadStatus.INTERRUPTED
        return self.info.status


class ThreadBusy(AssistantError):
    """Another run holds the thread's lease."""

    def __init__(self) -> None:
        super().__init__(
            "This conversation is busy in another window (or still working on a request): "
            "wait for it to finish, or stop it there."
        )


class ThreadNotFound(InputError):
    """No such thread for this person (missing, deleted, or someone else's)."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"No conversation {thread_id} was found for you.")
        self.thread_id = thread_id


class WrongKind(InputError):
    """A chat thread used as a research thread, or the reverse."""

    def __init__(self, thread_id: str, kind: ThreadKind) -> None:
        other = "chat" if kind is ThreadKind.CHAT else "research"
        super().__init__(
            f"Thread {thread_id} is a {kind.value} thread: continue it with "
            f"'assistant {other} --thread {thread_id}'."
        )


class AlreadyDecided(AssistantError):
    """The approval was answered already (in another window, or before a restart)."""

    def __init__(self) -> None:
        super().__init__("That question was already answered, so this answer was not used.")


@functools.cache
def this_host() -> str:
    """Where this process's ids mean something: the host name and, on Linux, the process
    id namespace (containers sharing a host name, e.g. with host networking, each have
    their own process ids: one must never judge another's pids)."""
    host = socket.gethostname()
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # e.g. "pid:[4026531836]"
    except OSError:
        return host
    return f"{host}/{namespace.removeprefix('pid:[').rstrip(']')}"


def new_holder() -> str:
    """An identity for one run: host (and process namespace), process id, a random part."""
    return f"{this_host()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _holder_is_dead(holder: str) -> bool:
    """True when ``holder`` is a process of this host (and namespace) that no longer exists.

    Anything else (another machine, another container, an older holder format) is only
    ever freed by its lease expiring.
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != this_host() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _title(text: str) -> str:
    return brief(text, 80)


_STATUSES = frozenset(status.value for status in ThreadStatus)
_THREAD_COLUMNS = "thread_id, kind, title, owner, status, created_at, updated_at"


def _info(row: tuple[Any, ...]) -> ThreadInfo:
    thread_id, kind, title, owner, status, created, updated = row
    return ThreadInfo(
        thread_id,
        ThreadKind(kind),
        title,
        owner or LOCAL_OWNER,
        ThreadStatus(status) if status in _STATUSES else ThreadStatus.DONE,
        created,
        updated,
    )


class ThreadStore:
    """The thread index, leases and decisions on one database."""

    def __init__(self, db: Database, lease_seconds: float = 30.0) -> None:
        """Use the tables of ``db`` (created by ``ensure_schema``)."""
        self.db = db
        self.lease_seconds = lease_seconds

    async def claim(
        self, thread_id: str, *, kind: ThreadKind, owner: str, title: str
    ) -> ThreadInfo:
        """Make sure ``owner`` has the thread (creating it if new), without running it."""
        return await self._thread_row(thread_id, kind, owner, title, create=True)

    async def begin_run(
        self,
        thread_id: str,
        *,
        kind: ThreadKind,
        owner: str,
        title: str | None,
        holder: str,
        create: bool,
    ) -> RunStart:
        """Check the thread is ``owner``'s and of ``kind``, then take its lease.

        ``create``: make the thread (titled ``title``) if it does not exist; otherwise a
        missing thread is ``ThreadNotFound``. A deleted thread's id is never reused.
        Raises ``ThreadBusy`` while another live run holds the lease.

        Two statements, each atomic on its own (this runs on every turn): the thread row
        is created or touched only if it matches, and the lease row is taken only if free,
        by the first statement that fits: released by a run that reached its end (the
        usual turn), then new, released otherwise or expired, then left by a dead holder.
        """
        info = await self._thread_row(thread_id, kind, owner, title, create=create)
        now = time.time()
        if await self.db.execute(
            "UPDATE leases SET holder = ?, expires_at = ?, ended = NULL "
            "WHERE thread_id = ? AND ended = ?",
            (holder, now + self.lease_seconds, thread_id, ThreadStatus.DONE.value),
        ):
            return RunStart(info, at_rest=True)
        if not await self._take_lease(thread_id, holder, now):
            raise ThreadBusy()
        return RunStart(info, at_rest=False)

    async def _thread_row(
        self, thread_id: str, kind: ThreadKind, owner: str, title: str | None, *, create: bool
    ) -> ThreadInfo:
        """Create or touch the thread if it matches; raise why not otherwise."""
        now = time.time()
        matches = (
            "COALESCE(threads.owner, ?) = ? AND threads.kind = ? AND threads.deleted_at IS NULL"
        )
        if create:
            row = await self.db.fetchone(
                "INSERT INTO threads (thread_id, kind, title, owner, status, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE "
                f"SET updated_at = excluded.updated_at WHERE {matches} "
                f"RETURNING {_THREAD_COLUMNS}",
                (
                    # "interrupted" until the run ends and says otherwise
                    *(thread_id, kind.value, _title(title or ""), owner, "interrupted", now, now),
                    *(LOCAL_OWNER, owner, kind.value),
                ),
            )
        else:
            row = await self.db.fetchone(
                f"UPDATE threads SET updated_at = ? WHERE thread_id = ? AND {matches} "
                f"RETURNING {_THREAD_COLUMNS}",
                (now, thread_id, LOCAL_OWNER, owner, kind.value),
            )
        if row is None:
            await self._refuse(thread_id, owner)
        assert row is not None
        return _info(row)

    async def _refuse(self, thread_id: str, owner: str) -> None:
        """Say why ``owner`` cannot run ``thread_id``."""
        row = await self.db.fetchone(
            f"SELECT {_THREAD_COLUMNS}, deleted_at FROM threads WHERE thread_id = ?", (thread_id,)
        )
        if row is None or row[-1] is not None:
            raise ThreadNotFound(thread_id)
        info = _info(row[:-1])
        if info.owner != owner:
            raise ThreadNotFound(thread_id)
        raise WrongKind(thread_id, info.kind)

    async def _take_lease(self, thread_id: str, holder: str, now: float) -> bool:
        taken = await self.db.execute(
            "INSERT INTO leases (thread_id, holder, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (thread_id) DO UPDATE SET holder = excluded.holder, "
            "expires_at = excluded.expires_at, ended = NULL "
            "WHERE leases.ended IS NOT NULL OR leases.expires_at < ?",
            (thread_id, holder, now + self.lease_seconds, now),
        )
        if taken:
            return True
        current = await self.db.fetchone(
            "SELECT holder FROM leases WHERE thread_id = ? AND ended IS NULL", (thread_id,)
        )
        if current is None or not _holder_is_dead(str(current[0])):
            return False
        return bool(
            await self.db.execute(
                "UPDATE leases SET holder = ?, expires_at = ? "
                "WHERE thread_id = ? AND holder = ? AND ended IS NULL",
                (holder, now + self.lease_seconds, thread_id, current[0]),
            )
        )

    async def renew(self, thread_id: str, holder: str) -> bool:
        """Extend ``holder``'s lease; False if it was lost (taken over, or the thread deleted)."""
        return bool(
            await self.db.execute(
                "UPDATE leases SET expires_at = ? WHERE thread_id = ? AND holder = ? "
                "AND ended IS NULL AND NOT EXISTS (SELECT 1 FROM threads "
                "WHERE threads.thread_id = ? AND threads.deleted_at IS NOT NULL)",
                (time.time() + self.lease_seconds, thread_id, holder, thread_id),
            )
        )

    async def end_run(
        self,
        thread_id: str,
        holder: str,
        status: ThreadStatus,
        previous: ThreadStatus | None = None,
    ) -> None:
        """Record how the run ended (unless it is ``previous`` again), then release the lease
        with it."""
        if status is not previous:
            await self.db.execute(
                "UPDATE threads SET status = ? WHERE thread_id = ?", (status.value, thread_id)
            )
        await self.db.execute(
            "UPDATE leases SET ended = ? WHERE thread_id = ? AND holder = ? AND ended IS NULL",
            (status.value, thread_id, holder),
        )

    async def is_running(self, thread_id: str) -> bool:
        """Whether a live run holds the thread's lease now."""
        row = await self.db.fetchone(
            "SELECT holder, expires_at FROM leases WHERE thread_id = ? AND ended IS NULL",
            (thread_id,),
        )
        return row is not None and row[1] >= time.time() and not _holder_is_dead(str(row[0]))

    async def is_deleted(self, thread_id: str) -> bool:
        """Whether the thread was deleted (its id stays taken)."""
        row = await self.db.fetchone(
            "SELECT deleted_at FROM threads WHERE thread_id = ?", (thread_id,)
        )
        return row is not None and row[0] is not None

    async def deleted_among(self, thread_ids: Collection[str]) -> set[str]:
        """Those of ``thread_ids`` that were deleted (one query for them all)."""
        ids = list(thread_ids)
        if not ids:
            return set()
        rows = await self.db.fetchall(
            f"SELECT thread_id FROM threads WHERE thread_id IN ({', '.join('?' for _ in ids)}) "
            "AND deleted_at IS NOT NULL",
            ids,
        )
        return {str(row[0]) for row in rows}

    async def get(self, thread_id: str, owner: str) -> ThreadInfo | None:
        """``owner``'s thread ``thread_id`` (None if missing, deleted or someone else's)."""
        row = await self.db.fetchone(
            f"SELECT {_THREAD_COLUMNS} FROM threads "
            "WHERE thread_id = ? AND deleted_at IS NULL AND COALESCE(owner, ?) = ?",
            (thread_id, LOCAL_OWNER, owner),
        )
        return _info(row) if row else None

    async def list_for(self, owner: str, limit: int = 50) -> list[ThreadInfo]:
        """``owner``'s threads, most recently active first.

        A thread whose lease is held is running; a lease left behind by a run whose process
        died (or expired) means that run was interrupted.
        """
        rows = await self.db.fetchall(
            f"SELECT {', '.join('threads.' + c for c in _THREAD_COLUMNS.split(', '))}, "
            "leases.holder, leases.expires_at FROM threads "
            "LEFT JOIN leases ON leases.thread_id = threads.thread_id AND leases.ended IS NULL "
            "WHERE threads.deleted_at IS NULL AND COALESCE(threads.owner, ?) = ? "
            "ORDER BY threads.updated_at DESC LIMIT ?",
            (LOCAL_OWNER, owner, limit),
        )
        now = time.time()
        out = []
        for row in rows:
            info, holder, expires = _info(row[:-2]), row[-2], row[-1]
            if holder is not None:
                live = expires >= now and not _holder_is_dead(str(holder))
                status = ThreadStatus.RUNNING if live else ThreadStatus.INTERRUPTED
                info = ThreadInfo(**{**info.__dict__, "status": status})
            out.append(info)
        return out

    async def tombstone(self, thread_id: str, owner: str) -> None:
        """Forget the thread's title and decisions; its id stays taken, for nobody.

        A run still holding the lease loses it at its next renewal (and stops).
        """
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE threads SET title = '', deleted_at = ?, status = ? "
                "WHERE thread_id = ? AND COALESCE(owner, ?) = ?",
                (time.time(), ThreadStatus.DONE.value, thread_id, LOCAL_OWNER, owner),
            )
            await tx.execute("DELETE FROM decisions WHERE thread_id = ?", (thread_id,))

    async def drop_lease(self, thread_id: str) -> None:
        """Remove whatever lease the thread has (after deletion)."""
        await self.db.execute("DELETE FROM leases WHERE thread_id = ?", (thread_id,))

    async def record_decisions(
        self, thread_id: str, answers: dict[str, Any], decided_by: str
    ) -> None:
        """Store the answers to approvals; ``AlreadyDecided`` if any was answered before."""
        now = time.time()
        async with self.db.transaction() as tx:
            for interrupt_id, value in answers.items():
                inserted = await tx.execute(
                    "INSERT INTO decisions (thread_id, interrupt_id, decision, decided_by, "
                    "decided_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (thread_id, interrupt_id, json.dumps(value), decided_by, now),
                )
                if not inserted:
                    raise AlreadyDecided()

    async def decisions(self, thread_id: str) -> dict[str, Any]:
        """Every recorded answer of the thread, by interrupt id."""
        rows = await self.db.fetchall(
            "SELECT interrupt_id, decision FROM decisions WHERE thread_id = ?", (thread_id,)
        )
        return {str(iid): json.loads(value) for iid, value in rows}
