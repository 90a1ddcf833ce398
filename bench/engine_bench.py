"""Engine benchmarks: research fan-out, per-turn overhead, resume, CLI start-up."""

from __future__ import annotations

import dataclasses
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage

from assistant.context import Choices
from assistant.engine import Engine
from assistant.settings import Settings
from assistant.storage import LOCAL_OWNER, ThreadKind
from fakes import local_settings
from fakes.brain import UNSUPPORTED, Brain
from fakes.openai_server import ScriptedOpenAI
from fakes.search_server import FakeSearch

MODEL_LATENCY = 1.0
SEARCH_LATENCY = 0.2
PAGE_LATENCY = 0.3
SECTIONS = 8


def _settings(llm: ScriptedOpenAI, search: FakeSearch, data_dir: Path, **extra: Any) -> Settings:
    return local_settings(llm, search, data_dir, **extra)


async def _research_once(
    settings: Settings, max_parallel: int, thread: str, *, pages: Any = None
) -> float:
    async with Engine.open(settings) as engine:
        engine.models.get()  # a long-lived server has its client ready; imports are start-up
        if pages is not None:
            engine.pages = pages  # a warm process has read these pages before: share its cache
        started = time.perf_counter()
        choices = Choices.of(approve=[], max_parallel=max_parallel)
        async for _ in engine.research(thread, "tides", owner=LOCAL_OWNER, choices=choices):
            pass
        elapsed = time.perf_counter() - started
        result = await engine.research_result(thread, owner=LOCAL_OWNER)
        assert result is not None and result.report.count("\n## ") == SECTIONS + 1
    return elapsed


async def research_fanout() -> dict[str, Any]:
    """8 sections, 1 s per model call, 0.2 s per search, 0.3 s per page: wall time against the
    critical path (plan, search, read the pages, write, verify, introduction)."""
    with (
        ScriptedOpenAI(
            Brain(sections=SECTIONS, unsupported_claim=True), latency=MODEL_LATENCY
        ) as llm,
        # each result's page on a host of its own, as on the web (the reader's per-host
        # bound would otherwise queue all 24 pages of a report behind one address)
        FakeSearch(
            latency=SEARCH_LATENCY, page_latency=PAGE_LATENCY, page_hosts=SECTIONS * 3
        ) as search,
        tempfile.TemporaryDirectory() as tmp,
    ):
        settings = _settings(
            llm, search, Path(tmp), max_parallel=SECTIONS, fetch_allow="127.0.0.0/8"
        )
        cold = await _research_once(settings, SECTIONS, "cold")  # first run in this process
        llm.reset()
        search.clear()
        parallel = await _research_once(settings, SECTIONS, "warm")
        calls = list(llm.calls)
        pages = len(search.pages)
        serial = await _research_once(settings, 1, "serial")
    ideal = MODEL_LATENCY + SEARCH_LATENCY + PAGE_LATENCY + 3 * MODEL_LATENCY
    prompt = sum(c.usage.get("prompt_tokens", 0) for c in calls)
    completion = sum(c.usage.get("completion_tokens", 0) for c in calls)
    verifier = [c for c in calls if c.request.schema_name == "SectionVerdicts"]
    return {
        "sections": SECTIONS,
        "ideal_s": ideal,
        "parallel_s": round(parallel, 3),
        "cold_first_run_s": round(cold, 3),
        "cold_efficiency": round(ideal / cold, 3),
        "serial_s": round(serial, 3),
        "efficiency": round(ideal / parallel, 3),
        "speedup_vs_serial": round(serial / parallel, 2),
        "model_calls_per_run": len(calls),
        "verifier_calls_per_run": len(verifier),
        "pages_read_per_run": pages,
        "prompt_tokens_per_run": prompt,
        "completion_tokens_per_run": completion,
    }


async def verifier_share() -> dict[str, Any]:
    """The share of cited claims the verifier kept on the test set: every section of a
    report on each topic cites three claims its pages state and one none of them does."""
    topics = ["ocean tides", "solar sails", "coral reefs", "volcanic winters"]
    checked = supported = 0
    leaked = 0
    with (
        ScriptedOpenAI(Brain(sections=4, unsupported_claim=True)) as llm,
        FakeSearch() as search,
        tempfile.TemporaryDirectory() as tmp,
    ):
        settings = _settings(llm, search, Path(tmp))
        async with Engine.open(settings) as engine:
            for n, topic in enumerate(topics):
                thread = f"verify-{n}"
                choices = Choices.of(approve=[])
                async for _ in engine.research(thread, topic, owner=LOCAL_OWNER, choices=choices):
                    pass
                result = await engine.research_result(thread, owner=LOCAL_OWNER)
                assert result is not None
                found = re.search(r"Checked (\d+) cited claims: (\d+) supported", result.report)
                assert found is not None, "the report has no verification line"
                checked += int(found.group(1))
                supported += int(found.group(2))
                leaked += result.report.count(UNSUPPORTED)
    return {
        "reports": len(topics),
        "claims_checked": checked,
        "claims_kept": supported,
        "kept_share": round(supported / checked, 3),
        "expected_share": 0.75,
        "unsupported_claims_left": leaked,
    }


