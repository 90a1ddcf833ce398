"""A small async SQL layer: one interface over SQLite (aiosqlite, here) and PostgreSQL
(psycopg, ``postgres.py``).

The assistant's own tables are read and written on every turn (the thread's owner and
lease, then its status), so this path must stay cheap: measured here, one upsert through
SQLAlchemy's async engine on aiosqlite cost about 3.5 ms, the same statement on a bare
aiosqlite connection 0.08 ms. Statements are therefore plain SQL that both SQLite and
Postgres accept (``ON CONFLICT`` upserts, ``?`` placeholders translated per driver).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import aiosqlite

Row = tuple[Any, ...]


class Transaction(Protocol):
    """Statements run inside one transaction."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run ``sql``; return the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``sql`` once per parameter row, in one call to the driver (one round trip
        on PostgreSQL, one hop to the connection's thread on SQLite)."""
        ...

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of ``sql``, if any."""
        ...

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of ``sql``."""
        ...


class Database(Transaction, Protocol):
    """A connection (or pool) on which each statement commits on its own."""

    dialect: Literal["sqlite", "postgres"]

    def transaction(self) -> contextlib.AbstractAsyncContextManager[Transaction]:
        """Statements that commit together, or not at all."""
        ...

    async def executescript(self, script: str) -> None:
        """Run several ``;``-separated statements (schema creation)."""
        ...

    async def flush_log(self) -> None:
        """After a deletion: SQLite empties its write-ahead log; PostgreSQL does nothing
        (deleted rows vanish from queries at once; autovacuum reclaims their space)."""
        ...

    async def close(self) -> None:
        """Release the connection(s)."""
        ...


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by its owner only (0700)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def private_file(path: Path) -> None:
    """Make an existing file readable by its owner only (0600)."""
    with contextlib.suppress(FileNotFoundError):
        path.chmod(0o600)


async def connect_sqlite(
    path: Path, busy_timeout: float = 10.0, *, autocommit: bool = False
) -> aiosqlite.Connection:
    """``path`` in WAL mode, waiting up to ``busy_timeout`` s for other processes' locks.

    ``autocommit``: every statement commits on its own (else Python's implicit
    transactions, committed by the caller, as LangGraph's saver expects).
    The file and its WAL companions are created 0600 (SQLite gives the WAL and shared-memory
    files the mode of the database file). File-system calls run in a worker thread: nothing
    here blocks the event loop (LangGraph Server refuses blocking calls in it).
    """
    await asyncio.to_thread(_create_private, path)
    conn = await aiosqlite.connect(
        path, timeout=busy_timeout, isolation_level=None if autocommit else ""
    )
    await conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows are overwritten with zeros, not left in free pages: deleting a
    # conversation must not leave its words readable in the file.
    await conn.execute("PRAGMA secure_delete=ON")
    for suffix in ("-wal", "-shm"):
        await asyncio.to_thread(private_file, path.with_name(path.name + suffix))
    return conn


def _create_private(path: Path) -> None:
    """``path``'s directory (0700) and the file itself (0600), created when missing."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))  # 0600 when new
    private_file(path)


@contextlib.asynccontextmanager
async def one_process_at_a_time(path: Path) -> AsyncIterator[None]:
    """Hold an exclusive lock on the file ``path`` (created 0600) while inside, across
    processes: for set-up that is not safe to run twice at once on one data directory
    (LangGraph's store numbers its migrations in a table two first starts would both fill).
    The kernel releases the lock if the process dies."""
    fd = await asyncio.to_thread(_lock_file, path)
    try:
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _lock_file(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


async def truncate_wal(conn: aiosqlite.Connection) -> None:
    """Checkpoint and truncate ``conn``'s write-ahead log, so old page versions (holding
    deleted rows) do not linger in the ``-wal`` file."""
    async with conn.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
        await cursor.fetchall()


async def _rows(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> list[Row]:
    """Run ``sql`` and read its rows in one trip to the connection's thread.

    A cursor costs three trips (execute, fetch, close), each a hand-over to the thread and a
    wake-up of the event loop: about 0.1 ms apiece, on every statement of every turn.
    """
    return [tuple(row) for row in await conn.execute_fetchall(sql, tuple(params))]


async def _changed(conn: aiosqlite.Connection, sql: str, params: Sequence[Any]) -> int:
    """Run ``sql`` in one trip; the rows it changed.

    Callers hold the connection exclusively, so the connection's change counter moved by
    this statement alone.
    """
    before = conn.total_changes
    await conn.execute_fetchall(sql, tuple(params))
    return conn.total_changes - before


class _SqliteTransaction:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await _changed(self.conn, sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, [tuple(row) for row in rows])

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = await _rows(self.conn, sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await _rows(self.conn, sql, params)


class SqliteDatabase(_SqliteTransaction):
    """One aiosqlite connection in autocommit mode; transactions take it exclusively.

    ``BEGIN IMMEDIATE`` takes SQLite's write lock at the start, so a transaction that reads
    then writes (claim a thread, take its lease) cannot interleave with another process's.
    """

    dialect: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        """Wrap an open connection; use ``SqliteDatabase.open``."""
        super().__init__(conn)
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, busy_timeout: float = 10.0) -> SqliteDatabase:
        """Open (and create) the database file at ``path``."""
        return cls(await connect_sqlite(path, busy_timeout, autocommit=True))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement, committed at once (it waits for a running transaction)."""
        async with self._lock:
            return await super().execute(sql, params)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement per row, each committed at once."""
        async with self._lock:
            await super().executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row (never reading inside another coroutine's transaction)."""
        async with self._lock:
            return await super().fetchone(sql, params)

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row (never reading inside another coroutine's transaction)."""
        async with self._lock:
            return await super().fetchall(sql, params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Statements that commit together; an exception rolls them all back.

        Also when the task is cancelled while ``BEGIN`` or ``COMMIT`` is on its way: the
        statement runs in the connection's thread all the same, and the rollback queued
        after it (nothing, outside a transaction) keeps the connection from staying inside
        one, holding SQLite's write lock.
        """
        async with self._lock:
            try:
                await self.conn.execute("BEGIN IMMEDIATE")
                yield _SqliteTransaction(self.conn)
                await self.conn.execute("COMMIT")
            except BaseException:
                await self.conn.rollback()
                raise

    async def executescript(self, script: str) -> None:
        """Run a schema script."""
        async with self._lock:
            await self.conn.executescript(script)

    async def flush_log(self) -> None:
        """Fold the write-ahead log into the database and empty it (after a deletion)."""
        async with self._lock:
            await truncate_wal(self.conn)

    async def close(self) -> None:
        """Close the connection (an open aiosqlite connection keeps the process alive)."""
        await self.conn.close()
