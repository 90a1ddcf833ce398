"""Where state lives: LangGraph checkpoints and the assistant's own tables.

``open_storage`` opens both and closes them on exit: in a data directory (SQLite files,
created 0600 in a 0700 directory), or, with ``ASSISTANT_DATABASE_URL``, in one PostgreSQL
database that several processes share (``postgres.py``). The assistant's tables: the
thread index with owners, leases and decisions (``threads``), finished research sections
(``sections``), files (``files``), sign-in sessions and failed sign-ins (``auth``); and
the chat history the browser shows (``history``, Chainlit's tables; on PostgreSQL in the
schema ``chat_history``, since Chainlit's ``threads`` table would meet ours).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.history import ChatHistory, ensure_history_schema
from assistant.settings import Settings
from assistant.storage.auth import AuthStore, SessionPolicy, ThrottlePolicy
from assistant.storage.db import (
    Database,
    SqliteDatabase,
    connect_sqlite,
    one_process_at_a_time,
    private_dir,
    truncate_wal,
)
from assistant.storage.files import FileStore, StoredFile
from assistant.storage.postgres import (
    HISTORY_SCHEMA,
    DatabaseRefused,
    DatabaseUnreachable,
    PostgresDatabase,
    setup_refused,
)
from assistant.storage.schema import ensure_schema
from assistant.storage.sections import SectionStore
from assistant.storage.threads import (
    LOCAL_OWNER,
    AlreadyDecided,
    RunStart,
    ThreadBusy,
    ThreadInfo,
    ThreadKind,
    ThreadNotFound,
    ThreadStatus,
    ThreadStore,
    WrongKind,
    new_holder,
)

__all__ = [
    "LOCAL_OWNER",
    "AlreadyDecided",
    "AuthStore",
    "DatabaseRefused",
    "DatabaseUnreachable",
    "FileStore",
    "PostgresDatabase",
    "RunStart",
    "SectionStore",
    "SqliteDatabase",
    "Storage",
    "StoredFile",
    "ThreadBusy",
    "ThreadInfo",
    "ThreadKind",
    "ThreadNotFound",
    "ThreadStatus",
    "ThreadStore",
    "WrongKind",
    "ensure_schema",
    "new_holder",
    "open_storage",
]


@dataclass(frozen=True)
class Storage:
    """Every store of one data directory (or database)."""

    db: Database
    checkpointer: Any
    threads: ThreadStore
    sections: SectionStore
    files: FileStore
    auth: AuthStore
    history: ChatHistory
    checkpoint_log: Callable[[], Awaitable[None]] | None = None
    """Empties the checkpointer's and the memory store's own logs (SQLite's write-ahead logs;
    nothing on PostgreSQL)."""
    store: Any = None
    """LangGraph's store (long-term memories), or None when memory is off."""

    async def forget(self) -> None:
        """After a deletion: no log still holds what was deleted (SQLite; on PostgreSQL the
        rows are gone from every query at once and autovacuum reclaims their space)."""
        await self.db.flush_log()
        await self.history.db.flush_log()
        if self.checkpoint_log is not None:
            await self.checkpoint_log()


def _serializer(types: Sequence[type[Any]]) -> Any:
    """LangGraph's serializer reviving only its own, LangChain's and ``types`` (an explicit
    allow-list: nothing else named in a checkpoint is ever imported)."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    return JsonPlusSerializer(
        allowed_msgpack_modules=[(kind.__module__, kind.__qualname__) for kind in types]
    )


async def open_checkpointer(settings: Settings, types: Sequence[type[Any]] = ()) -> Any:
    """LangGraph's checkpointer on ``checkpoints.sqlite`` (its writes not stopped half-way:
    ``SettledSqliteSaver``); close its ``conn`` when done.

    Only LangGraph's and LangChain's own types and ``types`` are revived from a checkpoint.
    """
    from assistant.storage.sqlite_saver import SettledSqliteSaver

    conn = await connect_sqlite(settings.checkpoint_path, settings.db_timeout)
    saver = SettledSqliteSaver(conn, serde=_serializer(types))
    try:
        await saver.setup()
    except BaseException:
        await conn.close()  # an open connection's thread would keep the process alive
        raise
    return saver


async def open_memory_store(settings: Settings) -> Any:
    """LangGraph's SQLite store on ``memory.sqlite``; close its ``conn`` when done."""
    from langgraph.store.sqlite.aio import AsyncSqliteStore

    conn = await connect_sqlite(settings.memory_path, settings.db_timeout, autocommit=True)
    store = AsyncSqliteStore(conn)
    try:
        await store.setup()
    except BaseException:
        # its batching task and its connection's thread would keep the process alive
        await stop_store(store)
        await conn.close()
        raise
    return store


