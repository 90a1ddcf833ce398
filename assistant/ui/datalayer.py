"""Chat history: Chainlit's SQLAlchemy data layer on the history database.

That database is ``chainlit.sqlite`` in the data directory, or with
``ASSISTANT_DATABASE_URL`` the PostgreSQL database everything else is in (its tables in the
schema ``chat_history``, reached through ``search_path``), so every server process sees
every conversation.

The schema is created and upgraded by the engine (``assistant.history``). Three changes to
Chainlit's layer:

- step writes are queued and written in batches, in the order they were issued: Chainlit
  persists ``send()``, each ``update()`` and a removal of a step in separate background
  tasks, and in its layer the first write could land last (a step saved with an empty
  output). Each write used to be a transaction of its own through SQLAlchemy (about a
  quarter of the server's CPU time under 50 conversations, and most of PostgreSQL's
  statements); here everything issued while one batch is being written goes into the next
  one: one transaction on the engine's history connection (``ChatHistory.save_steps``),
  writes of the same step merged, steps of the same shape sent as one statement;
- those batches, and the thread rows, wait for a quiet moment (``quiet``: no chat turn
  computing, as while they all wait for the model; ``WRITE_WAIT_S`` at most): under a
  burst of messages the history is written after the turns have sent their requests,
  not before, in fewer and bigger batches. A read through this layer first writes what is
  queued, so it always sees what this process wrote;
- deleting a conversation deletes all of it: ``on_delete`` hands it to the engine
  (checkpoints, decisions, sections, files), and on SQLite deleted rows are overwritten in
  the file (``secure_delete``); nothing is written for a deleted thread again (a window
  still open on it, in this process or another, would otherwise bring its row back);
- an unknown thread's author is "" (so the HTTP API answers 404, not 500).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import sqlalchemy
from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.data.utils import queue_until_user_message
from chainlit.element import ElementDict
from chainlit.step import StepDict
from chainlit.types import ThreadDict
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker

from assistant.history import ChatHistory, ThreadChange
from assistant.storage import ThreadNotFound
from assistant.storage.postgres import HISTORY_SCHEMA, connect_kwargs
from assistant.ui.files import URL_PREFIX

log = logging.getLogger(__name__)

POOL_SIZE = 5
"""PostgreSQL: connections the history keeps per process (as many more under load)."""
WRITE_WAIT_S = 0.5
"""The longest a history write waits for the turns to be quiet."""
OnDelete = Callable[[str, str], Awaitable[None]]
"""``(thread_id, owner)``: delete everything of the thread outside Chainlit's tables."""
DeletedAmong = Callable[[Collection[str]], Awaitable[set[str]]]
"""Which of these thread ids were deleted (nothing may be written for them again)."""
HistoryOf = Callable[[], ChatHistory]
"""The history tables on the engine's connection (reached when the first write happens)."""
Quiet = Callable[[float], Awaitable[None]]
"""Until no chat turn of this process computes, or for so many seconds at most."""


@dataclass
class _Write:
    """A write waiting for the next batch: a step's columns (None: delete the step), or
    with ``thread`` set the thread row's name, author and metadata."""

    thread_id: str
    step_id: str
    columns: dict[str, Any] | None
    thread: bool = False
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def _step_write(step_dict: Any) -> _Write:
    """The write of a step Chainlit created or updated."""
    columns = step_columns(step_dict)
    return _Write(str(step_dict.get("threadId")), str(columns.get("id")), columns)


def step_columns(step_dict: Any) -> dict[str, Any]:
    """The columns Chainlit's own ``create_step`` would write for ``step_dict``."""
    step = dict(step_dict)
    if "showInput" in step:
        step["showInput"] = str(step.get("showInput", "")).lower()
    columns = {
        key: value
        for key, value in step.items()
        if value is not None and not (isinstance(value, dict) and not value)
    }
    columns["metadata"] = json.dumps(step.get("metadata", {}))
    columns["generation"] = json.dumps(step.get("generation", {}))
    return columns


