"""Long-term memory: kept per person in LangGraph's store, recalled into later conversations.

Against the scripted model server over HTTP: the model asks to ``remember``, and what the
next conversation's requests carry is read from what the server received.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from langgraph.store.base import SearchOp
from langgraph.store.memory import InMemoryStore

from assistant.context import Choices
from assistant.engine import Engine
from assistant.errors import InputError
from assistant.events import ToolFinished, Undo
from assistant.memory import MAX_MEMORY_CHARS, RECALL_COUNT, Memories, Memory
from assistant.storage import open_memory_store, stop_store
from fakes import local_settings
from fakes.openai_server import ScriptedOpenAI
from fakes.search_server import FakeSearch
from tests.support import OWNER, both_backends, chat, collect, of

FRENCH = "I prefer reports in French, at most two pages"


def system_text(call: Any) -> str:
    """Every system message of one chat request, joined."""
    return "\n".join(
        str(m.get("content")) for m in call.request.messages if m.get("role") == "system"
    )


def last_chat_call(llm: ScriptedOpenAI) -> Any:
    return [c for c in llm.calls if c.request.tools][-1]


@pytest.fixture
def make_engine(llm: ScriptedOpenAI, search: FakeSearch, data_dir: Path) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        return Engine.open(local_settings(llm, search, data_dir, **overrides))

    return make


@both_backends
async def test_what_is_remembered_in_one_conversation_reaches_the_next(
    engine: Engine, llm: ScriptedOpenAI
) -> None:
    events = await chat(engine, "t-1", f"remember that {FRENCH}")
    [kept] = [e for e in of(ToolFinished, events) if e.name == "remember"]
    assert kept.summary == f"Remembered: {FRENCH}"
    assert kept.undo is not None and kept.undo.kind == "memory"

    await chat(engine, "t-2", "hello again")
    assert FRENCH in system_text(last_chat_call(llm))
    [memory] = await engine.remembered(owner=OWNER)
    assert memory.text == FRENCH and memory.thread_id == "t-1"


async def test_the_research_planner_is_told_what_is_remembered(
    engine: Engine, llm: ScriptedOpenAI
) -> None:
    await chat(engine, "t-1", f"remember that {FRENCH}")
    await collect(
        engine.research("r-1", "ocean tides", owner=OWNER, choices=Choices.of(approve=[]))
    )
    [planner] = [c.request.last_user for c in llm.calls if c.request.schema_name == "Plan"]
    assert f"- {FRENCH}" in planner


@both_backends
async def test_one_persons_memories_never_reach_anothers_conversation(
    engine: Engine, llm: ScriptedOpenAI
) -> None:
    await chat(engine, "alice-1", f"remember that {FRENCH}", owner="alice")
    await chat(engine, "bob-1", "what do you know about me?", owner="bob")
    assert FRENCH not in system_text(last_chat_call(llm))
    assert await engine.remembered(owner="bob") == []
    assert [m.text for m in await engine.remembered(owner="alice")] == [FRENCH]
    gone = await engine.forget((await engine.remembered(owner="alice"))[0].id, owner="bob")
    assert gone is False  # bob cannot forget alice's memory either
    assert len(await engine.remembered(owner="alice")) == 1


@both_backends
async def test_undo_forget_and_clear(engine: Engine) -> None:
    events = await chat(engine, "t-1", "remember that my name is Ada")
    [kept] = [e for e in of(ToolFinished, events) if e.name == "remember"]
    assert kept.undo is not None
    assert await engine.undo(kept.undo, owner=OWNER) is True
    assert await engine.remembered(owner=OWNER) == []
    assert await engine.undo(Undo("memory", kept.undo.key), owner=OWNER) is False

    await chat(engine, "t-1", "remember that I work in oceanography")
    await chat(engine, "t-1", "remember that I like short answers")
    await chat(engine, "t-1", "remember that I like short answers")  # kept once
    assert len(await engine.remembered(owner=OWNER)) == 2
    assert await engine.clear_memories(owner=OWNER) == 2
    assert await engine.remembered(owner=OWNER) == []


@both_backends
async def test_deleting_a_conversation_keeps_its_memories(engine: Engine) -> None:
    await chat(engine, "t-1", f"remember that {FRENCH}")
    await engine.delete("t-1", owner=OWNER)
    assert [m.text for m in await engine.remembered(owner=OWNER)] == [FRENCH]


async def test_memory_off_offers_no_tool_and_keeps_nothing(
    make_engine: Callable[..., Any], llm: ScriptedOpenAI, data_dir: Path
) -> None:
    async with make_engine(memory=False) as engine:
        await chat(engine, "t-1", f"remember that {FRENCH}")
        assert "remember" not in last_chat_call(llm).request.tool_names
        with pytest.raises(InputError, match="ASSISTANT_MEMORY=off"):
            await engine.remembered(owner=OWNER)
    assert not (data_dir / "memory.sqlite").exists()


async def test_memories_are_recalled_by_words_then_newest_within_bounds(
    engine: Engine,
) -> None:
    memories = engine.memories
    assert memories is not None
    for n in range(12):
        await memories.add("carol", f"Likes topic number {n} about gardening")
        await asyncio.sleep(0.001)  # distinct creation times
    await memories.add("carol", "Writes in Portuguese about volcanoes")
    found = await memories.relevant("carol", "a report on volcanoes please")
    assert found[0].text == "Writes in Portuguese about volcanoes"
    assert len(found) == RECALL_COUNT
    newest = await memories.relevant("carol", "")
    assert newest[0].text == "Writes in Portuguese about volcanoes"  # the newest first
    long = await memories.relevant("carol", "gardening", max_chars=80)
    assert sum(len(m.text) for m in long) <= 80
    with pytest.raises(InputError):
        await memories.add("carol", "   ")
    memory, _ = await memories.add("carol", "x" * (MAX_MEMORY_CHARS * 2))
    assert len(memory.text) <= MAX_MEMORY_CHARS


async def test_memories_are_found_by_meaning_with_an_embeddings_model(
    make_engine: Callable[..., Any], llm: ScriptedOpenAI
) -> None:
    async with make_engine(memory_embeddings="fake-embed") as engine:
        memories = engine.memories
        assert isinstance(memories, Memories) and memories.semantic
        for text in ("Has a dog named Rex", FRENCH, "Works night shifts at a hospital"):
            await memories.add(OWNER, text)
        found: list[Memory] = await memories.relevant(OWNER, "reports in which language?")
    assert found[0].text == FRENCH
    assert "reports in which language?" in llm.embedded  # the query went to /v1/embeddings
    assert FRENCH in llm.embedded  # and so did the memory when it was kept


class _CountingStore(InMemoryStore):
    """LangGraph's in-memory store, counting the batches read from it."""

    reads = 0

    async def abatch(self, ops: Any) -> Any:
        ops = list(ops)
        self.reads += sum(isinstance(op, SearchOp) for op in ops)
        return await super().abatch(ops)


