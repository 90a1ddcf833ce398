"""One conversation in one browser session: runs the engine, shows its questions, stops.

Every run is an ``asyncio`` task kept here, so Stop can cancel it wherever it was started
(a message, a button, a reopened thread); cancelling the task cancels the graph and its
in-flight model and search calls, and the checkpoints keep everything up to the last
finished step. Questions never block: they are messages with buttons; a click (or the
person's next message, while a question is open) answers them through the engine, which
accepts an answer only while its question is truly open. Edit opens a form for the
arguments (``editor``) where the request describes them, else asks for them as text.

The engine refuses what it must (another window is running this conversation, the
question was answered elsewhere, the message is empty or too long): the person's message
is then removed again, so it is in the chat history only if the agent saw it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import chainlit as cl

from assistant import approvals as decisions
from assistant import editing
from assistant.context import Choices
from assistant.engine import Engine
from assistant.errors import AssistantError, InputError, describe
from assistant.events import ApprovalNeeded
from assistant.storage import AlreadyDecided, ThreadBusy, ThreadNotFound
from assistant.text import brief, escape, safe_markdown
from assistant.ui import commands, editor, formatting, page, settings_panel, uploads
from assistant.ui.approvals import CANCEL, Questions, edit_prompt
from assistant.ui.render import TurnView, notice

log = logging.getLogger(__name__)

CONTINUE_ACTION = "continue_run"
STOP_WAIT_S = 10.0
REFUSALS = (ThreadBusy, AlreadyDecided, ThreadNotFound, InputError)
"""What the engine refuses before doing anything: the run changed nothing."""
BUSY = "Still working on the previous request: wait for it, or press Stop."
GONE = "That question is no longer open here (it was answered, or the conversation moved on)."
PLACEHOLDERS = {
    "question": "Type your feedback and send it, or use the buttons above",
    "respond": "Type what should change, then send it",
    "edit": "Send the edited text, or cancel",
}
"""What the chat box says while a question is open (else: Chainlit's own words)."""

Work = Callable[[TurnView], Awaitable[None]]


def continue_button(label: str) -> cl.Action:
    """A button that continues the thread's unfinished run from its last checkpoint."""
    return cl.Action(name=CONTINUE_ACTION, payload={}, label=label, icon="rotate-ccw")


class Conversation:
    """The thread (``thread_id`` is both Chainlit's and LangGraph's) and its running task."""

    def __init__(self, engine: Engine, thread_id: str, owner: str, values: dict[str, Any]) -> None:
        """``values``: the chat settings panel's values for this conversation."""
        self.engine = engine
        self.thread_id = thread_id
        self.owner = owner
        self.values = values
        self.questions = Questions(thread_id)
        self.pending: dict[str, ApprovalNeeded] = {}
        """Questions open in this conversation, from the runs' events (or a reopen)."""
        self.awaiting: tuple[ApprovalNeeded, str] | None = None
        """A question whose answer (``edit`` or ``respond``) the next message carries."""
        self.view = TurnView(thread_id, self.questions)
        """Draws every run of this window: a resumed run goes on in the steps it opened."""
        self._task: asyncio.Task[None] | None = None
        self._side: asyncio.Task[None] | None = None
        self._placeholder: str | None = None
        self._placeholder_sent = False  # the page may still show another conversation's

    @property
    def choices(self) -> Choices:
        """This conversation's choices (the settings panel)."""
        return settings_panel.choices(self.values)

    @property
    def busy(self) -> bool:
        """A run is going on."""
        return self._task is not None and not self._task.done()

    # --- what the person does --------------------------------------------------------------

    async def send(self, message: cl.Message) -> None:
        """The person's message: the answer a question waits for, feedback on an open
        question, or a new request."""
        text = message.content or ""
        command = commands.command_of(message)
        if command is not None:  # answered here, not by the agent, even while it works
            await commands.run(command, self.engine, self.owner)
            return
        if self.busy:
            await self._refused(message, BUSY)
            return
        attached: list[str] = []
        files = await uploads.uploads_of(message)
        if files:
            try:
                shown, attached = await uploads.attach(
                    self.engine, self.thread_id, self.owner, files, title=text or files[0].name
                )
            except REFUSALS as exc:
                await self._refused(message, str(exc))
                return
            await notice(shown).send()
            if not text.strip():
                return
        if self.awaiting is not None:
            await self._answer_by_message(message, text)
            return
        open_question = next(
            (q for q in self.pending.values() if "respond" in q.request.allowed), None
        )
        if open_question is not None:
            value = decisions.respond(text.strip()) if text.strip() else None
            if value is None:
                await self._refused(message, "The message is empty.")
                return
            note = formatting.decided("respond", brief(text, 200))
            await self._run(
                lambda view: self._resume(view, open_question, value, note), message=message
            )
            return
        text = uploads.told_to_model(text, attached)
        await self._run(lambda view: self._turn(view, text), message=message)

    async def decide(self, interrupt_id: str, decision: str) -> None:
        """A question's button was clicked."""
        approval = self.pending.get(interrupt_id)
        if approval is None or self.busy:
            await notice(GONE if approval is None else BUSY).send()
            return
        if decision in ("approve", "reject"):
            value = decisions.approve() if decision == "approve" else decisions.reject()
            note = formatting.decided(decision)
            await self._run(lambda view: self._resume(view, approval, value, note), wait=False)
        elif decision == "respond":
            self.awaiting = (approval, "respond")
            await notice(
                f"What should change? Type it and send it (or `{CANCEL}` to go back)."
            ).send()
        elif decision == "edit" and editor.editable(approval.request):
            self.awaiting = None
            await self.questions.edit(approval)
        elif decision == "edit":  # no form for these arguments: as text in the chat box
            self.awaiting = (approval, "edit")
            await notice(edit_prompt(approval.request)).send()
        await self.update_placeholder()

    async def edit(self, interrupt_id: str, args: dict[str, Any] | None) -> str | None:
        """The form's Save (``args``) or Cancel (None); returns why it was refused, if it
        was (the form stays open and says so)."""
        approval = self.pending.get(interrupt_id)
        if approval is None:
            await self.questions.close_editor(interrupt_id)
            await notice(GONE).send()
            return GONE
        if args is None:
            await self.questions.show(approval)
            await self.update_placeholder()
            return None
        if self.busy:
            return BUSY
        value = decisions.edit(approval.request.action.name, args)
        note = formatting.decided("edit")
        schema = editor.form_schema(approval.request.review_configs[0].args_schema)
        shown = formatting.args_markdown(args, schema)
        await self._run(
            lambda view: self._resume(view, approval, value, note, shown=shown, draft=args),
            wait=False,
        )
        return None

    async def continue_run(self) -> None:
        """Run the thread again from its last checkpoint (Retry, Continue), in the background."""
        await self._run(self._continue, wait=False)

    async def stop(self) -> None:
        """Cancel the running task; offer to continue if work was left unfinished."""
        task = self._task
        if task is None or task.done():
            return
        if not task.cancelling():  # Chainlit's Stop may already have cancelled a message's run
            task.cancel()
        await asyncio.wait({task}, timeout=STOP_WAIT_S)
        try:
            view = await self.engine.thread(self.thread_id, owner=self.owner)
        except Exception:
            log.exception("could not read the state of thread %s", self.thread_id)
            return
        if view.unfinished:
            await notice(
                "Stopped. Everything up to the last finished step is kept: send a "
                "new message, or continue where it stopped.",
                actions=[continue_button("Continue")],
            ).send()
        else:
            await notice("Stopped.").send()

    async def run_soon(self, work: Callable[[], Awaitable[None]]) -> None:
        """Do ``work`` once the current Chainlit handler has returned.

        Messages sent while ``on_chat_resume`` runs can be lost (Chainlit #2611): Chainlit
        sends the thread's history after the hook returns.
        """

        async def later() -> None:
            await asyncio.sleep(0)
            try:
                await work()
            except Exception:
                log.exception("reopening thread %s failed", self.thread_id)

        self._side = asyncio.create_task(later())

    async def reopen(self) -> None:
        """The thread was reopened: show its open questions once, or offer to continue."""
        before, busy_before = self._task, self.busy
        try:
            view = await self.engine.thread(self.thread_id, owner=self.owner)
        except ThreadNotFound:
            return  # nothing of the engine's yet (or not this person's): nothing to show
        # A message sent right after reopening may have started this window's own run
        # meanwhile: the lease the engine saw is then ours, not another window's.
        ours = busy_before or self.busy or self._task is not before
        for approval in view.pending:
            self.pending[approval.interrupt_id] = approval
            await self.questions.show(approval)
        await self.update_placeholder()
        if view.running and ours:
            return
        if view.running:
            await notice(
                "This conversation is working in another window: its results will "
                "be here when you reopen it."
            ).send()
        elif view.unfinished:
            await notice(
                "The last request in this conversation did not finish (it was "
                "stopped, failed or the server restarted).",
                actions=[continue_button("Continue it")],
            ).send()

    async def update_placeholder(self) -> None:
        """Make the chat box say what sending a message does now (when it is not a new
        request: feedback on an open question, the answer a question waits for)."""
        wanted: str | None = None
        if self.awaiting is not None:
            wanted = PLACEHOLDERS[self.awaiting[1]]
        elif any("respond" in q.request.allowed for q in self.pending.values()):
            wanted = PLACEHOLDERS["question"]
        if wanted != self._placeholder or not self._placeholder_sent:
            self._placeholder, self._placeholder_sent = wanted, True
            await page.placeholder(wanted)

    # --- runs ------------------------------------------------------------------------------

    async def _answer_by_message(self, message: cl.Message, text: str) -> None:
        assert self.awaiting is not None
        approval, mode = self.awaiting
        if text.strip().lower() == CANCEL:
            self.awaiting = None
            await notice("Back to the question above.").send()
            await self.update_placeholder()
            return
        if mode == "edit":
            try:
                args = editing.from_text(approval.request, text)
            except ValueError as exc:
                await notice(
                    f"That could not be used: {escape(str(exc))}. Send it again, "
                    f"corrected, or `{CANCEL}` to go back."
                ).send()
                return
            value = decisions.edit(approval.request.action.name, args)
            note = formatting.decided("edit")
        else:
            if not text.strip():
                return
            value = decisions.respond(text.strip())
            note = formatting.decided("respond", brief(text, 200))
        self.awaiting = None
        await self._run(lambda view: self._resume(view, approval, value, note), message=message)

    async def _turn(self, view: TurnView, text: str) -> None:
        asked = await view.draw(
            self.engine.chat(self.thread_id, text, owner=self.owner, choices=self.choices)
        )
        self._remember(asked)

    async def _resume(
        self,
        view: TurnView,
        approval: ApprovalNeeded,
        value: dict[str, Any],
        note: str,
        *,
        shown: str | None = None,
        draft: dict[str, Any] | None = None,
    ) -> None:
        """Answer ``approval`` with ``value``; ``shown``: what was decided, shown under the
        question; ``draft``: edited arguments, offered again in the form if refused."""
        interrupt_id = approval.interrupt_id
        self.pending.pop(interrupt_id, None)
        self.awaiting = None
        await self.update_placeholder()
        await self.questions.answered(interrupt_id, note, shown)
        try:
            asked = await view.draw(
                self.engine.resume(
                    self.thread_id, {interrupt_id: value}, owner=self.owner, choices=self.choices
                )
            )
        except (AlreadyDecided, InputError):
            await self.questions.answered(
                interrupt_id, "*Already answered in another window: this answer was not used.*"
            )
            raise
        self._remember(asked)
        for again in asked:  # the edit was refused: the form again, with the reason
            request = again.request
            same = request.action.name == approval.request.action.name
            if draft is None or not request.error or not same:
                continue
            await self.questions.refused(approval, request.error_reason)
            if editor.editable(request):
                await self.questions.edit(again, draft)

    async def _continue(self, view: TurnView) -> None:
        asked = await view.draw(
            self.engine.continue_run(self.thread_id, owner=self.owner, choices=self.choices)
        )
        self._remember(asked)

    def _remember(self, asked: list[ApprovalNeeded]) -> None:
        for approval in asked:
            self.pending[approval.interrupt_id] = approval

    async def _run(
        self, work: Work, *, wait: bool = True, message: cl.Message | None = None
    ) -> None:
        """Start ``work`` as this conversation's one task; ``wait`` for it, or not."""
        if self.busy:
            await notice(BUSY).send()
            return
        if not wait:  # a button started it: show the newest content, as after a message
            await page.follow()
        run = self._guarded(work, message)
        task = asyncio.create_task(run if wait else self._in_background(run))
        self._task = task
        if wait:
            await task

    async def _guarded(self, work: Work, message: cl.Message | None) -> None:
        """Run ``work``; a refusal takes the message back, a failure reads as one line."""
        view = self.view
        try:
            await work(view)
        except asyncio.CancelledError:
            await view.abort("Stopped.", "stopped")
            raise
        except REFUSALS as exc:
            await view.end_answer()  # nothing ran: the steps on the page stay as they are
            if message is not None:
                await self._refused(message, str(exc))
            else:
                await notice(f"⚠️ {safe_markdown(str(exc))}").send()
        except AssistantError as exc:
            await view.abort("Failed.", "failed")
            await notice(f"⚠️ {safe_markdown(str(exc))}").send()
        except Exception as exc:
            log.exception("run failed on thread %s", self.thread_id)
            await view.abort("Failed.", "failed")
            await notice(
                f"⚠️ {safe_markdown(describe(exc))}", actions=[continue_button("Retry")]
            ).send()
        await self.update_placeholder()  # the run's questions are known now

    async def _refused(self, message: cl.Message, reason: str) -> None:
        """The message was not sent: take it out of the chat and say why."""
        await message.remove()
        shown = brief(message.content or "", 300)
        said = notice(
            f"⚠️ {safe_markdown(reason)}\n\nYour message was not sent"
            + (f": *{escape(shown)}*" if shown else ".")
        )
        # Chainlit makes it a child of this message's run step, itself a child of the
        # message: the page would hide it with the message taken out.
        said.parent_id = None
        await said.send()

    @staticmethod
    async def _in_background(work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` with the page showing it as busy (and the Stop button), as a message."""
        emitter = cl.context.emitter
        await emitter.task_start()
        try:
            await work
        finally:
            await emitter.task_end()
