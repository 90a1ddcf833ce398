"""Finished research sections, saved the moment their worker finishes.

LangGraph loses the results of parallel workers that finished in a superstep a crash
interrupted (FIELD-NOTES): each section is therefore written here at once, keyed by its
run and index, and a re-run worker returns it instead of calling the model again.
"""

from __future__ import annotations

import json
import time
from typing import Any

from assistant.storage.db import Database


class SectionStore:
    """Saved sections on one database."""

    def __init__(self, db: Database) -> None:
        """Use the ``sections`` table of ``db``."""
        self.db = db

    async def save(self, run_id: str, thread_id: str, index: int, payload: dict[str, Any]) -> None:
        """Persist a finished section (replacing an earlier one of the same index)."""
        await self.db.execute(
            "INSERT INTO sections (run_id, idx, payload, created_at, thread_id) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, idx) DO UPDATE SET "
            "payload = excluded.payload, created_at = excluded.created_at",
            (run_id, index, json.dumps(payload), time.time(), thread_id),
        )

    async def load(self, run_id: str, index: int) -> dict[str, Any] | None:
        """A section finished earlier in this run, if any."""
        row = await self.db.fetchone(
            "SELECT payload FROM sections WHERE run_id = ? AND idx = ?", (run_id, index)
        )
        return json.loads(row[0]) if row else None

    async def indexes(self, run_id: str) -> set[int]:
        """The indexes of the sections saved for ``run_id``."""
        rows = await self.db.fetchall("SELECT idx FROM sections WHERE run_id = ?", (run_id,))
        return {int(row[0]) for row in rows}

    async def delete_thread(self, thread_id: str) -> None:
        """Remove every section of the thread's runs."""
        await self.db.execute("DELETE FROM sections WHERE thread_id = ?", (thread_id,))
