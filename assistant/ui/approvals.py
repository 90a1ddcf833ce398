"""Asking the person about one pending approval: Approve, Edit, Reject or Feedback.

The request is shown as its own message (for research: the plan, section by section),
then the buttons. The answer is a resume value in the HITL schema (``assistant.approvals``);
``None`` means nobody answered in time, and the approval simply stays pending: it is shown
again when the conversation is reopened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

import chainlit as cl

from assistant import approvals
from assistant.events import ApprovalNeeded
from assistant.research.plan_text import plan_from_text, plan_to_text
from assistant.ui import formatting

ASK_TIMEOUT: Final = 24 * 60 * 60
"""Seconds a question waits for an answer (Chainlit's default is 90)."""

BUTTONS: Final = {
    "approve": ("Approve", "check"),
    "edit": ("Edit", "pencil"),
    "reject": ("Reject", "x"),
    "respond": ("Feedback", "message-square"),
}
CANCEL: Final = "cancel"


class _Back:
    """The person cancelled an edit: show the buttons again."""


BACK: Final = _Back()


async def ask(approval: ApprovalNeeded, within: int = ASK_TIMEOUT) -> dict[str, Any] | None:
    """Show ``approval`` and return the person's decision as a resume value.

    ``within``: seconds each question waits for an answer.
    """
    request = approval.request
    action = request["action_requests"][0]
    allowed: list[str] = list(request["review_configs"][0]["allowed_decisions"])
    name: str = action["name"]
    args: dict[str, Any] = dict(action.get("args") or {})
    if request.get("error"):
        await cl.Message(content=f"⚠️ That answer could not be used: {request['error']}").send()
    research = name == "research"
    shown = (
        formatting.plan_markdown(args) if research else formatting.tool_request_markdown(name, args)
    )
    await cl.Message(content=shown).send()
    question = (
        "Run this plan? You can also edit it, reject it, or give feedback to get a new plan."
        if research
        else f"Run {name}?"
    )
    buttons = [
        cl.Action(
            name=decision,
            payload={"decision": decision, "interrupt_id": approval.interrupt_id},
            label=label,
            icon=icon,
        )
        for decision, (label, icon) in BUTTONS.items()
        if decision in allowed
    ]
    while True:
        chosen = await cl.AskActionMessage(content=question, actions=buttons, timeout=within).send()
        if chosen is None:
            return None
        decision = chosen["payload"].get("decision")
        if decision == "approve":
            return approvals.approve()
        if decision == "reject":
            return approvals.reject()
        if decision == "respond":
            prompt = (
                "What should change? The planner makes a new plan from your feedback."
                if research
                else f"What should the assistant do instead of running {name}?"
            )
            feedback = await ask_text(f"{prompt} (Send `{CANCEL}` to go back.)", within)
            if feedback is None:
                return None
            if feedback.strip().lower() != CANCEL:
                return approvals.respond(feedback.strip())
        elif decision == "edit":
            edited = await (edit_plan(args, within) if research else edit_args(name, args, within))
            if edited is None:
                return None
            if not isinstance(edited, _Back):
                return approvals.edit(name, edited)


async def ask_text(question: str, within: int) -> str | None:
    """The person's next message in answer to ``question`` (None: no answer in time)."""
    while True:
        answer = await cl.AskUserMessage(content=question, timeout=within).send()
        if answer is None:
            return None
        text = str(answer.get("output") or "").strip()
        if text:
            return text


async def edit_plan(args: Mapping[str, Any], within: int) -> dict[str, Any] | _Back | None:
    """Let the person rewrite the plan as text; parse it, explaining any mistake."""
    question = (
        "Edit the plan and send it back as your next message. Keep the format: a `Title:` "
        "line, a `## heading` per section, its description, and `- ` search queries. "
        f"Send `{CANCEL}` to go back.\n\n```text\n{plan_to_text(dict(args))}\n```"
    )

    def parse(text: str) -> dict[str, Any]:
        return {**args, **plan_from_text(text)}

    return await _ask_until_parsed(
        question,
        within,
        parse,
        lambda exc: (
            f"That plan could not be used: {exc}. Send the corrected plan, "
            f"or `{CANCEL}` to go back."
        ),
    )


async def edit_args(
    name: str, args: Mapping[str, Any], within: int
) -> dict[str, Any] | _Back | None:
    """Let the person send new JSON arguments for tool ``name``."""
    current = json.dumps(dict(args), indent=2, ensure_ascii=False)
    question = (
        f"Send the new arguments for **{name}** as a JSON object (or `{CANCEL}`):\n\n"
        f"```json\n{current}\n```"
    )

    def parse(text: str) -> dict[str, Any]:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"That is not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise ValueError(f"The arguments must be a JSON object like {current}")
        return value

    return await _ask_until_parsed(
        question, within, parse, lambda exc: f"{exc}. Try again, or `{CANCEL}`."
    )


async def _ask_until_parsed(
    question: str,
    within: int,
    parse: Callable[[str], dict[str, Any]],
    explain: Callable[[ValueError], str],
) -> dict[str, Any] | _Back | None:
    """Ask until ``parse`` accepts the answer (None: no answer in time; BACK: cancelled)."""
    while True:
        text = await ask_text(question, within)
        if text is None:
            return None
        if text.lower() == CANCEL:
            return BACK
        try:
            return parse(strip_fence(text))
        except ValueError as exc:
            question = explain(exc)


def strip_fence(text: str) -> str:
    """``text`` without a surrounding Markdown code fence."""
    lines = text.strip().splitlines()
    if len(lines) >= 2 and lines[0].startswith("```") and lines[-1].strip() == "```":
        return "\n".join(lines[1:-1])
    return text
