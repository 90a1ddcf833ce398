"""Drawing the engine's events in the chat: the answer, tool steps, progress, documents.

The UI only draws what the engine streams, and knows no tool by name:

    Research                      a tool step, opened by ToolStarted, closed by ToolFinished
    ├── Plan                      nested steps, one per Activity key
    ├── Section 1 of 3: History
    └── Writing the report
    **Researching: …** 1 of 3 done    one live message per tool call, updated in place
    # The report …                    a Document, with its download

Every step gets its output set before it is sent or updated (Chainlit persists each
send/update from a background task). Messages that must not be repeated (the progress
board, a question) have ids derived from what they show, so sending one again updates it.

Questions, notes and the progress board are ``system_message``s: Chainlit draws them like
the assistant's messages but offers its feedback buttons only on ``assistant_message``s,
so only answers and documents can be rated. Step names carry their own state (Chainlit's
"Using"/"Used" prefixes are blanked in ``.chainlit/translations/en-US.json``): a step cut
short says so in its name.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import chainlit as cl
from chainlit.context import local_steps
from chainlit.utils import utc_now

from assistant.events import (
    FINISHED_STATES,
    Activity,
    Answer,
    ApprovalNeeded,
    Document,
    Event,
    Notice,
    Outcome,
    Progress,
    State,
    Token,
    ToolFinished,
    ToolStarted,
)
from assistant.text import brief, safe_markdown
from assistant.ui import formatting, page
from assistant.ui.files import file_url

log = logging.getLogger(__name__)

UNDO_ACTION = "undo"
"""The Undo button under a kept memory's note."""

_IDS = uuid.UUID("1b3b8e0e-3d2b-4f1e-9a57-5d2c8d0f3a11")
WORKING = "Working…"
WAITING = "Asked for your decision: see the question below."


def stable_id(*parts: str) -> str:
    """A message id derived from ``parts``: the same thing shown twice is one message."""
    return str(uuid.uuid5(_IDS, "\x00".join(parts)))


def notice(content: str, **kwargs: Any) -> cl.Message:
    """A message that is not an answer (a question, a note, the progress board): shown
    like one, never offered for rating."""
    return cl.Message(content=content, type="system_message", **kwargs)


