"""Chat history: Chainlit's SQLAlchemy data layer on the history database.

That database is ``chainlit.sqlite`` in the data directory, or with
``ASSISTANT_DATABASE_URL`` the PostgreSQL database everything else is in (its tables in the
schema ``chat_history``, reached through ``search_path``), so every server process sees
every conversation.

The schema is created and upgraded by the engine (``assistant.history``). Three changes to
Chainlit's layer:

- the empty-output race: Chainlit persists ``send()``, each ``update()`` and a removal of
  a step in separate background tasks, and the first write could land last. Here the step
  writes of one conversation go through that conversation's lock, in the order they were
  issued; different conversations write concurrently;
- deleting a conversation deletes all of it: ``on_delete`` hands it to the engine
  (checkpoints, decisions, sections, files), and on SQLite deleted rows are overwritten in
  the file (``secure_delete``); nothing is written for a deleted thread again (a window
  still open on it, in this process or another, would otherwise bring its row back);
- an unknown thread's author is "" (so the HTTP API answers 404, not 500).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import sqlalchemy
from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.data.utils import queue_until_user_message
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import sessionmaker

from assistant.storage import ThreadNotFound
from assistant.storage.postgres import HISTORY_SCHEMA, connect_kwargs
from assistant.ui.files import URL_PREFIX

log = logging.getLogger(__name__)

POOL_SIZE = 5
"""PostgreSQL: connections the history keeps per process (as many more under load)."""
OnDelete = Callable[[str, str], Awaitable[None]]
"""``(thread_id, owner)``: delete everything of the thread outside Chainlit's tables."""
IsDeleted = Callable[[str], Awaitable[bool]]
"""Whether a thread id was deleted (nothing may be written for it again)."""


class OrderedDataLayer(SQLAlchemyDataLayer):
    """``SQLAlchemyDataLayer`` whose step writes are applied in the order they were issued."""

    def __init__(
        self,
        conninfo: str,
        storage_provider: BaseStorageClient | None,
        busy_timeout: float,
        on_delete: OnDelete | None = None,
        is_deleted: IsDeleted | None = None,
        postgres_url: str | None = None,
    ) -> None:
        """Connect to ``conninfo``: SQLite, waiting up to ``busy_timeout`` s for a lock; or,
        given ``postgres_url`` (``conninfo`` is then its SQLAlchemy form), PostgreSQL."""
        connect_args = (
            connect_kwargs(postgres_url, busy_timeout, HISTORY_SCHEMA)
            if postgres_url
            else {"timeout": busy_timeout}
        )
        super().__init__(conninfo, connect_args=connect_args, storage_provider=storage_provider)
        self.on_delete = on_delete
        self.is_deleted = is_deleted
        self._deleted: set[str] = set()  # deleted thread ids seen by this process
        self._writes: dict[str, tuple[asyncio.Lock, int]] = {}  # thread id -> (lock, users)
        self._saved_threads: set[str] = set()  # thread rows this process has upserted
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
        """Upsert the thread row; a bare "make sure it exists" is done once per thread.

        Chainlit's ``create_step`` calls ``update_thread(thread_id)`` before every step
        write: an extra transaction per step, a quarter of the history's cost under load.
        """
        bare = (name, user_id, metadata, tags) == (None, None, None, None)
        if bare and thread_id in self._saved_threads:
            return
        if await self._gone(thread_id):
            return
        await super().update_thread(thread_id, name, user_id, metadata, tags)
        self._saved_threads.add(thread_id)  # only once the row is known to exist

    async def delete_thread(self, thread_id: str) -> None:
        """Delete the conversation: everything the engine keeps of it, then its history."""
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
        """Whether ``thread_id`` was deleted, here or by another process (``assistant
        delete``, another server): asked of the engine's thread index, a primary-key
        lookup, until the answer is yes."""
        if thread_id in self._deleted:
            return True
        if self.is_deleted is None:
            return False
        if await self.is_deleted(thread_id):
            self._deleted.add(thread_id)
            self._saved_threads.discard(thread_id)
            return True
        return False

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
        row = {k: v for k, v in element.to_dict().items() if v is not None}
        row["objectKey"] = unquote(url[len(URL_PREFIX) + 1 :])
        row.pop("props", None)
        columns = ", ".join(f'"{column}"' for column in row)
        values = ", ".join(f":{column}" for column in row)
        updates = ", ".join(f'"{column}" = :{column}' for column in row if column != "id")
        await self.execute_sql(
            query=f"INSERT INTO elements ({columns}) VALUES ({values}) "
            f"ON CONFLICT (id) DO UPDATE SET {updates};",
            parameters=row,
        )

    async def get_thread_author(self, thread_id: str) -> str:
        """The thread's owner, or "" for an unknown thread (so the HTTP API answers 404)."""
        try:
            return await super().get_thread_author(thread_id)
        except ValueError:
            return ""

    async def create_step(self, step_dict: Any) -> None:
        """Insert or update a step after every write issued before it (``update_step`` too).

        The thread's lock is taken before the first ``await`` (the check for a deletion
        runs under it), and asyncio runs new tasks and wakes lock waiters in order, so a
        conversation's writes land in the order Chainlit created their tasks.
        """
        thread_id = str(step_dict.get("threadId"))
        await self._in_order(thread_id, self._write_step(thread_id, step_dict))

    async def _write_step(self, thread_id: str, step_dict: Any) -> None:
        if not await self._gone(thread_id):
            await super().create_step(step_dict)

    async def delete_step(self, step_id: str) -> None:
        """Delete a step after every write issued before it (its creation included)."""
        from chainlit.context import context

        thread_id = str(getattr(context.session, "thread_id", "") or "")
        await self._in_order(thread_id, super().delete_step(step_id))

    async def _in_order(self, key: str, write: Awaitable[Any]) -> None:
        lock, users = self._writes.get(key, (asyncio.Lock(), 0))
        self._writes[key] = (lock, users + 1)
        try:
            async with lock:
                await write
        finally:
            lock, users = self._writes[key]
            if users == 1:
                del self._writes[key]
            else:
                self._writes[key] = (lock, users - 1)


def _overwrite_deleted_rows(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def build_data_layer(
    where: Path | str,
    storage: BaseStorageClient,
    busy_timeout: float = 10.0,
    on_delete: OnDelete | None = None,
    is_deleted: IsDeleted | None = None,
) -> OrderedDataLayer:
    """The data layer on the SQLite file ``where``, or on the PostgreSQL database whose
    ``postgresql://`` URL ``where`` is (its schema must exist: ``open_storage``)."""
    if isinstance(where, str) and where.startswith(("postgresql://", "postgres://")):
        conninfo = "postgresql+psycopg://" + where.split("://", 1)[1]
        return OrderedDataLayer(
            conninfo, storage, busy_timeout, on_delete, is_deleted, postgres_url=where
        )
    return OrderedDataLayer(
        f"sqlite+aiosqlite:///{where}", storage, busy_timeout, on_delete, is_deleted
    )
