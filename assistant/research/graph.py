"""The research workflow: plan, review, parallel section workers, verified synthesis.

``build_research_graph`` takes every dependency (models, store, search, settings) and
returns a compiled graph. Used alone (``assistant research``) it is compiled with a
checkpointer; inside the supervisor it runs as a subgraph on the parent's checkpointer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.types import Checkpointer, Send

from assistant import prompts
from assistant.approvals import Edit, Reject, Respond, approval_request, ask_for_decision
from assistant.errors import AssistantError, describe
from assistant.models import ModelFactory
from assistant.options import RunOptions
from assistant.research.citations import clean_citations, format_sources, merge_sections
from assistant.research.schemas import (
    MAX_SECTIONS,
    MIN_SECTIONS,
    EditedPlan,
    Plan,
    ReportFrame,
    ResearchState,
    SectionPlan,
    SectionResult,
    Source,
    WorkerTask,
)
from assistant.settings import Settings
from assistant.storage import AppStore
from tools.search import RateLimiter, SearchError, SearchProvider, SearchResult, SearchSession

log = logging.getLogger(__name__)

MAX_SOURCES_PER_SECTION = 8


@dataclass
class _Run:
    """What the workers of one run share: one search session, one concurrency cap."""

    search: SearchSession
    slots: asyncio.Semaphore


@dataclass
class _Runs:
    """Live runs by id. Owned by one compiled graph; nothing global."""

    make_session: Callable[[], SearchSession]
    runs: dict[str, _Run] = field(default_factory=dict)

    def get(self, run_id: str, max_parallel: int) -> _Run:
        if run_id not in self.runs:
            self.runs[run_id] = _Run(self.make_session(), asyncio.Semaphore(max_parallel))
        return self.runs[run_id]

    def drop(self, run_id: str) -> None:
        self.runs.pop(run_id, None)


def format_plan(plan: dict[str, Any]) -> str:
    """The plan as a person reads it."""
    lines = [f"Plan: {plan.get('title', '')}"]
    for n, section in enumerate(plan["sections"], 1):
        lines.append(f"{n}. {section['name']}: {section['description']}")
        lines.extend(f"   - search: {query}" for query in section["queries"])
    return "\n".join(lines)


def build_research_graph(
    *,
    models: ModelFactory,
    store: AppStore,
    settings: Settings,
    search_provider: Callable[[], SearchProvider],
    checkpointer: Checkpointer = None,
) -> Any:
    """Compile the research graph from its dependencies."""

    def make_session() -> SearchSession:
        return SearchSession(
            search_provider(),
            limiter=RateLimiter(settings.search_rate, burst=max(1, settings.max_parallel)),
            max_results=settings.search_results,
        )

    runs = _Runs(make_session)

    async def plan(state: ResearchState, config: RunnableConfig) -> dict[str, Any]:
        options = RunOptions.from_config(config, settings)
        feedback = state.get("feedback") or []
        extra = (
            prompts.PLANNER_FEEDBACK.format(
                feedback="\n".join(f"- {item}" for item in feedback),
                previous=format_plan(state["plan"]) if state.get("plan") else "(none)",
            )
            if feedback
            else ""
        )
        prompt = prompts.PLANNER.format(
            topic=state["topic"],
            min_sections=MIN_SECTIONS,
            max_sections=MAX_SECTIONS,
            feedback=extra,
        )
        result = await models.structured(Plan, prompt, options.model)
        if len(result.sections) < MIN_SECTIONS:
            retry = await models.structured(
                Plan,
                prompt + f"\nYour last plan had {len(result.sections)} sections; "
                f"give {MIN_SECTIONS} to {MAX_SECTIONS}.",
                options.model,
            )
            result = max(result, retry, key=lambda p: len(p.sections))
        if not result.sections:
            raise AssistantError("The model returned a research plan with no sections.")
        return {
            "plan": {
                "title": result.title,
                "sections": [s.model_dump() for s in result.sections[:MAX_SECTIONS]],
            },
            "run_id": state.get("run_id") or uuid.uuid4().hex,
            # Decided here, checkpointed before the review: a resume cannot skip the review.
            "needs_review": state.get("needs_review", "research" in options.approve),
            "status": "planned",
        }

    def review(state: ResearchState) -> dict[str, Any]:
        if not state.get("needs_review", True):
            return {"status": "approved"}
        current = state["plan"]
        request = approval_request(
            "research",
            {"topic": state["topic"], "title": current["title"], "sections": current["sections"]},
            format_plan(current),
        )

        def check(args: dict[str, Any]) -> EditedPlan:
            return EditedPlan.model_validate({**args, "topic": state["topic"]})

        decision, edited = ask_for_decision(request, check)
        if isinstance(decision, Reject):
            return {"status": "rejected", "reject_reason": decision.message}
        if isinstance(decision, Respond):
            return {"status": "planned", "feedback": [*state.get("feedback", []), decision.message]}
        if isinstance(decision, Edit) and edited is not None:
            sections = [s.model_dump() for s in edited.sections]
            return {
                "status": "approved",
                "plan": {"title": edited.title or current["title"], "sections": sections},
            }
        return {"status": "approved"}

    def after_review(state: ResearchState) -> list[Send] | Literal["plan", "__end__"]:
        if state["status"] == "rejected":
            return "__end__"
        if state["status"] == "planned":
            return "plan"
        sections = state["plan"]["sections"]
        return [
            Send(
                "worker",
                WorkerTask(
                    run_id=state["run_id"],
                    topic=state["topic"],
                    index=i,
                    total=len(sections),
                    section=section,
                ),
            )
            for i, section in enumerate(sections)
        ]

    async def worker(task: WorkerTask, config: RunnableConfig) -> dict[str, Any]:
        write = get_stream_writer()
        section = SectionPlan.model_validate(task["section"])
        event = {"index": task["index"], "total": task["total"], "name": section.name}
        saved = await store.load_section(task["run_id"], task["index"])
        if saved is not None:
            write({"type": "section_done", **event, "status": saved["status"], "resumed": True})
            return {"sections": [saved]}
        options = RunOptions.from_config(config, settings)
        run = runs.get(task["run_id"], options.max_parallel)
        async with run.slots:
            write({"type": "section_started", **event, "queries": section.queries})
            result = await _write_section(task, section, run.search, options)
        await store.save_section(task["run_id"], task["index"], dict(result))
        write(
            {
                "type": "section_done",
                **event,
                "status": result["status"],
                "error": result["error"],
                "sources": result["sources"],
            }
        )
        return {"sections": [result]}

    async def _write_section(
        task: WorkerTask, section: SectionPlan, search: SearchSession, options: RunOptions
    ) -> SectionResult:
        def failed(reason: str) -> SectionResult:
            log.warning("section %r failed: %s", section.name, reason)
            return SectionResult(
                index=task["index"],
                name=section.name,
                status="failed",
                text="",
                sources=[],
                error=reason,
                removed=[],
            )

        found = await asyncio.gather(
            *(search.search(query) for query in section.queries), return_exceptions=True
        )
        results: dict[str, SearchResult] = {}
        errors: list[str] = []
        for outcome in found:
            if isinstance(outcome, SearchError):
                errors.append(str(outcome))
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                for item in outcome:
                    results.setdefault(item.url.rstrip("/"), item)
        if not results:
            return failed(
                errors[0]
                if errors
                else "the web search returned no results for: " + "; ".join(section.queries)
            )
        picked = list(results.values())[:MAX_SOURCES_PER_SECTION]
        sources = [Source(url=item.url, title=item.title) for item in picked]
        numbered = "\n\n".join(
            f"[{n}] {item.title}\nURL: {item.url}\n{item.content}"
            for n, item in enumerate(picked, 1)
        )
        prompt = prompts.WORKER.format(
            topic=task["topic"],
            name=section.name,
            description=section.description,
            sources=numbered,
        )
        try:
            reply = await models.get(options.model).ainvoke(prompt)
        except Exception as exc:  # no interrupt below this point; any model failure is reported
            return failed(f"the model failed while writing it: {describe(exc)}")
        text, removed = clean_citations(str(reply.content), sources)
        for removal in removed:
            log.warning("section %r: removed %s", section.name, removal)
        if not text:
            return failed("the model returned an empty section")
        return SectionResult(
            index=task["index"],
            name=section.name,
            status="ok",
            text=text,
            sources=sources,
            error=None,
            removed=removed,
        )

    async def synthesize(state: ResearchState, config: RunnableConfig) -> dict[str, Any]:
        options = RunOptions.from_config(config, settings)
        latest = {s["index"]: s for s in state.get("sections", [])}
        sections = [latest[i] for i in sorted(latest)]
        texts, sources = merge_sections(sections)
        title, introduction = state["plan"].get("title") or state["topic"], ""
        written = [s for s in sections if s["status"] == "ok"]
        if written:
            try:
                frame = await models.structured(
                    ReportFrame,
                    prompts.SYNTHESIZER.format(
                        topic=state["topic"],
                        sections="\n\n".join(f"## {s['name']}\n{s['text']}" for s in written),
                    ),
                    options.model,
                )
                title = frame.title.strip() or title
                introduction, removed = clean_citations(frame.introduction, [])
                for item in removed:
                    log.warning("introduction: removed %s", item)
            except Exception as exc:  # the report stands without an introduction
                log.warning("synthesis framing failed, using the plan's title: %s", exc)
        markdown = _assemble(title, introduction, sections, texts, sources)
        path = await _save_report(settings.reports_dir, title, state["run_id"], markdown)
        runs.drop(state["run_id"])
        return {"report": markdown, "report_path": str(path), "status": "done"}

    builder = StateGraph(ResearchState)
    builder.add_node("plan", plan)
    builder.add_node("review", review)
    builder.add_node("worker", worker, input_schema=WorkerTask)  # type: ignore[arg-type]
    builder.add_node("synthesize", synthesize)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "review")
    builder.add_conditional_edges("review", after_review, ["plan", "worker", END])
    builder.add_edge("worker", "synthesize")
    builder.add_edge("synthesize", END)
    return builder.compile(checkpointer=checkpointer, name="research")


def _assemble(
    title: str,
    introduction: str,
    sections: list[SectionResult],
    texts: list[str],
    sources: list[Source],
) -> str:
    parts = [f"# {_one_line(title)}"]
    missing = [s for s in sections if s["status"] == "failed"]
    if missing:
        parts.append(
            f"> **Note:** {len(missing)} of {len(sections)} sections could not be written; "
            "each says why below."
        )
    if introduction:
        parts.append(introduction)
    for section, text in zip(sections, texts, strict=True):
        parts.append(f"## {_one_line(section['name'])}")
        parts.append(
            text
            if section["status"] == "ok"
            else f"> **This section is missing:** {section['error']}"
        )
    parts.append(format_sources(sources))
    return "\n\n".join(parts) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.replace("#", "").split())


async def _save_report(folder: Path, title: str, run_id: str, markdown: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "report"
    path = folder / f"{slug}-{run_id[:8]}.md"

    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(markdown, encoding="utf-8")

    await asyncio.to_thread(write)
    return path
