"""The research workflow: plan, review, parallel section workers, verified synthesis.

    START → plan → review ─┬─ approve / edit → Send("worker") per section → synthesize → END
                           ├─ respond (feedback) → plan (revision 2, 3, ...)
                           └─ reject → END

``build_research_graph`` takes every dependency and returns a compiled graph. The CLI runs
it on its own thread (compiled with a checkpointer); in a conversation the ``research``
tool runs it as a subgraph on the conversation's checkpointer. It reports its work through
typed events (``assistant.events``): a nested step per piece, one live board, the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Send

from assistant import prompts
from assistant.approvals import Edit, Reject, Respond, approval_request, ask_for_decision
from assistant.context import RunContext
from assistant.errors import AssistantError, describe
from assistant.events import Document, FileRef, State
from assistant.models import ModelFactory
from assistant.research.citations import clean_citations, merge_sections
from assistant.research.progress import (
    PLAN_KEY,
    WRITING_KEY,
    Board,
    activity,
    final_board,
    plan_brief,
    plan_markdown,
    plan_title,
    section_key,
    section_note,
    section_text,
    section_title,
)
from assistant.research.report import assemble, slug
from assistant.research.schemas import (
    MAX_SECTIONS,
    MIN_SECTIONS,
    EditedPlan,
    Introduction,
    Plan,
    ResearchState,
    SectionPlan,
    SectionResult,
    Source,
    WorkerTask,
)
from assistant.storage import FileStore, SectionStore, StoredFile
from assistant.text import brief, plural
from tools.search import SearchError, SearchResult, SearchSession

log = logging.getLogger(__name__)

MAX_SOURCES_PER_SECTION = 8
MAX_TITLE_CHARS = 200
MAX_SOURCE_CHARS = 1_200
"""What of one search result reaches a worker's prompt (8 sources: about 10 000 characters)."""
ACTION = "research"
"""The action name of the plan review (the research tool's name)."""


def run_id_for(thread_id: str, call_id: str) -> str:
    """The id of the research run started by tool call ``call_id`` on ``thread_id``.

    Derived, not random: the same call re-run after a crash finds its saved sections.
    """
    return hashlib.sha256(f"{thread_id}\x00{call_id}".encode()).hexdigest()[:24]


@dataclass
class _Live:
    """What the workers of one run share while they work."""

    search: SearchSession
    slots: asyncio.Semaphore
    board: Board
    users: int = 0


class LiveRuns:
    """The runs of this process whose workers are working, by run id.

    All workers of a run execute in one superstep, so an entry lives exactly while one of
    them runs: the last to finish, fail or be cancelled removes it. Nothing of a stopped
    or failed run stays in memory.
    """

    def __init__(self, make_search: Callable[[], SearchSession]) -> None:
        """``make_search``: a fresh search session (cache, de-duplication) for one run."""
        self.make_search = make_search
        self._runs: dict[str, _Live] = {}
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        """Runs working now."""
        return len(self._runs)

    @contextlib.asynccontextmanager
    async def join(
        self, run_id: str, parallel: int, board: Callable[[], Awaitable[Board]]
    ) -> AsyncIterator[_Live]:
        """The run's shared state, created by its first worker, dropped after its last."""
        async with self._lock:
            live = self._runs.get(run_id)
            if live is None:
                live = _Live(self.make_search(), asyncio.Semaphore(parallel), await board())
                self._runs[run_id] = live
            live.users += 1
        try:
            yield live
        finally:
            live.users -= 1
            if live.users == 0 and self._runs.get(run_id) is live:
                del self._runs[run_id]


