"""The research graph's nodes with in-process fakes: a model answering by structure and a
search provider in memory. (End-to-end runs over HTTP are in test_research.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from assistant import approvals
from assistant.context import RunContext
from assistant.events import Activity, Document, Progress, State
from assistant.research.graph import LiveRuns, build_research_graph
from assistant.research.schemas import Plan, SectionPlan
from assistant.research.worker import Sources
from assistant.storage import FileStore, SectionStore, SqliteDatabase, ensure_schema
from fakes.chat_model import FakeModels, StructuredFake
from tools.search import RateLimiter, SearchResult, SearchSession

PLAN = {
    "title": "Tides",
    "sections": [
        {"name": f"Part {n}", "description": f"Aspect {n}.", "queries": [f"tides {n}"]}
        for n in (1, 2, 3)
    ],
}
THREAD: Any = {"configurable": {"thread_id": "t"}}


class MemorySearch:
    """A search provider in memory: two results per query."""

    name = "memory"

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        self.queries.append(query)
        return [
            SearchResult(
                f"https://example.test/{query.replace(' ', '-')}/{n}", f"{query} {n}", "facts"
            )
            for n in (1, 2)
        ]


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[tuple[SectionStore, FileStore]]:
    db = await SqliteDatabase.open(tmp_path / "assistant.sqlite")
    await ensure_schema(db)
    try:
        yield SectionStore(db), FileStore(db)
    finally:
        await db.close()


def graph(
    stores: tuple[SectionStore, FileStore], model: StructuredFake, search: MemorySearch
) -> tuple[Any, LiveRuns]:
    async def sources(thread_id: str, owner: str, web: bool) -> Sources:
        return Sources(SearchSession(search, limiter=RateLimiter(1000, burst=10)), None)

    runs = LiveRuns(sources)
    compiled = build_research_graph(
        models=FakeModels(model),  # type: ignore[arg-type]
        sections=stores[0],
        files=stores[1],
        runs=runs,
        checkpointer=InMemorySaver(),
    )
    return compiled, runs


def fake() -> StructuredFake:
    return StructuredFake(
        text="Findings [1][2].",
        shapes={"Plan": PLAN, "Introduction": {"introduction": "About tides."}},
    )


async def run(compiled: Any, payload: Any) -> list[Any]:
    events = []
    async for _mode, data in compiled.astream(
        payload,
        THREAD,
        # Claims are checked in test_verify and end to end; here the fake has no verifier.
        context=RunContext(owner="alice", verify="off"),
        stream_mode=["custom", "updates"],
    ):
        events.append(data)
    return events


START_RUN = {
    "topic": "tides",
    "run_id": "r1",
    "thread_id": "t",
    "call_id": "c1",
    "needs_review": True,
}


def state_plan_text(state: Any) -> str:
    """The plan as the pending question shows it."""
    return str(state.interrupts[0].value["action_requests"][0]["description"])


async def test_the_plan_is_made_by_structured_output_and_shown_as_a_step(
    stores: tuple[SectionStore, FileStore],
) -> None:
    model = fake()
    compiled, _ = graph(stores, model, MemorySearch())
    events = await run(compiled, START_RUN)
    steps = [e for e in events if isinstance(e, Activity)]
    assert [s.title for s in steps] == ["Planning", "Plan"]
    assert steps[-1].state is State.DONE and "see the plan below" in steps[-1].text
    assert "**Part 2**" in state_plan_text(await compiled.aget_state(THREAD))
    assert model.requests[0]["forced"] == "Plan"
    state = await compiled.aget_state(THREAD)
    assert isinstance(state.values["plan"], Plan)
    assert state.interrupts[0].value["action_requests"][0]["args"]["title"] == "Tides"


async def test_a_plan_with_too_few_sections_is_asked_for_again(
    stores: tuple[SectionStore, FileStore],
) -> None:
    shapes = iter([{**PLAN, "sections": PLAN["sections"][:1]}, PLAN])
    model = StructuredFake(shapes={"Plan": lambda: next(shapes)})
    compiled, _ = graph(stores, model, MemorySearch())
    await run(compiled, START_RUN)
    assert [r["forced"] for r in model.requests] == ["Plan", "Plan"]
    assert len((await compiled.aget_state(THREAD)).values["plan"].sections) == 3


async def test_an_edited_plan_with_its_title_is_what_gets_written(
    stores: tuple[SectionStore, FileStore],
) -> None:
    search = MemorySearch()
    compiled, runs = graph(stores, fake(), search)
    await run(compiled, START_RUN)
    [asked] = (await compiled.aget_state(THREAD)).interrupts
    edited = {
        "title": "My own title",
        "sections": [{"name": "Only", "description": "One.", "queries": ["moon"]}],
    }
    events = await run(compiled, Command(resume={asked.id: approvals.edit("research", edited)}))
    [document] = [e for e in events if isinstance(e, Document)]
    assert document.title == "My own title"
    assert document.markdown.startswith("# My own title")
    assert [f.name for f in document.files] == [
        "my-own-title.md",
        "my-own-title.pdf",
        "my-own-title.docx",
    ]
    stored = await stores[1].get(document.files[0].key, "alice")
    assert stored is not None and stored.data.decode() == document.markdown
    assert search.queries == ["moon"]
    assert len(runs) == 0


async def test_a_rejected_plan_ends_without_searching(
    stores: tuple[SectionStore, FileStore],
) -> None:
    search = MemorySearch()
    compiled, _ = graph(stores, fake(), search)
    await run(compiled, START_RUN)
    [asked] = (await compiled.aget_state(THREAD)).interrupts
    await run(compiled, Command(resume={asked.id: approvals.reject("no")}))
    values = (await compiled.aget_state(THREAD)).values
    assert values["status"] == "rejected" and values["reject_reason"] == "no"
    assert search.queries == []


async def test_feedback_makes_revision_two(stores: tuple[SectionStore, FileStore]) -> None:
    model = fake()
    compiled, _ = graph(stores, model, MemorySearch())
    await run(compiled, START_RUN)
    [asked] = (await compiled.aget_state(THREAD)).interrupts
    events = await run(compiled, Command(resume={asked.id: approvals.respond("more moon")}))
    assert [e.title for e in events if isinstance(e, Activity)][-1] == "Plan, revision 2"
    [again] = (await compiled.aget_state(THREAD)).interrupts
    assert again.value["revision"] == 2 and again.value["title"] == "Research plan (revision 2)"


async def test_a_saved_section_is_returned_not_written_again(
    stores: tuple[SectionStore, FileStore],
) -> None:
    model = fake()
    compiled, _ = graph(stores, model, MemorySearch())
    saved = {
        "index": 1,
        "name": "Part 2",
        "status": "ok",
        "text": "From before [1].",
        "sources": [{"url": "https://example.test/kept", "title": "Kept"}],
        "error": None,
        "removed": [],
    }
    await stores[0].save("r1", "t", 1, saved)
    events = await run(compiled, {**START_RUN, "needs_review": False})
    writers = [r for r in model.requests if r["forced"] is None]
    assert len(writers) == 2  # Part 1 and Part 3 only
    boards = [e for e in events if isinstance(e, Progress)]
    assert boards[0].items[1].state is State.KEPT
    assert boards[-1].items[1].state is State.KEPT and boards[-1].finished == 3
    [document] = [e for e in events if isinstance(e, Document)]
    assert "From before [" in document.markdown


async def test_a_failed_search_becomes_a_missing_section_with_its_reason(
    stores: tuple[SectionStore, FileStore],
) -> None:
    from tools.search import SearchUnavailable

    class Down(MemorySearch):
        async def search(self, query: str, max_results: int) -> list[SearchResult]:
            raise SearchUnavailable("memory", "the search is down")

    compiled, _ = graph(stores, fake(), Down())
    events = await run(compiled, {**START_RUN, "needs_review": False})
    [document] = [e for e in events if isinstance(e, Document)]
    assert document.markdown.count("This section is missing:** the search is down") == 3
    assert [i.state for i in [e for e in events if isinstance(e, Progress)][-1].items] == [
        State.FAILED
    ] * 3


def test_sections_keep_their_queries_short_and_few() -> None:
    section = SectionPlan(name=" A ", description=" b ", queries=["q1", "q2", "q3", "q4", " "])
    assert section.queries == ["q1", "q2", "q3"] and section.name == "A"
    with pytest.raises(ValueError):
        SectionPlan(name="", description="b", queries=["q"])


def test_the_fake_model_answers_by_structure_not_wording() -> None:
    model = StructuredFake(text="same")
    assert model.invoke("anything at all").content == "same"
    assert isinstance(model.invoke("x"), AIMessage)
