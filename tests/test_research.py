"""The research workflow end to end: plan review, parallel workers, verified report.

Everything runs against the scripted model (``Brain``) and the loopback search server; the
assertions are about what a person sees: the approval request, the report and its sources.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from assistant.approvals import approve, edit, reject, respond
from assistant.context import Choices
from assistant.engine import Engine, new_thread_id
from assistant.events import Activity, ApprovalNeeded, Document, Event, Progress, State
from assistant.storage import ThreadKind
from fakes.brain import WORKER_PROMPT, Brain
from fakes.openai_server import (
    CallRecord,
    ChatRequest,
    HttpError,
    Json,
    Reply,
    ScriptedOpenAI,
    ToolCalls,
)
from fakes.search_server import FakeSearch, default_results
from tests.support import OWNER, cited_numbers, collect, pending
from tests.support import values as thread_values

TOPIC = "solar power"
NO_APPROVAL: dict[str, Any] = {"approve": []}
SOURCE_LINE = re.compile(r"^\[(\d+)\] (.+) — (\S+)$")
CHECKED = re.compile(r"^\*Checked \d+ cited claims?: .*\*$")
"""The verifier's closing line of a report."""


# --- helpers ------------------------------------------------------------------------------


async def start(
    engine: Engine, choices: dict[str, Any] | None = None, topic: str = TOPIC
) -> tuple[str, list[Event]]:
    """Start research on a fresh thread; return the thread id and the streamed events."""
    thread = new_thread_id()
    events = await collect(
        engine.research(thread, topic, owner=OWNER, choices=Choices.of(**(choices or {})))
    )
    return thread, events


async def answer(engine: Engine, thread: str, value: dict[str, Any]) -> list[Event]:
    """Answer the one pending approval of ``thread`` with ``value``."""
    [asked] = await pending(engine, thread)
    return await collect(engine.resume(thread, {asked.interrupt_id: value}, owner=OWNER))


async def values(engine: Engine, thread: str) -> dict[str, Any]:
    return await thread_values(engine, thread, ThreadKind.RESEARCH)


async def report_of(engine: Engine, thread: str) -> str:
    report = (await values(engine, thread)).get("report")
    assert isinstance(report, str), "no report was produced"
    return report


def approvals(events: list[Event]) -> list[ApprovalNeeded]:
    return [e for e in events if isinstance(e, ApprovalNeeded)]


def plan_args(approval: ApprovalNeeded) -> dict[str, Any]:
    return dict(approval.request.action.args)


def headings(report: str) -> list[str]:
    """Section headings (``## ``), without the Sources section."""
    found = [line[3:] for line in report.splitlines() if line.startswith("## ")]
    return [h for h in found if h != "Sources"]


def body(report: str) -> str:
    return report.split("\n## Sources", 1)[0]


def section_text(report: str, name: str) -> str:
    """The text under ``## name`` up to the next heading."""
    match = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", report, flags=re.M | re.S)
    assert match, f"no section {name!r} in the report"
    return match.group(1).strip()


def sources(report: str) -> list[tuple[int, str, str]]:
    """``(n, title, url)`` of each line of the ``## Sources`` section."""
    assert "\n## Sources\n" in report, "the report has no Sources section"
    tail = report.split("\n## Sources\n", 1)[1]
    lines = [line for line in tail.splitlines() if line.strip() and not CHECKED.match(line)]
    if lines == ["No sources were cited."]:
        return []
    parsed = []
    for line in lines:
        match = SOURCE_LINE.match(line)
        assert match, f"source line not in the form '[n] Title — URL': {line!r}"
        parsed.append((int(match.group(1)), match.group(2), match.group(3)))
    return parsed


def returned_urls(search: FakeSearch) -> set[str]:
    """Every URL the fake search handed out for the queries it received."""
    base = f"{search.url}/page"
    return {r["url"] for query, _, _ in search.requests for r in default_results(query, base)}


def is_worker(request: ChatRequest) -> bool:
    return request.last_user.startswith(WORKER_PROMPT)


def worker_calls(llm: ScriptedOpenAI) -> list[CallRecord]:
    return [c for c in llm.calls if is_worker(c.request)]


def plan_calls(llm: ScriptedOpenAI) -> list[CallRecord]:
    return [c for c in llm.calls if c.request.schema_name == "Plan"]


def max_in_flight(calls: list[CallRecord]) -> int:
    """The largest number of calls whose [started, finished] intervals overlap."""
    # At equal times an end sorts before a start: touching intervals do not overlap.
    points = sorted([(c.started, 1) for c in calls] + [(c.finished, -1) for c in calls])
    current = peak = 0
    for _, step in points:
        current += step
        peak = max(peak, current)
    return peak


def searched(search: FakeSearch) -> list[str]:
    return [query for query, _, _ in search.requests]


