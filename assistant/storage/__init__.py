"""Where state lives: LangGraph checkpoints and the assistant's own tables.

``open_storage`` opens both for a data directory (SQLite files, created 0600 in a 0700
directory) and closes them on exit. The assistant's tables: the thread index with owners,
leases and decisions (``threads``), finished research sections (``sections``), files
(``files``), sign-in sessions and failed sign-ins (``auth``); and the chat history the
browser shows (``history``, Chainlit's tables).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from assistant.history import ChatHistory, ensure_history_schema
from assistant.settings import Settings
from assistant.storage.auth import AuthStore, SessionPolicy, ThrottlePolicy
from assistant.storage.db import (
    Database,
    SqliteDatabase,
    connect_sqlite,
    private_dir,
    truncate_wal,
)
from assistant.storage.files import FileStore, StoredFile
from assistant.storage.schema import ensure_schema
from assistant.storage.sections import SectionStore
from assistant.storage.threads import (
    LOCAL_OWNER,
    AlreadyDecided,
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
    "FileStore",
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
    store: Any = None
    """LangGraph's store (long-term memories), or None when memory is off."""

    async def forget(self) -> None:
        """After a deletion: no log still holds what was deleted."""
        await self.db.flush_log()
        await self.history.db.flush_log()
        await truncate_wal(self.checkpointer.conn)
        if self.store is not None:
            await truncate_wal(self.store.conn)


async def open_checkpointer(settings: Settings, types: Sequence[type[Any]] = ()) -> Any:
    """LangGraph's checkpointer on ``checkpoints.sqlite``; close its ``conn`` when done.

    Only LangGraph's and LangChain's own types and ``types`` are revived from a checkpoint
    (an explicit allow-list: nothing else named in the data is ever imported).
    """
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    serde = JsonPlusSerializer(
        allowed_msgpack_modules=[(kind.__module__, kind.__qualname__) for kind in types]
    )
    conn = await connect_sqlite(settings.checkpoint_path, settings.db_timeout)
    saver = AsyncSqliteSaver(conn, serde=serde)
    await saver.setup()
    return saver


async def open_memory_store(settings: Settings) -> Any:
    """LangGraph's SQLite store on ``memory.sqlite``; close its ``conn`` when done."""
    from langgraph.store.sqlite.aio import AsyncSqliteStore

    conn = await connect_sqlite(settings.memory_path, settings.db_timeout, autocommit=True)
    store = AsyncSqliteStore(conn)
    await store.setup()
    return store


@contextlib.asynccontextmanager
async def open_storage(
    settings: Settings, checkpointed: Sequence[type[Any]] = ()
) -> AsyncIterator[Storage]:
    """Open (creating or upgrading) every store; close them all on exit.

    ``checkpointed``: the application's own types that graphs keep in their state.
    """
    await asyncio.to_thread(private_dir, settings.data_dir)  # never block the event loop
    async with contextlib.AsyncExitStack() as stack:
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
            store=store,
        )