async def test_a_read_ahead_is_taken_once_and_never_outlives_a_write_or_its_block() -> None:
    store = _CountingStore()
    memories = Memories(store)
    await memories.add("dan", "Likes maps")
    store.reads = 0

    with memories.read_ahead("dan"):
        await asyncio.sleep(0)  # the read runs meanwhile
        assert [m.text for m in await memories.newest("dan")] == ["Likes maps"]
        assert store.reads == 1  # the read ahead, taken by the first newest()
        assert [m.text for m in await memories.newest("dan")] == ["Likes maps"]
        assert store.reads == 2  # a second call reads again

    with memories.read_ahead("dan"):
        await asyncio.sleep(0)
        await memories.add("dan", "Writes in Welsh")  # the read ahead predates this
        assert {m.text for m in await memories.relevant("dan", "")} == {
            "Likes maps",
            "Writes in Welsh",
        }

    with memories.read_ahead("dan"):  # left without being taken: dropped, not kept
        await asyncio.sleep(0.01)
    other = Memories(store)  # another process, writing to the same store
    await other.add("dan", "Sails on Sundays")
    assert len(await memories.newest("dan")) == 3


async def test_a_read_stopped_half_way_leaves_the_memories_readable_and_writable(
    llm: ScriptedOpenAI, search: FakeSearch, data_dir: Path
) -> None:
    """A turn stopped while its memories are read (Stop, or a refused run dropping its read
    ahead) must not leave the SQLite store inside a transaction: its ``BEGIN`` runs in the
    connection's thread all the same, and every later read and write of memories would
    then fail ("cannot start a transaction within a transaction"), or never commit."""
    settings = local_settings(llm, search, data_dir)

    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[Any]:
        store = await open_memory_store(settings)
        try:
            yield store
        finally:
            await stop_store(store)
            await store.conn.close()

    async with opened() as store:
        memories = Memories(store)
        await memories.add("dan", "Likes maps")
        for _ in range(3):
            reading = asyncio.ensure_future(memories.newest("dan"))
            await asyncio.sleep(0)  # the read has sent its BEGIN to the connection's thread
            reading.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reading
        assert [m.text for m in await memories.newest("dan")] == ["Likes maps"]
        await memories.add("dan", "Writes in Welsh")
    async with opened() as store:  # what was written is committed: a new connection reads it
        assert {m.text for m in await Memories(store).newest("dan")} == {
            "Likes maps",
            "Writes in Welsh",
        }
