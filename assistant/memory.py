"""Long-term memory: what a person asked the assistant to keep, across conversations.

Memories live in LangGraph's store (``BaseStore``), under the namespace ``("memories",
owner)``: one person's memories are never read for another, and deleting a conversation
leaves them (only forgetting or clearing removes them). Each is a short text with when it
was kept and the conversation it came from.

``relevant`` picks the memories that matter for a message: by meaning when an embeddings
model is configured (``ASSISTANT_MEMORY_EMBEDDINGS``, a model the server offers at
``/v1/embeddings``: each memory's vector is kept with it, the query's compared by cosine),
otherwise, or when the embeddings call fails, by words (BM25, as research passages are
picked) with the newest first among equals; bounded in number and characters. The vectors are
compared here rather than in the store's vector index, so the same code works on SQLite (whose
vector extension many Python builds cannot load) and on PostgreSQL without pgvector.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from langchain_core.embeddings import Embeddings
from langgraph.store.base import BaseStore, Item, SearchOp

from assistant.errors import InputError
from assistant.text import brief
from assistant.turn_queue import waiting

log = logging.getLogger(__name__)

NAMESPACE = "memories"
REMEMBER = "remember"
"""The tool that keeps a memory."""
MAX_MEMORIES = 200
"""Memories one person may keep (a new one past this is refused, with a way out)."""
MAX_MEMORY_CHARS = 500
RECALL_COUNT = 8
RECALL_CHARS = 2_000
"""At most this many memories, and characters of them, reach one model call."""


@dataclass(frozen=True)
class Memory:
    """One kept fact or preference."""

    id: str
    text: str
    created_at: float
    thread_id: str = ""
    vector: tuple[float, ...] = ()
    """Its embedding, if an embeddings model was configured when it was kept."""


def _namespace(owner: str) -> tuple[str, str]:
    if not owner:
        raise ValueError("a memory needs an owner")
    return (NAMESPACE, owner)


def _memory(item: Item) -> Memory | None:
    value = item.value if isinstance(item.value, dict) else {}
    text = value.get("text")
    if not isinstance(text, str) or not text.strip():
        return None
    created = value.get("created_at")
    vector = value.get("vector")
    return Memory(
        item.key,
        text,
        float(created) if isinstance(created, int | float) else item.created_at.timestamp(),
        str(value.get("thread_id") or ""),
        tuple(float(v) for v in vector) if isinstance(vector, list) else (),
    )


def _normal(text: str) -> str:
    return " ".join(text.casefold().split()).rstrip(".!")


class Memories:
    """People's memories on one LangGraph store."""

    def __init__(self, store: BaseStore, *, embeddings: Embeddings | None = None) -> None:
        """``embeddings``: find memories by meaning with this model (None: by words)."""
        self.store = store
        self.embeddings = embeddings
        self._ahead: dict[str, asyncio.Task[list[Memory]]] = {}
        """Reads started by ``read_ahead``, by owner, until a ``newest`` takes them."""

    @property
    def semantic(self) -> bool:
        """Memories are found by meaning."""
        return self.embeddings is not None

    async def _embed(self, text: str) -> tuple[float, ...]:
        """``text``'s vector, or () if there is no model or it failed (logged)."""
        if self.embeddings is None:
            return ()
        try:
            async with waiting():  # another turn computes meanwhile
                return tuple(await self.embeddings.aembed_query(text))
        except Exception as exc:  # a memory is kept, and found by words, all the same
            log.warning("embedding a memory failed, finding memories by words: %s", exc)
            return ()

    @contextlib.contextmanager
    def read_ahead(self, owner: str) -> Iterator[None]:
        """Start reading ``owner``'s memories now, for a model call about to come.

        The read (several trips to the store's connection) then overlaps the run's other
        start-up (its lease, its checkpoint) instead of following it. Inside the block the
        first ``newest(owner)`` takes the result; on leaving, a result nobody took is
        dropped. A write to ``owner``'s memories drops it too: it may predate the write.
        """
        task = self._ahead.get(owner)
        if task is None:
            task = self._ahead[owner] = asyncio.ensure_future(self._read(owner))
        try:
            yield
        finally:
            self._drop_ahead(owner, task)

    def _drop_ahead(self, owner: str, task: asyncio.Task[list[Memory]] | None = None) -> None:
        """Forget ``owner``'s read ahead (only if it is ``task``, when given)."""
        current = self._ahead.get(owner)
        if current is None or (task is not None and current is not task):
            return
        del self._ahead[owner]
        if not current.done():
            current.cancel()
        elif not current.cancelled():
            current.exception()  # a failed read nobody took: not worth a warning

    async def newest(self, owner: str, limit: int = MAX_MEMORIES) -> list[Memory]:
        """``owner``'s memories, newest first."""
        ahead = self._ahead.pop(owner, None)
        found = await ahead if ahead is not None else await self._read(owner)
        return found[:limit]

    async def _read(self, owner: str) -> list[Memory]:
        """All of ``owner``'s memories from the store, newest first."""
        # ``abatch`` directly: the store's ``asearch`` queues the operation for a batching
        # task first, which costs more than the query itself on this per-turn path.
        # Shielded: a turn stopped meanwhile (or a read ahead dropped) must not stop the
        # read half-way. The SQLite store's ``BEGIN`` runs in its connection's thread all
        # the same, and stopped before its ``COMMIT`` it would leave the connection inside
        # a transaction: every later read and write of memories would fail, or never
        # commit. (Its writes go through the store's own batching task: not stopped.)
        [items] = await asyncio.shield(
            self.store.abatch([SearchOp(_namespace(owner), None, MAX_MEMORIES, 0, None)])
        )
        listed = items if isinstance(items, list) else []
        found = [m for item in listed if isinstance(item, Item) and (m := _memory(item))]
        found.sort(key=lambda m: m.created_at, reverse=True)
        return found

    async def add(self, owner: str, text: str, thread_id: str = "") -> tuple[Memory, bool]:
        """Keep ``text`` for ``owner``; ``(memory, False)`` if the same was already kept.

        Raises ``InputError`` for an empty text or when the person keeps too many.
        """
        text = " ".join(text.split())
        if not text:
            raise InputError("There is nothing to remember.")
        text = brief(text, MAX_MEMORY_CHARS)
        self._drop_ahead(owner)
        have = await self.newest(owner)
        for memory in have:
            if _normal(memory.text) == _normal(text):
                return memory, False
        if len(have) >= MAX_MEMORIES:
            raise InputError(
                f"You keep {MAX_MEMORIES} memories already, the most there can be: "
                "forget some first."
            )
        vector = await self._embed(text)
        memory = Memory(uuid.uuid4().hex[:12], text, time.time(), thread_id, vector)
        value: dict[str, object] = {
            "text": text,
            "created_at": memory.created_at,
            "thread_id": thread_id,
        }
        if vector:
            value["vector"] = list(vector)
        # index=False: the store's own vector index is not used (see the module docstring)
        await self.store.aput(_namespace(owner), memory.id, value, index=False)
        return memory, True

    async def forget(self, owner: str, memory_id: str) -> bool:
        """Remove one of ``owner``'s memories; False if it was not there."""
        namespace = _namespace(owner)
        self._drop_ahead(owner)
        if await self.store.aget(namespace, memory_id) is None:
            return False
        await self.store.adelete(namespace, memory_id)
        return True

    async def clear(self, owner: str) -> int:
        """Remove all of ``owner``'s memories; how many there were."""
        self._drop_ahead(owner)
        memories = await self.newest(owner)
        for memory in memories:
            await self.store.adelete(_namespace(owner), memory.id)
        return len(memories)

    async def relevant(
        self,
        owner: str,
        query: str,
        *,
        limit: int = RECALL_COUNT,
        max_chars: int = RECALL_CHARS,
    ) -> list[Memory]:
        """The memories that matter most for ``query``, within ``limit`` and ``max_chars``."""
        memories = await self.newest(owner)
        if not memories:
            return []
        wanted = await self._embed(query) if query.strip() else ()
        if wanted:
            ranked = _by_meaning(memories, wanted) + _by_words(
                [m for m in memories if len(m.vector) != len(wanted)], query
            )
        else:
            ranked = _by_words(memories, query)
        chosen: list[Memory] = []
        used = 0
        for memory in ranked:
            if len(chosen) >= limit or used + len(memory.text) > max_chars:
                continue
            chosen.append(memory)
            used += len(memory.text)
        return chosen


