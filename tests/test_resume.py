"""Finished research sections are never redone: the section store answers for them."""

from __future__ import annotations

from assistant import approvals
from assistant.engine import Engine
from assistant.events import SectionDone
from fakes.openai_server import ScriptedOpenAI


async def test_worker_returns_a_section_saved_before_a_crash(
    engine: Engine, llm: ScriptedOpenAI
) -> None:
    events = [e async for e in engine.research_run("t", "tides")]
    run_id = (await engine.snapshot("t", kind="research")).values["run_id"]
    saved = {
        "index": 0,
        "name": "Part 1",
        "status": "ok",
        "text": "Saved before the crash [1].",
        "sources": [{"url": "https://example.test/saved", "title": "Saved source"}],
        "error": None,
        "removed": [],
    }
    await engine.store.save_section(run_id, 0, saved)
    pending = await engine.pending("t", kind="research")
    llm.reset()
    events = [
        e
        async for e in engine.resume(
            "t", {pending[0].interrupt_id: approvals.approve()}, kind="research"
        )
    ]
    workers = [c for c in llm.calls if c.request.last_user.startswith("You write one section")]
    assert len(workers) == 2
    assert all("Section: Part 1\n" not in c.request.last_user for c in workers)
    restored = [e for e in events if isinstance(e, SectionDone) and e.resumed]
    assert [e.name for e in restored] == ["Part 1"]
    report = (await engine.snapshot("t", kind="research")).values["report"]
    assert "Saved before the crash [1]." in report
    assert "[1] Saved source — https://example.test/saved" in report
