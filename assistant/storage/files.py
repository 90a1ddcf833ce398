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
    role: str = "file"
    """What it is to the conversation: a ``report``, an ``export`` of one, a ``document``."""


_COLUMNS = "file_key, thread_id, owner, name, mime, data, role"


def _stored(row: tuple[object, ...]) -> StoredFile:
    key, thread_id, owner, name, mime, data, role = row
    return StoredFile(
        str(key),
        None if thread_id is None else str(thread_id),
        str(owner),
        str(name),
        str(mime),
        bytes(data),  # type: ignore[call-overload]
        str(role),
    )


class FileStore:
    """Files on one database."""

    def __init__(self, db: Database) -> None:
        """Use the ``files`` table of ``db``."""
        self.db = db

    async def put(self, stored: StoredFile) -> None:
        """Store (or replace) ``stored`` under its key."""
        await self.db.execute(
            "INSERT INTO files (file_key, thread_id, owner, name, mime, size, data, created_at, "
            "role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (file_key) DO UPDATE SET "
            "thread_id = excluded.thread_id, owner = excluded.owner, name = excluded.name, "
            "mime = excluded.mime, size = excluded.size, data = excluded.data, "
            "role = excluded.role",
            (
                stored.key,
                stored.thread_id,
                stored.owner,
                stored.name,
                stored.mime,
                len(stored.data),
                stored.data,
                time.time(),
                stored.role,
            ),
        )

    async def get(self, key: str, owner: str) -> StoredFile | None:
        """The file ``key`` if it belongs to ``owner``."""
        row = await self.db.fetchone(
            f"SELECT {_COLUMNS} FROM files WHERE file_key = ? AND owner = ?", (key, owner)
        )
        return _stored(row) if row is not None else None

    async def of_thread(self, thread_id: str, owner: str, role: str) -> list[StoredFile]:
        """``owner``'s files of ``role`` in the thread, oldest first."""
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM files WHERE thread_id = ? AND owner = ? AND role = ? "
            "ORDER BY created_at",
            (thread_id, owner, role),
        )
        return [_stored(row) for row in rows]

    async def names(self, thread_id: str, owner: str, role: str) -> list[str]:
        """The names of ``owner``'s files of ``role`` in the thread, oldest first (no data)."""
        rows = await self.db.fetchall(
            "SELECT name FROM files WHERE thread_id = ? AND owner = ? AND role = ? "
            "ORDER BY created_at",
            (thread_id, owner, role),
        )
        return [str(row[0]) for row in rows]

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