def _by_words(memories: Sequence[Memory], query: str) -> list[Memory]:
    """Memories sharing words with ``query`` first (BM25 score, then newest), then the rest,
    newest first: a preference stated once ("answers in French") applies to every request."""
    from tools.passages import bm25_scores

    if not memories:
        return []
    scores = bm25_scores(query, [m.text for m in memories]) if query.strip() else []
    scored = dict(zip((m.id for m in memories), scores, strict=False))
    return sorted(memories, key=lambda m: (-scored.get(m.id, 0.0), -m.created_at))


def _by_meaning(memories: Sequence[Memory], wanted: Sequence[float]) -> list[Memory]:
    """Memories with a vector like ``wanted``'s, most similar first (cosine)."""

    def cosine(vector: Sequence[float]) -> float:
        dot = sum(a * b for a, b in zip(vector, wanted, strict=True))
        norm = math.sqrt(sum(a * a for a in vector)) * math.sqrt(sum(b * b for b in wanted))
        return dot / norm if norm else 0.0

    comparable = [m for m in memories if len(m.vector) == len(wanted)]
    return sorted(comparable, key=lambda m: (-cosine(m.vector), -m.created_at))


def prompt_lines(memories: Sequence[Memory]) -> str:
    """Memories as the model reads them: one per line."""
    return "\n".join(f"- {m.text}" for m in memories)
