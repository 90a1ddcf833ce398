"""Drawing the engine's events: the streamed answer, tool steps and the research steps.

The UI only draws what the engine streams. Every step gets its output set before it is
sent or updated (Chainlit persists each send/update from a background task).

    Research                      "2 of 3 sections written"   (live, on the parent)
    ├── Plan                      the plan, section by section
    ├── Worker 1/3: History       its queries, status and sources
    ├── ...
    └── Synthesis                 verification and framing, then the report message
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import chainlit as cl
from chainlit.context import local_steps
from chainlit.utils import utc_now

from assistant.events import (
    Answer,
    ApprovalNeeded,
    Event,
    PlanReady,
    ReportReady,
    SectionDone,
    SectionStarted,
    Token,
    ToolCall,
    ToolResult,
)
from assistant.ui import formatting


def new_step(
    name: str,
    output: str,
    *,
    parent: cl.Step | None = None,
    arguments: Any = None,
    expanded: bool = False,
) -> cl.Step:
    """A tool step with its output already set (send it once, then update it).

    Without ``parent`` it goes where Chainlit puts this handler's messages (under the
    handler's run step, if any).
    """
    enclosing = local_steps.get() or []
    step = cl.Step(
        name=name,
        type="tool",
        parent_id=parent.id if parent else (enclosing[-1].id if enclosing else None),
        show_input=False if arguments is None else "json",
        default_open=expanded,
    )
    step.start = utc_now()
    if arguments is not None:
        step.input = arguments
    step.output = output
    return step


async def set_output(
    step: cl.Step, output: str, *, done: bool = False, error: bool = False
) -> None:
    """Change what ``step`` shows, and persist it."""
    step.output = output
    step.is_error = error
    if done:
        step.end = utc_now()
    await step.update()


class ResearchView:
    """The steps of one research run, nested under a "Research" step."""

    def __init__(self, parent: cl.Step) -> None:
        """Use ``ResearchView.open``."""
        self.parent = parent
        self.workers: dict[int, cl.Step] = {}
        self.queries: dict[int, str] = {}
        self.written = 0
        self.synthesis: cl.Step | None = None
        self.report_name: str | None = None

    @classmethod
    async def open(cls, topic: str | None) -> ResearchView:
        """Show the parent step."""
        about = f" on *{formatting.escape(topic)}*" if topic else ""
        parent = new_step("Research", f"Planning the report{about}…", expanded=True)
        await parent.send()
        return cls(parent)

    async def planned(self, plan: Mapping[str, Any]) -> None:
        """Show the plan."""
        step = new_step("Plan", formatting.plan_markdown(plan), parent=self.parent)
        step.end = step.start
        await step.send()
        sections = formatting.plural(len(plan.get("sections") or []), "section")
        await set_output(self.parent, f"Plan ready: {sections}.")

    async def waiting(self) -> None:
        """The plan waits for the person's decision."""
        await set_output(self.parent, "Waiting for your decision on the plan.")

    async def started(self, event: SectionStarted) -> None:
        """A worker began its section."""
        name = f"Worker {event.index + 1}/{event.total}: {formatting.brief(event.name, 60)}"
        self.queries[event.index] = "Searches: " + ", ".join(f"`{q}`" for q in event.queries)
        step = new_step(name, f"{self.queries[event.index]}\n\nSearching…", parent=self.parent)
        self.workers[event.index] = step
        await step.send()
        await set_output(self.parent, formatting.progress(self.written, event.total))

    async def finished(self, event: SectionDone) -> None:
        """A worker finished, failed, or was restored from an interrupted run."""
        self.written += 1
        if event.resumed:
            text = "Kept from the interrupted run."
        elif event.status == "ok":
            sources = formatting.sources_markdown(event.sources)
            text = f"Written from {formatting.plural(len(event.sources), 'source')}:\n\n{sources}"
        else:
            text = f"Could not be written: {event.error or 'unknown reason'}"
        failed = event.status != "ok"
        if event.index in self.queries:
            text = f"{self.queries.pop(event.index)}\n\n{text}"
        step = self.workers.pop(event.index, None)
        if step is None:
            name = f"Worker {event.index + 1}/{event.total}: {formatting.brief(event.name, 60)}"
            step = new_step(name, text, parent=self.parent)
            step.is_error = failed
            step.end = step.start
            await step.send()
        else:
            await set_output(step, text, done=True, error=failed)
        progress = formatting.progress(self.written, event.total)
        if self.written >= event.total:
            progress += "; assembling the report…"
            self.synthesis = new_step(
                "Synthesis",
                "Checking every citation against the sources and writing the introduction…",
                parent=self.parent,
            )
            await self.synthesis.send()
        await set_output(self.parent, progress)

    async def report(self, event: ReportReady) -> None:
        """The report is ready: finish the synthesis step and post the report."""
        name = self.report_name = Path(event.path).name
        summary = f"Report assembled and saved as `{name}`."
        if self.synthesis is None:
            self.synthesis = new_step("Synthesis", summary, parent=self.parent)
            self.synthesis.end = self.synthesis.start
            await self.synthesis.send()
        else:
            await set_output(self.synthesis, summary, done=True)
        await set_output(self.parent, "Report ready.")
        attachment = cl.File(name=name, path=event.path, mime="text/markdown", display="inline")
        await cl.Message(
            content=formatting.report_for_chat(event.markdown), elements=[attachment]
        ).send()

    async def closed(self, result: ToolResult) -> None:
        """The research tool returned (report done, plan rejected, or failed)."""
        if self.report_name and not result.error:
            sections = formatting.plural(self.written, "section")
            text = f"Report ready: {sections}, saved as `{self.report_name}`."
        else:
            text = result.content.strip().splitlines()[0] if result.content.strip() else "Done."
        await set_output(self.parent, text, done=True, error=result.error)

    async def abort(self, note: str) -> None:
        """The run stopped early: say so on every open step."""
        for step in [*self.workers.values(), *filter(None, [self.synthesis])]:
            if step.end is None:
                await set_output(step, f"{step.output}\n\n{note}", done=True)
        self.workers.clear()
        await set_output(self.parent, f"{self.parent.output.rstrip('.…')}. {note}", done=True)