def new_step(
    name: str,
    output: str,
    *,
    parent: cl.Step | None = None,
    arguments: Any = None,
    kind: str = "tool",
) -> cl.Step:
    """A step with its output already set (send it once, then update it).

    Without ``parent`` it goes where Chainlit puts this handler's messages (under the
    handler's run step, if any).
    """
    enclosing = local_steps.get() or []
    step = cl.Step(
        name=name,
        type=kind,  # type: ignore[arg-type]
        parent_id=parent.id if parent else (enclosing[-1].id if enclosing else None),
        show_input=False if arguments is None else "json",
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


SHOW_EVERY_S = 0.02
"""A streamed answer changes on the page at most 50 times a second (the page repaints at
60): pieces the model sends faster go out together. Each change is a socket.io message
for the server to send and the browser to draw."""
CHECK_SPACING = 20
"""A long answer is made safe and shown at most once per this many times what doing so
took the last time: the check gets at most a twentieth of the event loop's time."""


def _log_failure(task: asyncio.Task[None]) -> None:
    """A held piece could not be shown (the answer, sent whole when it ends, still is)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("could not show a streamed piece", exc_info=task.exception())


class TurnView:
    """Draws the events of runs in one conversation (a turn and the runs resuming it)."""

    def __init__(self, thread_id: str, questions: Any) -> None:
        """``questions``: shows a question and its buttons (``approvals.Questions``)."""
        self.thread_id = thread_id
        self.questions = questions
        self.answer: cl.Message | None = None
        self.streamed = ""  # the answer's text so far, as the model wrote it
        self.shown = ""  # what the page shows of it (made safe)
        self.next_check = 0.0  # when the streamed text is next made safe and shown
        self.catch_up: asyncio.TimerHandle | None = None  # shows what came before it
        self.catching_up: asyncio.Task[None] | None = None  # held here: the loop keeps
        # only a weak reference to a task
        self.sending = asyncio.Lock()  # one change of the answer at a time, in order
        self.tools: dict[str, cl.Step] = {}
        self.activities: dict[tuple[str, str], cl.Step] = {}
        self.boards: dict[str, tuple[cl.Message, Progress]] = {}
        self.asked: list[ApprovalNeeded] = []

    async def draw(self, events: AsyncGenerator[Event, None]) -> list[ApprovalNeeded]:
        """Show every event of ``events`` as it arrives; the questions the run stopped at."""
        self.asked = []
        async with aclosing(events) as stream:  # closing it ends the engine's run at once
            async for event in stream:
                await self.show(event)
        await self.end_answer()
        if self.asked:  # the run paused: its open tools wait for the answer (worded to
            # stay true in the history, where a later run in another window goes on)
            for step in self.tools.values():
                if step.end is None:
                    await set_output(step, WAITING)
        return self.asked

    async def show(self, event: Event) -> None:
        """Show one event."""
        match event:
            case Token(text=text):
                await self._token(text)
            case Answer(text=text):
                await self.end_answer(text)
            case ToolStarted(call_id=call_id, label=label, args=args):
                await self.end_answer()
                step = self.tools.get(call_id)
                if step is None:
                    step = new_step(label, WORKING, arguments=args)
                    self.tools[call_id] = step
                    await step.send()
                elif step.output == WAITING:  # a resumed run announces its tools again
                    await set_output(step, WORKING)
            case ToolFinished():
                await self._finished(event)
            case Activity():
                await self._activity(event)
            case Progress():
                await self._board(event)
            case Document():
                await self._document(event)
            case ApprovalNeeded():
                await self.end_answer()
                self.asked.append(event)
                await self.questions.show(event)
            case Notice(text=text):
                await self.end_answer()
                await notice(f"⚠️ {safe_markdown(text)}").send()

    async def _token(self, text: str) -> None:
        """Stream a piece of the answer, never letting the page render unsafe Markdown.

        The page renders the streamed text as Markdown as it grows: a complete image or
        link appears the moment its last character arrives. Each piece is sent as the
        safe continuation of what is shown; when making the text safe changes what was
        already shown, the message is replaced instead.

        The first piece goes out at once, the next ones at most every ``SHOW_EVERY_S``:
        pieces that arrive meanwhile go out together, a moment later. Making the text safe
        reads all of it, so doing it for every piece would cost the square of the answer's
        length (a 9 KB answer in 4-character pieces: 0.6 s of the event loop every
        conversation of the process shares); for a long answer the spacing grows to
        ``CHECK_SPACING`` times what the last check cost.
        """
        if self.answer is None:
            self.answer = cl.Message(content="")
            self.streamed = self.shown = ""
            self.next_check = 0.0
        self.streamed += text
        wait = self.next_check - time.monotonic()
        if wait <= 0:
            await self._show_streamed()
        elif self.catch_up is None:
            self.catch_up = asyncio.get_running_loop().call_later(wait, self._catch_up)

    def _catch_up(self) -> None:
        """The pieces held back since the last check: show them, unless the answer ended."""
        self.catch_up = None
        self.catching_up = asyncio.create_task(self._show_streamed())
        self.catching_up.add_done_callback(_log_failure)

    def _cancel_catch_up(self) -> None:
        """What the timer would show is being shown now."""
        if self.catch_up is not None:
            self.catch_up.cancel()
            self.catch_up = None

    async def _show_streamed(self) -> None:
        async with self.sending:
            message = self.answer
            if message is None:  # ended meanwhile: ``end_answer`` showed it all
                return
            self._cancel_catch_up()
            began = time.perf_counter()
            safe = safe_markdown(self.streamed)
            spacing = max(SHOW_EVERY_S, CHECK_SPACING * (time.perf_counter() - began))
            self.next_check = time.monotonic() + spacing
            if safe.startswith(self.shown):
                piece, self.shown = safe[len(self.shown) :], safe
                if piece:
                    await message.stream_token(piece)
            else:
                self.shown = message.content = safe
                await message.update()

    async def end_answer(self, text: str | None = None) -> None:
        """Finish (and persist, once) the streamed answer; or post ``text`` if none streamed."""
        async with self.sending:
            self._cancel_catch_up()
            message, self.answer = self.answer, None
            if message is None:
                if text:
                    await cl.Message(content=safe_markdown(text)).send()
                return
            message.content = safe_markdown(text if text else self.streamed)
            await message.send()

    async def abort(self, note: str, state: str) -> None:
        """The run stopped or failed: keep the partial answer, close what was open, each
        step named as cut short (``state``: "stopped", "failed")."""
        await self.end_answer()
        for step in [*self.activities.values(), *self.tools.values()]:
            if step.end is None:
                step.name = f"{step.name} ({state})"
                await set_output(step, f"{step.output}\n\n{note}", done=True)
        for message, board in self.boards.values():
            message.content = formatting.board_markdown(board, time.time(), stopped=True)
            await message.update()
        self.tools.clear()
        self.activities.clear()
        self.boards.clear()

    async def _finished(self, event: ToolFinished) -> None:
        step = self.tools.pop(event.call_id, None)
        failed = event.outcome is Outcome.FAILED
        shown = safe_markdown(event.summary if self._has_details(event.call_id) else event.content)
        if step is None:
            step = new_step(event.name, shown)
            step.is_error = failed
            step.end = step.start
            await step.send()
        else:
            await set_output(step, shown, done=True, error=failed)
        if event.undo is not None:  # a kept memory: say so where the person reads, undoably
            undo = cl.Action(
                name=UNDO_ACTION,
                payload={"kind": event.undo.kind, "key": event.undo.key},
                label="Undo",
                icon="undo-2",
            )
            await notice(f"🧠 {safe_markdown(event.summary)}", actions=[undo]).send()

    def _has_details(self, call_id: str) -> bool:
        """A tool that showed its work (steps, a board) ends with its summary line only."""
        return call_id in self.boards or any(key[0] == call_id for key in self.activities)

    def _parent(self, call_id: str) -> cl.Step | None:
        return self.tools.get(call_id)

    async def _activity(self, event: Activity) -> None:
        key = (event.call_id, event.key)
        done = event.state in FINISHED_STATES
        failed = event.state is State.FAILED
        text = safe_markdown(event.text)
        step = self.activities.get(key)
        if step is None:
            step = new_step(event.title, text, parent=self._parent(event.call_id))
            step.is_error = failed
            if done:
                step.end = step.start
            self.activities[key] = step
            await step.send()
            return
        step.name = event.title
        await set_output(step, text, done=done, error=failed)

    async def _board(self, event: Progress) -> None:
        content = formatting.board_markdown(event, time.time())
        known = self.boards.get(event.call_id)
        if known is None:
            message = notice(content, id=stable_id(self.thread_id, event.call_id, "progress"))
            self.boards[event.call_id] = (message, event)
            await message.send()
            return
        message, _ = known
        self.boards[event.call_id] = (message, event)
        message.content = content
        await message.update()

    async def _document(self, event: Document) -> None:
        files = [
            cl.File(name=ref.name, url=file_url(ref.key), mime=ref.mime, display="inline")
            for ref in event.files
        ]
        message = cl.Message(
            content=formatting.report_for_chat(event.markdown),
            elements=files,
            id=stable_id(self.thread_id, event.call_id, "document"),
        )
        await message.send()
        await page.reveal(message.id)  # the finished document is what the person reads next


def note(text: str) -> str:
    """A short system note, safe."""
    return safe_markdown(brief(text, 2_000))