def custom_sections() -> list[dict[str, Any]]:
    return [
        {"name": "Costs Today", "description": "What it costs now.", "queries": ["solar cost"]},
        {"name": "Grid Risks", "description": "What can go wrong.", "queries": ["grid risk"]},
    ]


# --- plan review ----------------------------------------------------------------------------


async def test_plan_asks_for_approval_in_hitl_schema_before_any_search(
    engine: Engine, search: FakeSearch
) -> None:
    _, events = await start(engine)

    [asked] = approvals(events)
    action = asked.request.action
    assert action.name == "research"
    assert set(action.args) == {"title", "sections"}
    assert [s["name"] for s in action.args["sections"]] == ["Part 1", "Part 2", "Part 3"]
    assert f"Topic: *{TOPIC}*" in action.description
    config = asked.request.review_configs[0]
    assert config.allowed_decisions == ["approve", "edit", "reject", "respond"]
    assert config.args_schema is not None and "sections" in config.args_schema["properties"]
    assert search.requests == []
    # the plan step before the question is short: the question shows the plan in full
    [planned] = [e for e in events if isinstance(e, Activity) and e.state is State.DONE]
    assert planned.title == "Plan"
    assert planned.text == "3 sections, 3 web searches: see the plan below."


async def test_without_review_the_plan_step_shows_the_plan(engine: Engine) -> None:
    _, events = await start(engine, NO_APPROVAL)
    planned = next(e for e in events if isinstance(e, Activity) and e.title == "Plan")
    assert "**Part 1**" in planned.text


async def test_approved_plan_gives_report_with_verified_numbered_sources(
    engine: Engine, search: FakeSearch
) -> None:
    thread, events = await start(engine)
    plan = plan_args(approvals(events)[0])

    resumed = await answer(engine, thread, approve())

    state = await values(engine, thread)
    report = state["report"]
    assert state["status"] == "done"
    assert report.startswith("# ")
    assert headings(report) == [s["name"] for s in plan["sections"]]
    all_headings = [line for line in report.splitlines() if line.startswith("## ")]
    assert all_headings[-1] == "## Sources"

    listed = sources(report)
    assert listed, "the report lists no sources"
    assert [n for n, _, _ in listed] == list(range(1, len(listed) + 1))
    cited = cited_numbers(report)
    assert cited, "the report body cites nothing"
    assert cited <= set(range(1, len(listed) + 1))
    assert {url for _, _, url in listed} <= returned_urls(search)
    assert all(url.startswith(f"{search.url}/page/") for _, _, url in listed)

    in_order = [int(n) for n in re.findall(r"\[(\d+)\]", body(report))]
    first_seen = list(dict.fromkeys(in_order))
    assert first_seen == list(range(1, len(listed) + 1)), "sources not numbered by first use"

    stored = await engine.storage.files.get(state["report_file"], OWNER)
    assert stored is not None and stored.data.decode() == report
    assert stored.name == "a-report.md" and stored.thread_id == thread
    assert await engine.storage.files.get(state["report_file"], "someone-else") is None
    [ready] = [e for e in resumed if isinstance(e, Document)]
    assert ready.markdown == report
    key = state["report_file"]
    assert [f.key for f in ready.files] == [key, f"{key}.pdf", f"{key}.docx"]
    # the live board ends with every section done
    last = [e for e in resumed if isinstance(e, Progress)][-1]
    assert [item.state for item in last.items] == [State.DONE] * 3


async def test_rejected_plan_searches_nothing_and_writes_nothing(
    engine: Engine, search: FakeSearch, llm: ScriptedOpenAI
) -> None:
    thread, _ = await start(engine)

    events = await answer(engine, thread, reject("not useful"))

    state = await values(engine, thread)
    assert state["status"] == "rejected"
    assert "report" not in state
    assert not any(isinstance(e, Document) for e in events)
    assert search.requests == []
    assert worker_calls(llm) == []
    assert await pending(engine, thread) == []


async def test_edited_plan_is_what_gets_researched(engine: Engine, search: FakeSearch) -> None:
    thread, events = await start(engine)
    args = plan_args(approvals(events)[0])

    await answer(engine, thread, edit("research", {**args, "sections": custom_sections()}))

    report = await report_of(engine, thread)
    assert headings(report) == ["Costs Today", "Grid Risks"]
    assert sorted(searched(search)) == ["grid risk", "solar cost"]
    assert "Part 1" not in report


async def test_edit_reordering_and_renaming_planned_sections(
    engine: Engine, search: FakeSearch
) -> None:
    thread, events = await start(engine)
    args = plan_args(approvals(events)[0])
    third, first = args["sections"][2], args["sections"][0]
    edited = [{**third, "name": "Outlook"}, {**first, "name": "Basics"}]

    await answer(engine, thread, edit("research", {**args, "sections": edited}))

    report = await report_of(engine, thread)
    assert headings(report) == ["Outlook", "Basics"]
    assert sorted(searched(search)) == sorted(third["queries"] + first["queries"])


