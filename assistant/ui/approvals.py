"""Questions in the chat: a message showing what the assistant wants to do, with buttons.

A question is an ordinary message whose id is derived from its interrupt, so showing it
again (a reload, a second window) updates it instead of adding a copy; its buttons are
Chainlit actions, handled by the ``approval`` action callback without blocking the chat.
Nothing here decides anything: a click becomes a resume value in the HITL schema and the
engine accepts it only while the question is truly open.
"""

from __future__ import annotations

from typing import Any, Final

import chainlit as cl

from assistant import editing
from assistant.approvals import ApprovalRequest
from assistant.events import ApprovalNeeded
from assistant.text import escape, safe_markdown
from assistant.ui import editor
from assistant.ui.render import notice, stable_id

ACTION: Final = "approval"
"""The action callback's name; the payload says which question and which decision."""
CANCEL: Final = "cancel"

BUTTONS: Final = {
    "approve": ("Approve", "check"),
    "edit": ("Edit", "pencil"),
    "reject": ("Reject", "x"),
    "respond": ("Feedback", "message-square"),
}


def question_markdown(request: ApprovalRequest) -> str:
    """The question as the chat shows it."""
    parts = []
    if request.error:
        parts.append(f"> ⚠️ That answer could not be used: {escape(request.error)}")
    parts.append(f"**{escape(request.title or 'Approve this action?')}**")
    parts.append(safe_markdown(request.action.description))
    allowed = request.allowed
    hints = []
    if "approve" in allowed:
        hints.append("approve it")
    if "edit" in allowed:
        hints.append("edit it")
    if "reject" in allowed:
        hints.append("reject it")
    if "respond" in allowed:
        hints.append("type what should change and send it")
    if hints:
        parts.append(
            f"*You can {', '.join(hints[:-1])} or {hints[-1]}.*"
            if len(hints) > 1
            else f"*You can {hints[0]}.*"
        )
    return "\n\n".join(parts)


def editing_markdown(request: ApprovalRequest) -> str:
    """The question while its form is open (the form shows the arguments)."""
    return (
        f"**{escape(request.title or 'Approve this action?')}**\n\n"
        "*Change it below, then save to run it, or cancel to go back to the question.*"
    )


def edit_prompt(request: ApprovalRequest) -> str:
    """What the person is asked when they choose Edit (text editing in the chat box)."""
    return (
        f"{editing.HELP[request.edit_format]} Send the edited text as your next message, or "
        f"`{CANCEL}` to go back.\n\n```text\n{editing.to_text(request)}\n```"
    )


class Questions:
    """The questions shown in one conversation, and their buttons."""

    def __init__(self, thread_id: str) -> None:
        """Questions of ``thread_id``."""
        self.thread_id = thread_id
        self.buttons: dict[str, list[cl.Action]] = {}
        self.shown: dict[str, ApprovalNeeded] = {}
        self.editors: dict[str, cl.CustomElement] = {}

    def message_id(self, interrupt_id: str) -> str:
        """The question's message id."""
        return stable_id(self.thread_id, "question", interrupt_id)

    async def show(self, approval: ApprovalNeeded) -> None:
        """Show ``approval`` with its buttons (again, in place, if it was shown before)."""
        await self.take_buttons(approval.interrupt_id)
        await self.close_editor(approval.interrupt_id)
        request = approval.request
        buttons = [
            cl.Action(
                name=ACTION,
                payload={"interrupt_id": approval.interrupt_id, "decision": decision},
                label=label,
                icon=icon,
            )
            for decision, (label, icon) in BUTTONS.items()
            if decision in request.allowed
        ]
        await notice(
            question_markdown(request), id=self.message_id(approval.interrupt_id), actions=buttons
        ).send()
        self.buttons[approval.interrupt_id] = buttons
        self.shown[approval.interrupt_id] = approval

    async def edit(self, approval: ApprovalNeeded, draft: dict[str, Any] | None = None) -> None:
        """Open the form for ``approval`` in its message, in place of its buttons."""
        interrupt_id = approval.interrupt_id
        await self.take_buttons(interrupt_id)
        await self.close_editor(interrupt_id)
        message_id = self.message_id(interrupt_id)
        await notice(editing_markdown(approval.request), id=message_id).send()
        form = editor.element(approval, draft)
        await form.send(for_id=message_id, persist=False)  # a form is not history
        self.editors[interrupt_id] = form
        self.shown[interrupt_id] = approval

    async def close_editor(self, interrupt_id: str) -> None:
        """Remove the question's form from this window, if it is open."""
        form = self.editors.pop(interrupt_id, None)
        if form is not None:
            await form.remove()

    async def answered(self, interrupt_id: str, note: str, shown: str | None = None) -> None:
        """The question is answered: no more buttons or form, and the answer written under
        it (``shown``: what was decided, in place of the question's text)."""
        await self.take_buttons(interrupt_id)
        await self.close_editor(interrupt_id)
        approval = self.shown.pop(interrupt_id, None)
        if approval is None:
            return
        request = approval.request
        content = (
            question_markdown(request.model_copy(update={"error": None}))
            if shown is None
            else f"**{escape(request.title or 'Approve this action?')}**\n\n{shown}"
        )
        await notice(f"{content}\n\n{note}", id=self.message_id(interrupt_id)).send()

    async def refused(self, approval: ApprovalNeeded, reason: str) -> None:
        """An answered question whose answer the engine did not accept (it asks again)."""
        request = approval.request
        await notice(
            f"**{escape(request.title or 'Approve this action?')}**\n\n"
            f"*Not used: {escape(reason)}. It is asked again below.*",
            id=self.message_id(approval.interrupt_id),
        ).send()

    async def take_buttons(self, interrupt_id: str) -> None:
        """Remove the question's buttons from this window."""
        for button in self.buttons.pop(interrupt_id, []):
            await button.remove()


def payload_of(action: cl.Action) -> tuple[str, str]:
    """``(interrupt_id, decision)`` from a clicked button (sent by the browser: checked)."""
    payload: dict[str, Any] = action.payload if isinstance(action.payload, dict) else {}
    interrupt_id, decision = payload.get("interrupt_id"), payload.get("decision")
    if not isinstance(interrupt_id, str) or decision not in BUTTONS:
        raise ValueError("not a question's button")
    return interrupt_id, str(decision)