class TurnView:
    """Draws the events of one turn (including the runs that resume it after approvals)."""

    def __init__(self) -> None:
        """Nothing is shown yet."""
        self.answer: cl.Message | None = None
        self.tools: dict[str, cl.Step] = {}
        self.research: ResearchView | None = None

    async def draw(self, events: AsyncIterator[Event]) -> None:
        """Show every event of ``events`` as it arrives."""
        async for event in events:
            await self.show(event)
        await self.end_answer()

    async def show(self, event: Event) -> None:
        """Show one event."""
        match event:
            case Token(text=text):
                if self.answer is None:
                    self.answer = cl.Message(content="")
                await self.answer.stream_token(text)
            case Answer(text=text):
                await self.end_answer(text)
            case ToolCall(name="research", args=args):
                await self.end_answer()
                self.research = await ResearchView.open(str(args.get("topic") or "") or None)
            case ToolCall(id=call_id, name=name, args=args):
                await self.end_answer()
                step = new_step(name, "Running…", arguments=args)
                self.tools[call_id] = step
                await step.send()
            case ToolResult(name="research"):
                research = await self._research()
                await research.closed(event)
                self.research = None
            case ToolResult(id=call_id, name=name, content=content, error=error):
                if call_id in self.tools:
                    await set_output(self.tools.pop(call_id), content, done=True, error=error)
                else:
                    step = new_step(name, content)
                    step.is_error = error
                    step.end = step.start
                    await step.send()
            case PlanReady(plan=plan):
                await (await self._research()).planned(plan)
            case SectionStarted():
                await (await self._research()).started(event)
            case SectionDone():
                await (await self._research()).finished(event)
            case ReportReady():
                await (await self._research()).report(event)
            case ApprovalNeeded():
                await self._waiting(event)

    async def end_answer(self, text: str | None = None) -> None:
        """Finish (and persist, once) the streamed answer; or post ``text`` if none streamed."""
        message, self.answer = self.answer, None
        if message is None:
            if text:
                await cl.Message(content=text).send()
            return
        if text:
            message.content = text
        await message.send()

    async def abort(self, note: str) -> None:
        """The run stopped or failed: keep the partial answer, close the open steps."""
        await self.end_answer()
        for step in self.tools.values():
            await set_output(step, note, done=True)
        self.tools.clear()
        if self.research is not None:
            await self.research.abort(note)
            self.research = None

    async def _research(self) -> ResearchView:
        """The current research view (opened lazily when a run resumes in a new session)."""
        if self.research is None:
            self.research = await ResearchView.open(None)
        return self.research

    async def _waiting(self, event: ApprovalNeeded) -> None:
        name = event.request["action_requests"][0]["name"]
        if name == "research" and self.research is not None:
            await self.research.waiting()
            return
        for step in self.tools.values():
            if step.name == name:
                await set_output(step, "Waiting for your approval…")