def build_research_graph(
    *,
    models: ModelFactory,
    sections: SectionStore,
    files: FileStore,
    runs: LiveRuns,
    checkpointer: Checkpointer = None,
) -> Any:
    """Compile the research graph from its dependencies."""

    async def plan(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        write = get_stream_writer()
        call_id, topic = state.get("call_id", ACTION), state["topic"]
        revision = state.get("revision", 0) + 1
        key = f"{PLAN_KEY}:{revision}"
        write(activity(call_id, key, "Planning", f"Making a plan for *{brief(topic, 200)}*…"))
        feedback = state.get("feedback") or []
        extra = (
            prompts.PLANNER_FEEDBACK.format(
                feedback="\n".join(f"- {item}" for item in feedback),
                previous=plan_markdown(state["plan"], topic) if state.get("plan") else "(none)",
            )
            if feedback
            else ""
        )
        prompt = prompts.PLANNER.format(
            topic=topic, min_sections=MIN_SECTIONS, max_sections=MAX_SECTIONS, feedback=extra
        )
        model = runtime.context.model
        result = await models.structured(Plan, prompt, model)
        if len(result.sections) < MIN_SECTIONS:
            retry = await models.structured(
                Plan,
                prompt + f"\nYour last plan had {len(result.sections)} sections; "
                f"give {MIN_SECTIONS} to {MAX_SECTIONS}.",
                model,
            )
            result = max(result, retry, key=lambda p: len(p.sections))
        if not result.sections:
            raise AssistantError("The model returned a research plan with no sections.")
        made = Plan(title=result.title.strip() or topic, sections=result.sections[:MAX_SECTIONS])
        # Shown in full once: in the question when it is reviewed, else in this step.
        shown = (
            plan_brief(made)
            if state.get("needs_review", True)
            else plan_markdown(made, topic, revision)
        )
        write(activity(call_id, key, plan_title(revision), shown, State.DONE))
        return {"plan": made, "revision": revision, "status": "planned"}

    def review(state: ResearchState) -> dict[str, Any]:
        if not state.get("needs_review", True):
            return {"status": "approved"}
        current, revision = state["plan"], state.get("revision", 1)
        request = approval_request(
            ACTION,
            {"title": current.title, "sections": [s.model_dump() for s in current.sections]},
            plan_markdown(current, state["topic"], revision),
            title="Research plan" + (f" (revision {revision})" if revision > 1 else ""),
            args_schema=EditedPlan.model_json_schema(),
            edit_format="plan",
            revision=revision,
        )
        decision, edited = ask_for_decision(request, EditedPlan.model_validate)
        if isinstance(decision, Reject):
            return {"status": "rejected", "reject_reason": decision.message}
        if isinstance(decision, Respond):
            return {"status": "planned", "feedback": [*state.get("feedback", []), decision.message]}
        if isinstance(decision, Edit) and edited is not None:
            return {
                "status": "approved",
                "plan": Plan(title=edited.title, sections=edited.sections),
            }
        return {"status": "approved"}

    def after_review(state: ResearchState) -> list[Send] | Literal["plan", "__end__"]:
        if state["status"] == "rejected":
            return "__end__"
        if state["status"] == "planned":
            return "plan"
        sections_ = state["plan"].sections
        return [
            Send(
                "worker",
                WorkerTask(
                    run_id=state["run_id"],
                    call_id=state.get("call_id", ACTION),
                    thread_id=state.get("thread_id", ""),
                    topic=state["topic"],
                    index=i,
                    total=len(sections_),
                    section=section,
                    names=[s.name for s in sections_],
                    title=state["plan"].title,
                ),
            )
            for i, section in enumerate(sections_)
        ]

    async def worker(task: WorkerTask, runtime: Runtime[RunContext]) -> dict[str, Any]:
        write = get_stream_writer()
        index, total, section = task["index"], task["total"], task["section"]
        call_id = task["call_id"]
        key, title = section_key(index), section_title(index, total, section.name)

        async def board() -> Board:
            kept = await sections.indexes(task["run_id"])
            return Board(call_id, f"Researching: {task['title']}", task["names"], kept)

        async with runs.join(task["run_id"], runtime.context.max_parallel, board) as live:
            saved = await sections.load(task["run_id"], index)
            if saved is not None:
                result = SectionResult(**saved, kept=True)  # type: ignore[typeddict-item]
                write(live.board.set(index, State.KEPT, "kept from before"))
                write(
                    activity(
                        call_id,
                        key,
                        title,
                        section_text(section, result, "Kept from the interrupted run."),
                        State.KEPT,
                    )
                )
                return {"sections": [result]}
            async with live.slots:
                write(live.board.set(index, State.SEARCHING))
                write(
                    activity(
                        call_id,
                        key,
                        title,
                        section_text(section) + "\n\nSearching…",
                        State.SEARCHING,
                    )
                )

                def writing() -> None:
                    write(live.board.set(index, State.WRITING))
                    write(
                        activity(
                            call_id,
                            key,
                            title,
                            section_text(section) + "\n\nWriting…",
                            State.WRITING,
                        )
                    )

                result = await _write_section(task, live.search, runtime.context.model, writing)
                result["attempt"] = live.board.started_at
            await sections.save(task["run_id"], task["thread_id"], index, dict(result))
            ok = result["status"] == "ok"
            write(live.board.set(index, State.DONE if ok else State.FAILED, section_note(result)))
            write(
                activity(
                    call_id,
                    key,
                    title,
                    section_text(section, result),
                    State.DONE if ok else State.FAILED,
                )
            )
        return {"sections": [result]}

    async def _write_section(
        task: WorkerTask, search: SearchSession, model: str, writing: Callable[[], None]
    ) -> SectionResult:
        section: SectionPlan = task["section"]

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
        writing()
        picked = list(results.values())[:MAX_SOURCES_PER_SECTION]
        sources = [
            Source(url=item.url, title=brief(item.title, MAX_TITLE_CHARS)) for item in picked
        ]
        numbered = "\n\n".join(
            f"[{n}] {brief(item.title, MAX_TITLE_CHARS)}\nURL: {item.url}\n"
            f"{brief(item.content, MAX_SOURCE_CHARS)}"
            for n, item in enumerate(picked, 1)
        )
        prompt = prompts.WORKER.format(
            topic=task["topic"],
            name=section.name,
            description=section.description,
            sources=numbered,
        )
        try:
            reply = await models.get(model).ainvoke(prompt)
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

    async def synthesize(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        write = get_stream_writer()
        call_id, plan_ = state.get("call_id", ACTION), state["plan"]
        latest = {s["index"]: s for s in state.get("sections", [])}
        results = [latest[i] for i in sorted(latest)]
        write(
            final_board(
                call_id, f"Researching: {plan_.title}", plan_, results, "Writing the report…"
            )
        )
        write(
            activity(
                call_id,
                WRITING_KEY,
                "Writing the report",
                "Checking every citation against its source and writing the introduction…",
            )
        )
        texts, sources = merge_sections(results)
        written = [s for s in results if s["status"] == "ok"]
        introduction = ""
        if written:
            try:
                frame = await models.structured(
                    Introduction,
                    prompts.SYNTHESIZER.format(
                        topic=state["topic"],
                        sections="\n\n".join(f"## {s['name']}\n{s['text']}" for s in written),
                    ),
                    runtime.context.model,
                )
                introduction, removed = clean_citations(frame.introduction, [])
                for item in removed:
                    log.warning("introduction: removed %s", item)
            except Exception as exc:  # the report stands without an introduction
                log.warning("writing the introduction failed: %s", describe(exc))
        markdown = assemble(plan_.title, introduction, results, texts, sources)
        name = f"{slug(plan_.title)}.md"
        key = f"{state['run_id']}/{name}"
        await files.put(
            StoredFile(
                key,
                state.get("thread_id"),
                runtime.context.owner,
                name,
                "text/markdown",
                markdown.encode("utf-8"),
            )
        )
        summary = (
            f"Report ready: {plural(len(written), 'section')} of {len(results)}, "
            f"{plural(len(sources), 'source')}."
        )
        write(activity(call_id, WRITING_KEY, "Writing the report", summary, State.DONE))
        write(final_board(call_id, f"Researching: {plan_.title}", plan_, results, summary))
        write(Document(call_id, plan_.title, markdown, (FileRef(key, name, "text/markdown"),)))
        return {"report": markdown, "report_file": key, "status": "done"}

    builder = StateGraph(ResearchState, context_schema=RunContext)
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