class _CallTimer(AsyncCallbackHandler):
    """Client-side duration of each model call: request built, sent, streamed, parsed."""

    def __init__(self) -> None:
        self.starts: dict[Any, float] = {}
        self.total = 0.0

    async def on_chat_model_start(
        self, serialized: Any, messages: Any, *, run_id: Any, **kwargs: Any
    ) -> None:
        self.starts[run_id] = time.perf_counter()

    async def on_llm_end(self, response: Any, *, run_id: Any, **kwargs: Any) -> None:
        self.total += time.perf_counter() - self.starts.pop(run_id, time.perf_counter())


async def _turns(
    engine: Engine, llm: ScriptedOpenAI, thread: str, turns: int, *, timed: bool = False
) -> tuple[list[float], list[float]]:
    """Per turn: ms above the server's time, and (``timed``) above the client's call time."""
    timer = _CallTimer()
    engine.models.get().callbacks = [timer] if timed else None
    above_server, above_client = [], []
    for i in range(turns):
        llm.reset()
        timer.total = 0.0
        started = time.perf_counter()
        async for _ in engine.chat(thread, f"hello number {i}", owner=LOCAL_OWNER):
            pass
        total = time.perf_counter() - started
        model = sum(c.finished - c.started for c in llm.calls)
        above_server.append((total - model) * 1000)
        above_client.append((total - timer.total) * 1000)
    return above_server, above_client


Row = tuple[str, str, Callable[[dict[str, Any]], Any], str, Callable[[dict[str, Any]], bool]]
"""A line of the table: figure, measure, value, target, whether the target is met."""


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def agent_overhead(turns: int = 200) -> dict[str, Any]:
    """Milliseconds per turn above the model's own time, SQLite vs in-memory checkpoints."""
    from langgraph.checkpoint.memory import InMemorySaver

    with (
        ScriptedOpenAI(Brain()) as llm,
        FakeSearch() as search,
        tempfile.TemporaryDirectory() as tmp,
    ):
        settings = _settings(llm, search, Path(tmp))
        async with Engine.open(settings) as engine:
            sqlite, _ = await _turns(engine, llm, "overhead", turns)
            size = settings.checkpoint_path.stat().st_size
            # A separate pass: the timing callback has a cost of its own.
            _, sqlite_client = await _turns(engine, llm, "overhead-timed", turns, timed=True)
            storage = dataclasses.replace(engine.storage, checkpointer=InMemorySaver())
            engine_memory = Engine(
                settings, storage, engine.search.client, model_http=engine.models.http
            )
            memory, _ = await _turns(engine_memory, llm, "overhead-mem", turns)
    return {
        "turns": turns,
        "sqlite_median_ms": round(statistics.median(sqlite), 2),
        "sqlite_p95_ms": round(percentile(sqlite, 0.95), 2),
        "sqlite_first20_median_ms": round(statistics.median(sqlite[:20]), 2),
        "sqlite_last20_median_ms": round(statistics.median(sqlite[-20:]), 2),
        "sqlite_median_beyond_client_ms": round(statistics.median(sqlite_client), 2),
        "memory_median_ms": round(statistics.median(memory), 2),
        "memory_p95_ms": round(percentile(memory, 0.95), 2),
        "checkpoint_file_mb": round(size / 1e6, 2),
    }


async def resume_state(messages: int = 500) -> dict[str, Any]:
    """Time to load the agent state of a thread holding ``messages`` messages."""
    with (
        ScriptedOpenAI(Brain()) as llm,
        FakeSearch() as search,
        tempfile.TemporaryDirectory() as tmp,
    ):
        settings = _settings(llm, search, Path(tmp))
        history = [
            (HumanMessage if i % 2 == 0 else AIMessage)(f"message {i} " + "words " * 40)
            for i in range(messages)
        ]
        async with Engine.open(settings) as engine:
            config: Any = {"configurable": {"thread_id": "long"}}
            await engine.graphs[ThreadKind.CHAT].aupdate_state(
                config, {"messages": history}, as_node="model"
            )
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            async with Engine.open(settings) as engine:  # a fresh process-like open each time
                snapshot = await engine.graphs[ThreadKind.CHAT].aget_state(config)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(snapshot.values["messages"]) == messages
    return {"messages": messages, "load_state_median_ms": round(statistics.median(timings), 2)}


def startup_help(runs: int = 5) -> dict[str, Any]:
    """Wall time of ``assistant --help`` in a fresh interpreter."""
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "assistant", "--help"], check=True, capture_output=True
        )
        timings.append(time.perf_counter() - started)
    return {"help_median_s": round(statistics.median(timings), 3)}