async def stop_store(store: Any) -> None:
    """Stop the store's batching task: langgraph's ``AsyncBatchedBaseStore`` starts one and
    cancels it only when the store is garbage-collected (after the event loop, at exit)."""
    task = getattr(store, "_task", None)
    if task is not None and not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def open_storage(
    settings: Settings, checkpointed: Sequence[type[Any]] = ()
) -> AsyncIterator[Storage]:
    """Open (creating or upgrading) every store; close them all on exit.

    ``checkpointed``: the application's own types that graphs keep in their state.
    """
    opener = _open_postgres if settings.postgres_url else _open_sqlite
    async with opener(settings, checkpointed) as (db, checkpointer, history_db, log, store):
        yield Storage(
            db=db,
            checkpointer=checkpointer,
            threads=ThreadStore(db, settings.lease_seconds),
            sections=SectionStore(db),
            files=FileStore(db),
            auth=AuthStore(
                db,
                SessionPolicy(idle_seconds=settings.session_idle_hours * 3600),
                ThrottlePolicy(),
            ),
            history=ChatHistory(history_db),
            checkpoint_log=log,
            store=store,
        )


Opened = tuple[Database, Any, Database, Callable[[], Awaitable[None]] | None, Any]
"""Our tables, the checkpointer, the history tables, the logs' flush, the memory store."""


SETUP_LOCK = ".setup.lock"
"""The file in the data directory whose lock a starting process holds while it creates or
upgrades the SQLite files."""


@contextlib.asynccontextmanager
async def _open_sqlite(
    settings: Settings, checkpointed: Sequence[type[Any]]
) -> AsyncIterator[Opened]:
    """SQLite files in the data directory (memories in their own)."""
    await asyncio.to_thread(private_dir, settings.data_dir)  # never block the event loop
    async with contextlib.AsyncExitStack() as stack:
        # Created or upgraded by one starting process at a time (two first starts at once
        # raced in LangGraph's store migrations), as on PostgreSQL.
        async with one_process_at_a_time(settings.data_dir / SETUP_LOCK):
            db = await SqliteDatabase.open(settings.store_path, settings.db_timeout)
            stack.push_async_callback(db.close)
            await ensure_schema(db)
            checkpointer = await open_checkpointer(settings, checkpointed)
            stack.push_async_callback(checkpointer.conn.close)
            history_db = await SqliteDatabase.open(settings.history_path, settings.db_timeout)
            stack.push_async_callback(history_db.close)
            await ensure_history_schema(history_db)
            store = None
            if settings.memory:
                store = await open_memory_store(settings)
                stack.push_async_callback(store.conn.close)
                stack.push_async_callback(stop_store, store)

        async def flush_logs() -> None:
            await truncate_wal(checkpointer.conn)
            if store is not None:
                await truncate_wal(store.conn)

        yield db, checkpointer, history_db, flush_logs, store


@contextlib.asynccontextmanager
async def _open_postgres(
    settings: Settings, checkpointed: Sequence[type[Any]]
) -> AsyncIterator[Opened]:
    """One PostgreSQL database: our tables and LangGraph's in the URL's schema, Chainlit's
    in ``chat_history``; created or upgraded by one starting process at a time."""
    import psycopg
    from langgraph.store.postgres.aio import AsyncPostgresStore

    from assistant.storage.checkpoints import LeanPostgresSaver

    url = settings.postgres_url
    assert url is not None
    async with contextlib.AsyncExitStack() as stack:
        db = await PostgresDatabase.open(
            url, busy_timeout=settings.db_timeout, max_size=settings.db_pool_size
        )
        stack.push_async_callback(db.close)
        try:
            async with db.schema_lock():
                await ensure_schema(db)
                await db.execute(f"CREATE SCHEMA IF NOT EXISTS {HISTORY_SCHEMA}")
                checkpointer = LeanPostgresSaver(db.pool, serde=_serializer(checkpointed))
                await checkpointer.setup()
                history_db = await PostgresDatabase.open(
                    url, busy_timeout=settings.db_timeout, max_size=3, search_path=HISTORY_SCHEMA
                )
                stack.push_async_callback(history_db.close)
                await ensure_history_schema(history_db)
                store = None
                if settings.memory:
                    store = AsyncPostgresStore(db.pool)
                    await store.setup()
                    stack.push_async_callback(stop_store, store)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise setup_refused(exc, url) from None
        yield db, checkpointer, history_db, None, store
