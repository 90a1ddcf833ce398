"""Chat history: Chainlit's SQLAlchemy data layer on SQLite, with its schema.

Chainlit does not create the tables of its SQLAlchemy layer, and a missing table or column
only logs a warning while nothing is saved. ``ensure_schema`` creates every table and adds
any column a newer Chainlit writes, so an old ``chainlit.sqlite`` is upgraded in place.
The columns are those Chainlit 2.12 writes: ``StepDict``, ``ElementDict``, ``Feedback`` and
the user and thread rows of ``chainlit/data/sql_alchemy.py``.

``OrderedDataLayer`` fixes the empty-output race: Chainlit persists ``send()`` and each
``update()`` of a step in separate background tasks, and the first write could land last.
Here the step writes of one conversation go through that conversation's lock, in the order
they were issued; different conversations write concurrently.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient


class OrderedDataLayer(SQLAlchemyDataLayer):
    """``SQLAlchemyDataLayer`` whose step writes are applied in the order they were issued."""

    def __init__(
        self, conninfo: str, storage_provider: BaseStorageClient | None, busy_timeout: float
    ) -> None:
        """Connect to ``conninfo`` (SQLite, waiting up to ``busy_timeout`` s for a lock)."""
        super().__init__(
            conninfo, connect_args={"timeout": busy_timeout}, storage_provider=storage_provider
        )
        self._writes: dict[str, tuple[asyncio.Lock, int]] = {}  # thread id -> (lock, users)
        self._saved_threads: set[str] = set()  # thread rows this process has upserted

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
        await super().update_thread(thread_id, name, user_id, metadata, tags)
        self._saved_threads.add(thread_id)  # only once the row is known to exist

    async def delete_thread(self, thread_id: str) -> None:
        """Delete the thread (a later step must create its row again)."""
        self._saved_threads.discard(thread_id)
        await super().delete_thread(thread_id)

    async def get_thread_author(self, thread_id: str) -> str:
        """The thread's owner, or "" for an unknown thread (so the HTTP API answers 404)."""
        try:
            return await super().get_thread_author(thread_id)
        except ValueError:
            return ""

    async def create_step(self, step_dict: Any) -> None:
        """Insert or update a step after every write issued before it (``update_step`` too).

        The thread's lock is taken before the first ``await``, and asyncio runs new tasks
        and wakes lock waiters in order, so a conversation's writes land in the order
        Chainlit created their tasks.
        """
        key = str(step_dict.get("threadId"))
        lock, users = self._writes.get(key, (asyncio.Lock(), 0))
        self._writes[key] = (lock, users + 1)
        try:
            async with lock:
                await super().create_step(step_dict)
        finally:
            lock, users = self._writes[key]
            if users == 1:
                del self._writes[key]
            else:
                self._writes[key] = (lock, users - 1)


def build_data_layer(
    path: Path, storage: BaseStorageClient, busy_timeout: float = 10.0
) -> OrderedDataLayer:
    """The data layer on the SQLite file ``path`` (its schema must exist)."""
    return OrderedDataLayer(f"sqlite+aiosqlite:///{path}", storage, busy_timeout)
