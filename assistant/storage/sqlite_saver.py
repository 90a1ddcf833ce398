"""LangGraph's SQLite checkpointer, its writes carried to their commit once begun.

``AsyncSqliteSaver`` (langgraph-checkpoint-sqlite 3.x) runs a write as statements on its
aiosqlite connection, then ``commit()``; each statement runs in the connection's thread
whether or not the coroutine that sent it is still waiting. A run stopped there (Stop, a
lost lease, a shutdown: LangGraph cancels the checkpoint it was waiting for) left the
statement done and its commit never sent: the connection stayed inside a transaction,
holding the write lock of ``checkpoints.sqlite``. Another process on the same data
directory (``assistant chat`` beside the UI) then waited for the lock and failed with
"database is locked", until this process's next checkpoint happened to commit it.

``SettledSqliteSaver`` runs each write to its end in a task of its own (``asyncio.shield``):
a run stopped meanwhile still stops, and the checkpoint it was writing is either whole or
not begun. Reads are the library's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver


class SettledSqliteSaver(AsyncSqliteSaver):
    """``AsyncSqliteSaver`` whose writes are not stopped half-way."""

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save a checkpoint (to its commit, even if the caller is cancelled)."""
        return await asyncio.shield(super().aput(config, checkpoint, metadata, new_versions))

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Save a step's writes (to their commit, even if the caller is cancelled)."""
        await asyncio.shield(super().aput_writes(config, writes, task_id, task_path))

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete the thread's checkpoints (to the commit, even if the caller is cancelled)."""
        await asyncio.shield(super().adelete_thread(thread_id))
