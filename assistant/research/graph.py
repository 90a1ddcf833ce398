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
from pathlib import PurePath
from typing import Any, Literal

from langgraph.config import get_config, get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Send

from assistant import prompts
from assistant.approvals import Edit, Reject, Respond, approval_request, ask_for_decision
from assistant.attachments import TEXT
from assistant.context import RunContext
from assistant.errors import AssistantError, describe
from assistant.events import Document, FileRef, State
from assistant.memory import Memories, prompt_lines
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
    report_text,
    section_key,
    section_note,
    section_text,
    section_title,
)
from assistant.research.report import EXPORT_TYPES, REPORT, assemble, export_key, slug
from assistant.research.schemas import (
    MAX_SECTIONS,
    MIN_SECTIONS,
    EditedPlan,
    Introduction,
    Plan,
    ResearchState,
    SectionResult,
    WorkerTask,
)
from assistant.research.verify import summary_line
from assistant.research.worker import Sources, verification_of, write_section
from assistant.storage import FileStore, SectionStore, StoredFile
from assistant.text import brief, plural

log = logging.getLogger(__name__)

ACTION = "research"
"""The action name of the plan review (the research tool's name)."""


def run_id_for(thread_id: str, call_id: str) -> str:
    """The id of the research run started by tool call ``call_id`` on ``thread_id``.

    Derived, not random: the same call re-run after a crash finds its saved sections.
    """
    return hashlib.sha256(f"{thread_id}\x00{call_id}".encode()).hexdigest()[:24]


def _started_ids(state: ResearchState) -> dict[str, str]:
    """The thread and run id of a run started with only a topic (from LangGraph Server or
    Studio): the thread from the run's config, the run id derived from it."""
    if state.get("run_id"):
        return {}
    configurable = get_config().get("configurable", {})
    thread_id = state.get("thread_id") or str(configurable.get("thread_id", ""))
    return {"thread_id": thread_id, "run_id": run_id_for(thread_id, state.get("call_id", ACTION))}


@dataclass
class _Live:
    """What the workers of one run share while they work."""

    sources: Sources
    slots: asyncio.Semaphore
    board: Board
    users: int = 0


OpenSources = Callable[[str, str, bool], Awaitable[Sources]]
"""``open_sources(thread_id, owner, web)``: a run's search session, page reader (if ``web``)
and the documents attached to the thread."""


class LiveRuns:
    """The runs of this process whose workers are working, by run id.

    All workers of a run execute in one superstep, so an entry lives exactly while one of
    them runs: the last to finish, fail or be cancelled removes it and closes its page
    reader. Nothing of a stopped or failed run stays in memory.
    """

    def __init__(self, open_sources: OpenSources) -> None:
        """``open_sources``: fresh sources (search cache, page reader) for one run."""
        self.open_sources = open_sources
        self._runs: dict[str, _Live] = {}
        self._lock = asyncio.Lock()

    def __len__(self) -> int:
        """Runs working now."""
        return len(self._runs)

    @contextlib.asynccontextmanager
    async def join(
        self, task: WorkerTask, owner: str, parallel: int, board: Callable[[], Awaitable[Board]]
    ) -> AsyncIterator[_Live]:
        """The run's shared state, created by its first worker, dropped after its last."""
        run_id = task["run_id"]
        async with self._lock:
            live = self._runs.get(run_id)
            if live is None:
                sources = await self.open_sources(task["thread_id"], owner, task.get("web", True))
                live = _Live(sources, asyncio.Semaphore(parallel), await board())
                self._runs[run_id] = live
            live.users += 1
        try:
            yield live
        finally:
            live.users -= 1
            if live.users == 0 and self._runs.get(run_id) is live:
                del self._runs[run_id]
                await live.sources.aclose()


def build_research_graph(
    *,
    models: ModelFactory,
    sections: SectionStore,
    files: FileStore,
    runs: LiveRuns,
    checkpointer: Checkpointer = None,
    context_schema: type[RunContext] = RunContext,
    memories: Memories | None = None,
) -> Any:
    """Compile the research graph from its dependencies (``memories``: what is remembered
    of the person reaches the planner)."""

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
        names = await files.names(state.get("thread_id", ""), runtime.context.owner, TEXT)
        documents = ""
        if names:
            template = (
                prompts.PLANNER_DOCUMENTS
                if state.get("web", True)
                else prompts.PLANNER_DOCUMENTS_ONLY
            )
            documents = template.format(names="\n".join(f"- {n}" for n in names))
        remembered = ""
        if memories is not None and runtime.context.memory:
            recalled = await memories.relevant(runtime.context.owner, topic)
            if recalled:
                remembered = prompts.PLANNER_MEMORIES.format(memories=prompt_lines(recalled))
        prompt = prompts.PLANNER.format(
            topic=topic,
            min_sections=MIN_SECTIONS,
            max_sections=MAX_SECTIONS,
            memories=remembered,
            documents=documents,
            feedback=extra,
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
        return {**_started_ids(state), "plan": made, "revision": revision, "status": "planned"}

    def review(state: ResearchState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        if not state.get("needs_review", ACTION in runtime.context.approve):
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
                    web=state.get("web", True),
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

        context = runtime.context
        async with runs.join(task, context.owner, context.max_parallel, board) as live:
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

                def step(state: State, note: str) -> None:
                    write(live.board.set(index, state))
                    write(activity(call_id, key, title, section_text(section, note=note), state))

                result = await write_section(task, live.sources, models, context, step)
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
        checked = [v for s in written if (v := verification_of(s)) is not None]
        verdict = summary_line(checked) if checked else ""
        markdown = assemble(plan_.title, introduction, results, texts, sources, verdict)
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
                REPORT,
            )
        )
        summary = (
            f"Report ready: {plural(len(written), 'section')} of {len(results)}, "
            f"{plural(len(sources), 'source')}."
        )
        write(
            activity(
                call_id,
                WRITING_KEY,
                "Writing the report",
                report_text(summary, verdict, written),
                State.DONE,
            )
        )
        write(final_board(call_id, f"Researching: {plan_.title}", plan_, results, summary))
        downloads = tuple(
            FileRef(export_key(key, fmt), str(PurePath(name).with_suffix(fmt)), mime)
            for fmt, mime in EXPORT_TYPES.items()
            if fmt != ".html"
        )
        write(Document(call_id, plan_.title, markdown, downloads))
        return {"report": markdown, "report_file": key, "status": "done"}

    builder = StateGraph(ResearchState, context_schema=context_schema)
    builder.add_node("plan", plan)
    builder.add_node("review", review)
    builder.add_node("worker", worker, input_schema=WorkerTask)  # type: ignore[call-overload]
    builder.add_node("synthesize", synthesize)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "review")
    builder.add_conditional_edges("review", after_review, ["plan", "worker", END])
    builder.add_edge("worker", "synthesize")
    builder.add_edge("synthesize", END)
    return builder.compile(checkpointer=checkpointer, name="research")
