"""Finished research sections are never redone: the section store answers for them."""

from __future__ import annotations

from assistant import approvals
from assistant.engine import Engine
from assistant.events import Progress, State
from assistant.storage import ThreadKind
from fakes.brain import WORKER_PROMPT
from fakes.openai_server import ScriptedOpenAI
from tests.support import OWNER, both_backends, collect, pending, values


@both_backends
async def test_worker_returns_a_section_saved_before_a_crash(
    engine: Engine, llm: ScriptedOpenAI
) -> None:
    await collect(engine.research("t", "tides", owner=OWNER))
    run_id = (await values(engine, "t", ThreadKind.RESEARCH))["run_id"]
    saved = {
        "index": 0,
        "name": "Part 1",
        "status": "ok",
        "text": "Saved before the crash [1].",
        "sources": [{"url": "https://example.test/saved", "title": "Saved source"}],
        "error": None,
        "removed": [],
    }
    await engine.storage.sections.save(run_id, "t", 0, saved)
    [asked] = await pending(engine, "t")
    llm.reset()
    events = await collect(
        engine.resume("t", {asked.interrupt_id: approvals.approve()}, owner=OWNER)
    )
    workers = [c for c in llm.calls if c.request.last_user.startswith(WORKER_PROMPT)]
    assert len(workers) == 2
    assert all("Section: Part 1\n" not in c.request.last_user for c in workers)
    boards = [e for e in events if isinstance(e, Progress)]
    # counted as kept from the start, and named so
    assert boards[0].items[0].state is State.KEPT
    assert boards[0].finished >= 1
    report = (await values(engine, "t", ThreadKind.RESEARCH))["report"]
    assert "Saved before the crash [1]." in report
    assert "[1] Saved source — https://example.test/saved" in report
