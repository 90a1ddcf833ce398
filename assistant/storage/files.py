"""Files of a conversation (research reports, exports, uploaded documents), in the database.

Kept as rows rather than loose files so that deleting a conversation removes them in the
same place as everything else, and so that any server process sharing the database can
serve a file another process stored. Every read names the owner: a file is only ever
returned to the person it belongs to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from assistant.storage.db import Database


@dataclass(frozen=True)
class StoredFile:
    """A file and what to serve it as."""

    key: str
    thread_id: str | None
    owner: str
    name: str
    mime: str
    data: bytes


class FileStore:
    """Files on one database."""

    def __init__(self, db: Database) -> None:
        """Use the ``files`` table of ``db``."""
        self.db = db

    async def put(self, stored: StoredFile) -> None:
        """Store (or replace) ``stored`` under its key."""
        await self.db.execute(
            "INSERT INTO files (file_key, thread_id, owner, name, mime, size, data, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (file_key) DO UPDATE SET "
            "thread_id = excluded.thread_id, owner = excluded.owner, name = excluded.name, "
            "mime = excluded.mime, size = excluded.size, data = excluded.data",
            (
                stored.key,
                stored.thread_id,
                stored.owner,
                stored.name,
                stored.mime,
                len(stored.data),
                stored.data,
                time.time(),
            ),
        )

    async def get(self, key: str, owner: str) -> StoredFile | None:
        """The file ``key`` if it belongs to ``owner``."""
        row = await self.db.fetchone(
            "SELECT file_key, thread_id, owner, name, mime, data FROM files "
            "WHERE file_key = ? AND owner = ?",
            (key, owner),
        )
        if row is None:
            return None
        key, thread_id, owner, name, mime, data = row
        return StoredFile(key, thread_id, owner, name, mime, bytes(data))

    async def delete(self, key: str) -> bool:
        """Remove one file; False if it was not there."""
        return bool(await self.db.execute("DELETE FROM files WHERE file_key = ?", (key,)))

    async def delete_thread(self, thread_id: str) -> None:
        """Remove every file of the thread."""
        await self.db.execute("DELETE FROM files WHERE thread_id = ?", (thread_id,))

    async def keys_of(self, thread_id: str) -> list[str]:
        """The keys of the thread's files."""
        rows = await self.db.fetchall(
            "SELECT file_key FROM files WHERE thread_id = ?", (thread_id,)
        )
        return [str(row[0]) for row in rows]