@pytest.mark.parametrize(
    ("sections", "where"),
    [
        pytest.param([], ["sections"], id="no-sections"),
        pytest.param(
            [{"description": "Nameless.", "queries": ["solar cost"]}],
            ["sections", 0, "name"],
            id="section-without-name",
        ),
        pytest.param(
            [{"name": "Costs", "description": "What it costs.", "queries": [" "]}],
            ["sections", 0, "queries"],
            id="blank-queries",
        ),
    ],
)
async def test_invalid_edit_asks_again_with_the_reason(
    engine: Engine, search: FakeSearch, sections: list[dict[str, Any]], where: list[Any]
) -> None:
    thread, events = await start(engine)
    args = plan_args(approvals(events)[0])

    again = await answer(engine, thread, edit("research", {**args, "sections": sections}))

    [asked] = approvals(again)
    assert asked.request.error, "the re-asked approval does not say what was wrong"
    assert asked.request.error_at == where  # a form shows the reason next to this field
    assert asked.request.error_reason and "→" not in asked.request.error_reason
    assert "Value error" not in asked.request.error
    [waiting] = await pending(engine, thread)
    assert waiting.request.error
    assert waiting.request.action.args["sections"] == args["sections"]
    assert search.requests == []

    await answer(engine, thread, approve())

    report = await report_of(engine, thread)
    assert headings(report) == ["Part 1", "Part 2", "Part 3"]


async def test_feedback_replans_and_asks_again(
    engine: Engine, llm: ScriptedOpenAI, search: FakeSearch
) -> None:
    thread, events = await start(engine)
    first = approvals(events)[0]

    again = await answer(engine, thread, respond("focus on safety"))

    planned = plan_calls(llm)
    assert len(planned) == 2
    assert "focus on safety" in planned[1].request.last_user
    assert "focus on safety" not in planned[0].request.last_user
    [asked] = approvals(again)
    assert asked.interrupt_id != first.interrupt_id
    assert [p.interrupt_id for p in await pending(engine, thread)] == [asked.interrupt_id]
    assert search.requests == []

    await answer(engine, thread, approve())

    report = await report_of(engine, thread)
    assert report.startswith("# ")
    assert len(headings(report)) == 3


# --- parallel workers --------------------------------------------------------------------------


async def test_workers_run_in_parallel(engine: Engine, brain: Brain, llm: ScriptedOpenAI) -> None:
    brain.sections = 4
    llm.latency = 0.5

    thread, _ = await start(engine, {"approve": [], "max_parallel": 4})

    workers = worker_calls(llm)
    assert len(workers) == 4
    assert max_in_flight(workers) >= 2
    assert len(headings(await report_of(engine, thread))) == 4


async def test_max_parallel_caps_workers_in_flight(
    engine: Engine, brain: Brain, llm: ScriptedOpenAI
) -> None:
    brain.sections = 4
    llm.latency = 0.5

    thread, _ = await start(engine, {"approve": [], "max_parallel": 2})

    workers = worker_calls(llm)
    assert len(workers) == 4
    assert max_in_flight(workers) == 2
    assert len(headings(await report_of(engine, thread))) == 4


# --- citation verification -----------------------------------------------------------------------


async def test_invented_citations_and_urls_never_reach_the_report(
    engine: Engine, brain: Brain, search: FakeSearch
) -> None:
    brain.invent_citation = True
    brain.invent_url = True

    thread, events = await start(engine, NO_APPROVAL)

    report = await report_of(engine, thread)
    assert "invented.example" not in report
    listed = sources(report)
    assert listed
    cited = cited_numbers(report)
    assert cited, "valid citations were removed along with the invented ones"
    assert cited <= set(range(1, len(listed) + 1))
    assert {url for _, _, url in listed} <= returned_urls(search)
    assert "This section is missing" not in report
    # what was removed is shown to the person, not only logged
    steps = [e for e in events if isinstance(e, Activity) and e.state is State.DONE]
    assert any("Removed because no source backs it" in e.text for e in steps)
    assert any("invented.example" in e.text for e in steps)
    boards = [e for e in events if isinstance(e, Progress)]
    assert any("citations removed" in item.note for item in boards[-1].items)


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "must_say", "must_not_say"),
    [
        pytest.param("ratelimit", ("rate-limit", "429"), "no results", id="ratelimit"),
        pytest.param("error", ("503",), "no results", id="unavailable"),
        pytest.param("empty", ("no results",), "rate-limit", id="empty"),
    ],
)
async def test_search_failure_marks_every_section_missing_with_its_cause(
    engine: Engine,
    search: FakeSearch,
    mode: str,
    must_say: tuple[str, ...],
    must_not_say: str,
) -> None:
    search.mode = mode

    thread, _ = await start(engine, NO_APPROVAL)

    report = await report_of(engine, thread)
    assert report.startswith("# ")
    assert headings(report) == ["Part 1", "Part 2", "Part 3"]
    for name in headings(report):
        text = section_text(report, name)
        assert "This section is missing" in text
        reason = text.lower()
        for words in must_say:
            assert words in reason, f"{name}: {text!r} does not mention {words!r}"
        assert must_not_say not in reason, f"{name}: {text!r} mentions {must_not_say!r}"
    assert sources(report) == []
    assert "No sources were cited." in report
    assert cited_numbers(report) == set()


