"""LangGraph's PostgreSQL checkpointer, each write in one statement.

``AsyncPostgresSaver`` (langgraph-checkpoint-postgres 3.x) writes a checkpoint as a
pipeline: one ``INSERT`` per changed channel's blob, then the checkpoint's row, then a
sync; and a step's writes as one ``INSERT`` per write. In pipeline mode psycopg takes one
trip through the event loop for every statement it queues, and the rows are serialised in a
worker thread first (``asyncio.to_thread``). A chat turn makes three checkpoints and two sets
of writes, so that came to about a seventh of the chat server's CPU under many
conversations (py-spy, figure 3c of ``make bench``), and as many statements for
PostgreSQL to parse and plan.

``LeanPostgresSaver`` writes the same rows into the same tables (``setup``, the readers and
the deletes are the library's), each write as one statement: the blobs go in as rows of one
JSON parameter (``jsonb_to_recordset``, each blob in base64) in a data-modifying ``WITH`` in
front of the checkpoint's row, atomic as the pipeline's implicit transaction was; a step's
writes are one ``INSERT ... SELECT`` from such rows. One JSON parameter, not four arrays:
psycopg works out and builds an array's dumper in Python for every list on every call,
which took a third of these methods' CPU; one JSON text is encoded in C (client CPU of a
checkpoint and its writes, measured alone: 0.43-0.47 ms as arrays, 0.34-0.36 ms as JSON).

The rows are serialised on the event loop: the serialiser holds the interpreter either way,
and the hop to a thread cost more than the work for a chat's state.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres import _ainternal
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from psycopg.types.json import Jsonb

PUT_CHECKPOINT_SQL = """
WITH blobs AS (
    INSERT INTO checkpoint_blobs (thread_id, checkpoint_ns, channel, version, type, blob)
    SELECT %(thread_id)s, %(checkpoint_ns)s, b.channel, b.version, b.type,
        decode(b.blob, 'base64')
    FROM jsonb_to_recordset(%(blobs)s) AS b(channel text, version text, type text, blob text)
    ON CONFLICT (thread_id, checkpoint_ns, channel, version) DO NOTHING
)
INSERT INTO checkpoints
    (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, checkpoint, metadata)
VALUES (%(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(parent_id)s, %(checkpoint)s,
    %(metadata)s)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id)
DO UPDATE SET checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata
"""

_WRITES_SQL = """
INSERT INTO checkpoint_writes
    (thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel, type, blob)
SELECT %(thread_id)s, %(checkpoint_ns)s, %(checkpoint_id)s, %(task_id)s, %(task_path)s,
    w.idx, w.channel, w.type, decode(w.blob, 'base64')
FROM jsonb_to_recordset(%(writes)s) AS w(idx integer, channel text, type text, blob text)
ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
"""
UPSERT_WRITES_SQL = (
    _WRITES_SQL
    + "DO UPDATE SET channel = EXCLUDED.channel, type = EXCLUDED.type, blob = EXCLUDED.blob"
)
"""Special writes (an error, an interrupt, a resume) replace their kind's last one."""
INSERT_WRITES_SQL = _WRITES_SQL + "DO NOTHING"
"""Ordinary writes are kept as first written (a retried step does not change them)."""


def _base64(blob: bytes | None) -> str | None:
    """A blob as the JSON rows carry it (PostgreSQL's ``decode(..., 'base64')`` undoes it)."""
    return None if blob is None else base64.b64encode(blob).decode("ascii")


class LeanPostgresSaver(AsyncPostgresSaver):
    """``AsyncPostgresSaver`` whose ``aput`` and ``aput_writes`` are one statement each."""

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save ``checkpoint`` and the blobs of its channels that changed (``new_versions``)."""
        configurable = config["configurable"]
        thread_id = configurable["thread_id"]
        checkpoint_ns = configurable["checkpoint_ns"]
        copy = checkpoint.copy()
        values = copy["channel_values"] = dict(checkpoint["channel_values"])
        # as the library does: primitive values stay in the checkpoint's row, the others
        # become blobs (a delta channel's snapshot leaves a marker behind)
        blob_values: dict[str, Any] = {}
        for channel, value in checkpoint["channel_values"].items():
            if isinstance(value, _DeltaSnapshot):
                blob_values[channel] = values.pop(channel)
                values[channel] = True
            elif value is not None and not isinstance(value, str | int | float | bool):
                blob_values[channel] = values.pop(channel)
        blobs: list[dict[str, str | None]] = []
        for channel, version in new_versions.items():
            if channel not in blob_values:
                continue
            kind, blob = self.serde.dumps_typed(blob_values[channel])
            blobs.append(
                {"channel": channel, "version": str(version), "type": kind, "blob": _base64(blob)}
            )
        params = {
            "thread_id": thread_id,
            "checkpoint_ns": checkpoint_ns,
            "checkpoint_id": checkpoint["id"],
            "parent_id": configurable.get("checkpoint_id"),
            "checkpoint": Jsonb(copy),
            "metadata": Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
            "blobs": Jsonb(blobs),
        }
        async with self.lock, _ainternal.get_connection(self.conn) as conn:
            await conn.execute(PUT_CHECKPOINT_SQL, params, prepare=True)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": checkpoint_ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's ``writes`` against the checkpoint of ``config``."""
        if not writes:
            return
        special = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        rows: list[dict[str, Any]] = []
        for n, (channel, value) in enumerate(writes):
            kind, blob = self.serde.dumps_typed(value)
            idx = WRITES_IDX_MAP.get(channel, n)
            rows.append({"idx": idx, "channel": channel, "type": kind, "blob": _base64(blob)})
        configurable = config["configurable"]
        params = {
            "thread_id": configurable["thread_id"],
            "checkpoint_ns": configurable["checkpoint_ns"],
            "checkpoint_id": configurable["checkpoint_id"],
            "task_id": task_id,
            "task_path": task_path,
            "writes": Jsonb(rows),
        }
        sql = UPSERT_WRITES_SQL if special else INSERT_WRITES_SQL
        async with self.lock, _ainternal.get_connection(self.conn) as conn:
            await conn.execute(sql, params, prepare=True)
