"""Where state lives: LangGraph checkpoints and the assistant's own tables, both SQLite.

``checkpoints.sqlite`` holds LangGraph's checkpoints (conversation state, pending
approvals). ``assistant.sqlite`` holds what must outlive a crash between checkpoints:
every research section the moment its worker finishes, and the thread index. Both use
WAL and a busy timeout so two processes can share a data directory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

if TYPE_CHECKING:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver


async def connect(path: Path, busy_timeout: float = 10.0) -> aiosqlite.Connection:
    """Open ``path`` in WAL mode, waiting up to ``busy_timeout`` s for other processes' locks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(path, timeout=busy_timeout)
    await conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("PRAGMA synchronous=NORMAL")
    return conn


async def open_checkpointer(path: Path, busy_timeout: float = 10.0) -> AsyncSqliteSaver:
    """An ``AsyncSqliteSaver`` on ``path``; close it with ``await saver.conn.close()``."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    saver = AsyncSqliteSaver(await connect(path, busy_timeout))
    await saver.setup()
    return saver


@dataclass(frozen=True)
class ThreadInfo:
    """One saved conversation or research run."""

    thread_id: str
    kind: str
    title: str
    created_at: float
    updated_at: float


_SCHEMA = """
CREATE TABLE IF NOT EXISTS threads (
    thread_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    owner TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS threads_updated ON threads(updated_at DESC);
CREATE TABLE IF NOT EXISTS sections (
    run_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, idx)
);
"""


class AppStore:
    """The thread index and the finished research sections."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        """Wrap an open connection; use ``AppStore.open`` to create one."""
        self.conn = conn

    @classmethod
    async def open(cls, path: Path, busy_timeout: float = 10.0) -> AppStore:
        """Open (and create if needed) the store at ``path``."""
        conn = await connect(path, busy_timeout)
        await conn.executescript(_SCHEMA)
        await conn.commit()
        return cls(conn)

    async def close(self) -> None:
        """Close the connection (an open aiosqlite connection keeps the process alive)."""
        await self.conn.close()

    async def touch_thread(
        self, thread_id: str, *, kind: str, title: str, owner: str | None = None
    ) -> None:
        """Record activity on a thread; the first call sets its title."""
        now = time.time()
        await self.conn.execute(
            "INSERT INTO threads (thread_id, kind, title, owner, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(thread_id) DO UPDATE SET updated_at = excluded.updated_at",
            (thread_id, kind, _title(title), owner, now, now),
        )
        await self.conn.commit()

    async def list_threads(self, limit: int = 50) -> list[ThreadInfo]:
        """Saved threads, most recently active first."""
        async with self.conn.execute(
            "SELECT thread_id, kind, title, created_at, updated_at FROM threads "
            "ORDER BY updated_at DESC LIMIT ?",
            (limit,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [ThreadInfo(*row) for row in rows]

    async def get_thread(self, thread_id: str) -> ThreadInfo | None:
        """One thread's index entry, if it exists."""
        async with self.conn.execute(
            "SELECT thread_id, kind, title, created_at, updated_at FROM threads "
            "WHERE thread_id = ?",
            (thread_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return ThreadInfo(*row) if row else None

    async def save_section(self, run_id: str, index: int, payload: dict[str, Any]) -> None:
        """Persist a finished section at once, so a crash never loses it."""
        await self.conn.execute(
            "INSERT OR REPLACE INTO sections (run_id, idx, payload, created_at) "
            "VALUES (?, ?, ?, ?)",
            (run_id, index, json.dumps(payload), time.time()),
        )
        await self.conn.commit()

    async def load_section(self, run_id: str, index: int) -> dict[str, Any] | None:
        """A section finished earlier in this run, if any."""
        async with self.conn.execute(
            "SELECT payload FROM sections WHERE run_id = ? AND idx = ?", (run_id, index)
        ) as cursor:
            row = await cursor.fetchone()
        return json.loads(row[0]) if row else None


def _title(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
