"""An approval's arguments as text a person edits (terminal editor, chat box), and back.

The request names its format (``ApprovalRequest.edit_format``): ``plan`` for a research
plan (a ``Title:`` line, a ``## heading`` per section, its description, ``- `` queries),
``json`` for anything else. Faces call these two functions and never look at the tool.
"""

from __future__ import annotations

import json
from typing import Any

from assistant.approvals import ApprovalRequest
from assistant.research.plan_text import plan_from_text, plan_to_text

HELP = {
    "plan": (
        "Edit the plan in this format: a 'Title:' line, then for each section a '## Name' "
        "line, one line saying what it covers, and one '- search query' line per search "
        "(one to three)."
    ),
    "json": "Edit the arguments as one JSON object.",
}
NOUNS = {"plan": "plan", "json": "arguments"}
"""What the edited text is, in a sentence ("The edited plan:")."""
CONFIRM = {"plan": "run this plan?", "json": "run with these arguments?"}
"""The question that confirms an edit before it is sent."""


def to_text(request: ApprovalRequest, args: dict[str, Any] | None = None) -> str:
    """The request's arguments (or edited ``args``) in its edit format."""
    args = request.action.args if args is None else args
    if request.edit_format == "plan":
        return plan_to_text(args)
    return json.dumps(args, indent=2, ensure_ascii=False)


def from_text(request: ApprovalRequest, text: str) -> dict[str, Any]:
    """Edited text back to arguments; ``ValueError`` with a plain reason if it is wrong."""
    text = strip_fence(text)
    if request.edit_format == "plan":
        return plan_from_text(text, request.action.args.get("title"))
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"that is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ValueError('the arguments must be one JSON object, like {"name": "value"}')
    return value


def strip_fence(text: str) -> str:
    """``text`` without a surrounding Markdown code fence."""
    lines = text.strip().splitlines()
    if len(lines) >= 2 and lines[0].startswith("```") and lines[-1].strip() == "```":
        return "\n".join(lines[1:-1])
    return text