class OrderedDataLayer(SQLAlchemyDataLayer):
    """``SQLAlchemyDataLayer`` whose step writes are applied in batches, in the order they
    were issued."""

    def __init__(
        self,
        conninfo: str,
        storage_provider: BaseStorageClient | None,
        busy_timeout: float,
        history: HistoryOf,
        on_delete: OnDelete | None = None,
        deleted_among: DeletedAmong | None = None,
        postgres_url: str | None = None,
        quiet: Quiet | None = None,
    ) -> None:
        """Connect to ``conninfo``: SQLite, waiting up to ``busy_timeout`` s for a lock; or,
        given ``postgres_url`` (``conninfo`` is then its SQLAlchemy form), PostgreSQL.
        Step writes go to ``history()``, each batch after ``quiet``."""
        connect_args = (
            connect_kwargs(postgres_url, busy_timeout, HISTORY_SCHEMA)
            if postgres_url
            else {"timeout": busy_timeout}
        )
        super().__init__(conninfo, connect_args=connect_args, storage_provider=storage_provider)
        self.history = history
        self.on_delete = on_delete
        self.deleted_among = deleted_among
        self.quiet = quiet
        self._deleted: set[str] = set()  # deleted thread ids seen by this process
        self._saved_threads: set[str] = set()  # thread rows this process has upserted
        self._queue: list[_Write] = []  # writes for the next batch, in order
        self._last: asyncio.Future[None] | None = None  # done when all queued are written
        self._flusher: asyncio.Task[None] | None = None
        self._hurry = asyncio.Event()  # set while a read waits for the queued writes
        self._hurrying = 0
        if postgres_url:
            # A bounded pool that tests a connection before using it: a history write on a
            # connection the server closed (a restart) would only be logged, and lost.
            self.engine = create_async_engine(
                conninfo,
                connect_args=connect_args,
                pool_size=POOL_SIZE,
                max_overflow=POOL_SIZE,
                pool_timeout=busy_timeout,
                pool_pre_ping=True,
            )
            self.async_session = sessionmaker(  # type: ignore[call-overload]
                bind=self.engine, expire_on_commit=False, class_=AsyncSession
            )
        else:
            sqlalchemy.event.listen(self.engine.sync_engine, "connect", _overwrite_deleted_rows)

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        """Upsert the thread row, in the next batch of writes; a bare "make sure it exists"
        is done once per thread (step writes make sure of it themselves, in their batch)."""
        bare = (name, user_id, metadata, tags) == (None, None, None, None)
        if bare and thread_id in self._saved_threads:
            return
        if tags is None:  # on the history's own connection: SQLAlchemy took ~2 ms a call
            row = {"name": name, "user_id": user_id, "metadata": metadata}
            await self._enqueue(_Write(thread_id, "", row, thread=True))
            return
        await self.settled()  # Chainlit's own, which keeps a list in a text column
        if await self._gone(thread_id):
            return
        await super().update_thread(thread_id, name, user_id, metadata, tags)
        self._saved_threads.add(thread_id)  # only once the row is known to exist

    async def delete_thread(self, thread_id: str) -> None:
        """Delete the conversation: everything the engine keeps of it, then its history."""
        await self.settled()
        author = await self.get_thread_author(thread_id)
        if author and self.on_delete is not None:
            try:
                await self.on_delete(thread_id, author)
            except ThreadNotFound:
                log.info("thread %s had nothing in the engine to delete", thread_id)
        self._saved_threads.discard(thread_id)
        self._deleted.add(thread_id)
        await super().delete_thread(thread_id)

    async def _gone(self, thread_id: str) -> bool:
        """Whether ``thread_id`` was deleted, here or by another process."""
        return thread_id in await self._gone_among({thread_id})

    async def _gone_among(self, thread_ids: set[str]) -> set[str]:
        """Which of ``thread_ids`` were deleted, here or by another process (``assistant
        delete``, another server): asked of the engine's thread index in one query, for
        those not yet known to be deleted."""
        gone = thread_ids & self._deleted
        unknown = thread_ids - gone
        if unknown and self.deleted_among is not None:
            found = await self.deleted_among(unknown)
            self._deleted |= found
            self._saved_threads -= found
            gone |= found
        return gone

    @queue_until_user_message()
    async def create_element(self, element: Any) -> None:
        """Record an element; a file already in the engine's store is only linked.

        Chainlit's layer downloads an element's URL to upload it again; a report or an
        export is already stored (and served to its owner), so its row just points there.
        """
        if await self._gone(str(getattr(element, "thread_id", None))):
            return
        url = getattr(element, "url", None) or ""
        if not url.startswith(f"{URL_PREFIX}/") or not element.for_id:
            await super().create_element(element)
            return
        row = {k: v for k, v in element.to_dict().items() if k != "props"}
        row["objectKey"] = unquote(url[len(URL_PREFIX) + 1 :])
        await self.history().put_element(row)

    async def get_thread_author(self, thread_id: str) -> str:
        """The thread's owner, or "" for an unknown thread (so the HTTP API answers 404)."""
        await self.settled()
        try:
            return await super().get_thread_author(thread_id)
        except ValueError:
            return ""

    # Reads see what this process wrote: its queued writes go first.

    async def get_all_user_threads(
        self, user_id: str | None = None, thread_id: str | None = None
    ) -> list[ThreadDict] | None:
        """Threads with their steps and elements (``get_thread`` and ``list_threads``)."""
        await self.settled()
        return await super().get_all_user_threads(user_id, thread_id)

    async def get_step(self, step_id: str) -> StepDict | None:
        """One step."""
        await self.settled()
        return await super().get_step(step_id)

    async def get_element(self, thread_id: str, element_id: str) -> ElementDict | None:
        """One element."""
        await self.settled()
        return await super().get_element(thread_id, element_id)

    @queue_until_user_message()
    async def create_step(self, step_dict: Any) -> None:
        """Insert or update a step, after every write issued before it."""
        await self._enqueue(_step_write(step_dict))

    @queue_until_user_message()
    async def update_step(self, step_dict: Any) -> None:
        """Update a step (an upsert, as in Chainlit's layer), in order."""
        await self._enqueue(_step_write(step_dict))

    @queue_until_user_message()
    async def delete_step(self, step_id: str) -> None:
        """Delete a step (with its feedback and elements) after every write issued before
        it (its creation included)."""
        from chainlit.context import context

        thread_id = str(getattr(context.session, "thread_id", "") or "")
        await self._enqueue(_Write(thread_id, step_id, None))

    async def _enqueue(self, write: _Write) -> None:
        """Queue a write (before the first ``await``: writes keep the order in which
        Chainlit created their tasks) and wait until its batch is written."""
        self._queue.append(write)
        self._last = write.done
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await write.done

    async def settled(self) -> None:
        """Until every write queued so far is written, without waiting for quiet (before
        a read, and before the engine closes at shutdown)."""
        last, flusher = self._last, self._flusher
        if last is None or last.done() or flusher is None:
            return
        self._hurrying += 1
        self._hurry.set()
        try:  # or until the flusher is gone (cancelled): nothing would write them
            await asyncio.wait({last, flusher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._hurrying -= 1
            if not self._hurrying:
                self._hurry.clear()

    async def _pause(self) -> None:
        """Until the turns are quiet (``WRITE_WAIT_S`` at most), or a read is waiting."""
        if self.quiet is None or self._hurry.is_set():
            return
        quiet = asyncio.ensure_future(self.quiet(WRITE_WAIT_S))
        hurry = asyncio.ensure_future(self._hurry.wait())
        try:
            await asyncio.wait({quiet, hurry}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            quiet.cancel()
            hurry.cancel()
        if quiet.done() and not quiet.cancelled() and quiet.exception() is not None:
            log.warning("history writes did not wait for quiet: %s", quiet.exception())

    async def _flush(self) -> None:
        """Write batches until the queue is empty, each after a pause for quiet. A batch
        that fails is written again one write at a time, so that one bad write (logged, as
        in Chainlit's layer) does not take the others with it."""
        while self._queue:
            await self._pause()
            batch, self._queue = self._queue, []
            try:
                await self._write(batch)
            except Exception:
                log.warning("a batch of %d history writes failed; one at a time", len(batch))
                for write in batch:
                    try:
                        await self._write([write])
                    except Exception as exc:
                        what = f"thread {write.thread_id}" if write.thread else write.step_id
                        log.warning("history write of %s failed: %s", what, exc)
            finally:
                for write in batch:
                    if not write.done.done():
                        write.done.set_result(None)

    async def _write(self, batch: list[_Write]) -> None:
        """One batch: nothing for a deleted thread; thread rows first (in one transaction,
        each merged into the row as it is), then the steps in one transaction: a step
        written several times is written once, with every column it was given; a deletion
        comes before any later write of the same step."""
        gone = await self._gone_among({w.thread_id for w in batch if w.thread_id})
        rows = [w for w in batch if w.thread and w.thread_id not in gone]
        if rows:
            changes = [ThreadChange(w.thread_id, **(w.columns or {})) for w in rows]
            await self.history().update_threads(changes)
            self._saved_threads.update(w.thread_id for w in rows)  # the rows now exist
        deleted: dict[str, None] = {}
        steps: dict[str, dict[str, Any]] = {}
        threads: set[str] = set()
        for write in batch:
            if write.thread_id in gone or write.thread:
                continue
            if write.columns is None:
                steps.pop(write.step_id, None)
                deleted[write.step_id] = None
            else:
                steps[write.step_id] = {**steps.get(write.step_id, {}), **write.columns}
                threads.add(write.thread_id)
        if not steps and not deleted:
            return
        now = await self.get_current_timestamp()
        new = {thread_id: now for thread_id in threads - self._saved_threads}
        await self.history().save_steps(new, list(deleted), list(steps.values()))
        self._saved_threads |= new.keys()

    async def close(self) -> None:
        """Write what is queued, then close the connections."""
        await self.settled()
        if self._flusher is not None:
            await asyncio.wait({self._flusher})
        await super().close()


def _overwrite_deleted_rows(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def build_data_layer(
    where: Path | str,
    storage: BaseStorageClient,
    history: HistoryOf,
    busy_timeout: float = 10.0,
    on_delete: OnDelete | None = None,
    deleted_among: DeletedAmong | None = None,
    quiet: Quiet | None = None,
) -> OrderedDataLayer:
    """The data layer on the SQLite file ``where``, or on the PostgreSQL database whose
    ``postgresql://`` URL ``where`` is (its schema must exist: ``open_storage``); step
    writes go to ``history()``, the engine's connection to the same tables, each batch
    after ``quiet``."""
    if isinstance(where, str) and where.startswith(("postgresql://", "postgres://")):
        conninfo = "postgresql+psycopg://" + where.split("://", 1)[1]
        return OrderedDataLayer(
            conninfo,
            storage,
            busy_timeout,
            history,
            on_delete,
            deleted_among,
            postgres_url=where,
            quiet=quiet,
        )
    return OrderedDataLayer(
        f"sqlite+aiosqlite:///{where}",
        storage,
        busy_timeout,
        history,
        on_delete,
        deleted_among,
        quiet=quiet,
    )