async def test_one_failed_worker_leaves_the_rest_of_the_report(
    engine: Engine, brain: Brain, llm: ScriptedOpenAI
) -> None:
    def responder(request: ChatRequest) -> Any:
        if is_worker(request) and re.search(r"^Section: Part 2$", request.last_user, re.M):
            return HttpError(500, "worker exploded")
        return brain(request)

    llm.responder = responder

    thread, _ = await start(engine, NO_APPROVAL)

    report = await report_of(engine, thread)
    assert headings(report) == ["Part 1", "Part 2", "Part 3"]
    missing = section_text(report, "Part 2")
    assert "This section is missing" in missing
    assert "model" in missing.lower()
    assert "500" in missing
    for name in ("Part 1", "Part 3"):
        text = section_text(report, name)
        assert "missing" not in text
        assert re.search(r"\[\d+\]", text), f"{name} has no citations"
    assert "1 of 3 sections could not be written" in report
    listed = sources(report)
    assert cited_numbers(report) == set(range(1, len(listed) + 1))
    assert not any("aspect-2" in url for _, _, url in listed)


async def test_sections_sharing_a_query_search_it_once(engine: Engine, search: FakeSearch) -> None:
    thread, events = await start(engine)
    args = plan_args(approvals(events)[0])
    shared = [
        {"name": "Upside", "description": "Benefits.", "queries": ["solar shared"]},
        {"name": "Downside", "description": "Drawbacks.", "queries": ["solar shared"]},
    ]

    await answer(engine, thread, edit("research", {**args, "sections": shared}))

    assert searched(search) == ["solar shared"]
    report = await report_of(engine, thread)
    assert headings(report) == ["Upside", "Downside"]
    urls = [url for _, _, url in sources(report)]
    assert len(urls) == len(set(urls)), "a source shared by two sections is listed twice"


async def test_finished_sections_are_persisted(engine: Engine) -> None:
    thread, _ = await start(engine, NO_APPROVAL)

    state = await values(engine, thread)
    run_id = state["run_id"]
    sections = engine.storage.sections
    for index, section in enumerate(state["plan"].sections):
        saved = await sections.load(run_id, index)
        assert saved is not None, f"section {index} was not saved"
        assert saved["name"] == section.name
        assert saved["status"] == "ok"
        assert saved["text"]
        assert saved["sources"]
    assert await sections.load(run_id, len(state["plan"].sections)) is None
    # nothing of the run stays in memory once it ended
    assert len(engine.runs) == 0


async def test_a_server_without_json_schema_output_gets_tool_calls_instead(
    engine: Engine, llm: ScriptedOpenAI, brain: Brain
) -> None:
    def like_llama_cpp_python(request: ChatRequest) -> Reply:
        if (request.response_format or {}).get("type") == "json_schema":
            return HttpError(400, "response_format.type: Input should be 'text' or 'json_object'")
        reply = brain(request)
        if request.schema_name and isinstance(reply, Json):  # a forced tool call was asked for
            return ToolCalls([(request.schema_name, reply.data)])
        return reply

    llm.responder = like_llama_cpp_python
    events = await collect(
        engine.research("no-schema", "tides", owner=OWNER, choices=Choices.of(approve=[]))
    )
    report = next(e for e in events if isinstance(e, Document)).markdown
    assert report.startswith("# A Report") and "## Part 3" in report
    assert [c.status for c in llm.calls].count(400) == 1  # learnt once, then remembered


async def test_huge_search_results_make_bounded_prompts(
    engine: Engine, search: FakeSearch, llm: ScriptedOpenAI
) -> None:
    def flooding(query: str) -> list[dict[str, Any]]:
        hits = default_results(query)
        hits[0]["content"] = "flood " * 200_000  # about 1.2 MB of snippet
        hits[0]["title"] = "T" * 50_000
        return hits

    search.results_for = flooding

    thread, _ = await start(engine, NO_APPROVAL)

    prompts = [c.request.last_user for c in worker_calls(llm)]
    assert len(prompts) == 3
    assert max(len(p) for p in prompts) < 12_000  # was about 3 MB per worker before the caps
    assert "## Sources" in await report_of(engine, thread)
