"""``LeanPostgresSaver`` writes exactly the rows LangGraph's own PostgreSQL saver writes, in
one statement a write; a graph checkpointed by it pauses and resumes as with the library's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypedDict

import psycopg
import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from assistant.storage.checkpoints import LeanPostgresSaver
from fakes.postgres import TempPostgres

RAW = bytes(range(256)) + b"\x00\\x00'\"}{,"
"""Every byte value, then what array and JSON literals would need escaped."""

TABLES = {
    "checkpoints": "thread_id, checkpoint_ns, checkpoint_id",
    "checkpoint_blobs": "thread_id, checkpoint_ns, channel, version",
    "checkpoint_writes": "thread_id, checkpoint_ns, checkpoint_id, task_id, idx",
}


async def _pool(url: str) -> Any:
    pool: Any = AsyncConnectionPool(
        url,
        min_size=1,
        max_size=2,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
    )
    await pool.open()
    return pool


@pytest.fixture
async def savers(postgres_server: TempPostgres) -> AsyncIterator[tuple[Any, Any, str, str]]:
    """The library's saver and ours, each on a fresh database, and their URLs."""
    urls = [postgres_server.create_database(), postgres_server.create_database()]
    pools = [await _pool(url) for url in urls]
    library, lean = AsyncPostgresSaver(pools[0]), LeanPostgresSaver(pools[1])
    await library.setup()
    await lean.setup()
    try:
        yield library, lean, urls[0], urls[1]
    finally:
        for pool in pools:
            await pool.close()


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in TABLES.items()
        }


def _checkpoint(checkpoint_id: str, step: int, messages: list[Any]) -> Any:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = checkpoint_id
    checkpoint["ts"] = "2026-11-22T07:00:00+00:00"
    checkpoint["channel_values"] = {
        "messages": messages,  # a blob
        "title": "Tides",  # kept in the row
        "count": step,
        "share": 0.5,
        "nothing": None,
        "branch:to:model": None,
        "raw": RAW,  # a blob of bytes that are no text
    }
    versions = {"messages": f"{step:032}.1", "title": "1", "count": "2", "raw": "1"}
    checkpoint["channel_versions"] = versions
    return checkpoint


async def _same_calls(saver: Any) -> None:
    config: Any = {"configurable": {"thread_id": "t-1", "checkpoint_ns": ""}}
    first = await saver.aput(
        config,
        _checkpoint("1f0-a", 1, [HumanMessage("How do tides work?", id="m1")]),
        {"source": "input", "step": -1, "parents": {}},
        {"messages": "00000000000000000000000000000001.1", "title": "1", "count": "2"},
    )
    answer = [AIMessage("The moon.", id="m2")]
    await saver.aput_writes(first, [("messages", answer), ("branch:to:model", None)], "task-a")
    # the same task's ordinary writes again (a retried step): kept as first written
    await saver.aput_writes(first, [("messages", [AIMessage("Other", id="m3")])], "task-a")
    # special writes replace their kind's last one
    await saver.aput_writes(first, [("__interrupt__", ["asked once"])], "task-b")
    await saver.aput_writes(first, [("__interrupt__", ["asked again"])], "task-b")
    await saver.aput_writes(first, [], "task-c")
    # any bytes at all, a channel named with quotes and a non-ASCII letter
    await saver.aput_writes(first, [('raw "ü"', RAW)], "task-d")
    second = await saver.aput(
        first,
        _checkpoint("1f0-b", 2, [HumanMessage("How do tides work?", id="m1")]),
        {"source": "loop", "step": 0, "parents": {}, "note": "ü \u2028 'quoted'"},
        {"messages": "00000000000000000000000000000002.1", "raw": "1"},  # what changed
    )
    assert second == {
        "configurable": {"thread_id": "t-1", "checkpoint_ns": "", "checkpoint_id": "1f0-b"}
    }
    # the same checkpoint again (an update): the row is replaced, the blob kept
    await saver.aput(
        first,
        _checkpoint("1f0-b", 2, [HumanMessage("changed", id="m9")]),
        {"source": "update", "step": 0, "parents": {}},
        {"messages": "00000000000000000000000000000002.1"},
    )


async def test_the_lean_saver_writes_the_rows_the_library_writes(savers: Any) -> None:
    library, lean, library_url, lean_url = savers
    await _same_calls(library)
    await _same_calls(lean)
    expected, got = _rows(library_url), _rows(lean_url)
    assert got == expected
    assert len(got["checkpoints"]) == 2
    assert len(got["checkpoint_blobs"]) == 3  # two of messages, one of raw
    assert len(got["checkpoint_writes"]) == 4  # two of task-a, an interrupt of task-b, task-d's
    # and reading through the library's code gives the same
    config: Any = {"configurable": {"thread_id": "t-1", "checkpoint_ns": ""}}
    read = [await saver.aget_tuple(config) for saver in (library, lean)]
    assert read[0] is not None and read[1] is not None
    assert read[1].checkpoint == read[0].checkpoint
    assert read[1].pending_writes == read[0].pending_writes
    assert read[1].parent_config == read[0].parent_config


class _State(TypedDict):
    asked: str
    answer: str


def _ask(state: _State) -> dict[str, str]:
    return {"answer": interrupt({"question": state["asked"]})}


async def test_a_graph_on_the_lean_saver_pauses_and_resumes(savers: Any) -> None:
    _, lean, _, _ = savers
    builder = StateGraph(_State)
    builder.add_node("ask", _ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    graph = builder.compile(checkpointer=lean)
    config: Any = {"configurable": {"thread_id": "g-1"}}
    paused = await graph.ainvoke({"asked": "Approve?", "answer": ""}, config, durability="sync")
    assert paused["__interrupt__"][0].value == {"question": "Approve?"}
    state = await graph.aget_state(config)
    assert state.next == ("ask",)
    done = await graph.ainvoke(Command(resume="yes"), config, durability="sync")
    assert done == {"asked": "Approve?", "answer": "yes"}
    history = [snapshot async for snapshot in graph.aget_state_history(config)]
    assert [snapshot.metadata["source"] for snapshot in history if snapshot.metadata] == [
        "loop",
        "loop",
        "input",
    ]
