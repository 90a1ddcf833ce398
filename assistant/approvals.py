"""Approval requests and decisions in the schema of langchain's HumanInTheLoopMiddleware.

An interrupt carries ``{"action_requests": [...], "review_configs": [...]}``; it is answered
with ``{"decisions": [{"type": "approve" | "edit" | "reject" | "respond", ...}]}``. Any
LangGraph client that speaks that schema can answer our pauses, the research plan review
included. Every answer is validated; a malformed one is asked again, never guessed at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

from langgraph.types import interrupt
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from assistant.errors import InputError

DecisionType = Literal["approve", "edit", "reject", "respond"]
ALL_DECISIONS: tuple[DecisionType, ...] = ("approve", "edit", "reject", "respond")


class Approve(BaseModel):
    """Run the action as proposed."""

    type: Literal["approve"]


class EditedAction(BaseModel):
    """The action as the person changed it."""

    name: str
    args: dict[str, Any]


class Edit(BaseModel):
    """Run the action with changed arguments."""

    type: Literal["edit"]
    edited_action: EditedAction


class Reject(BaseModel):
    """Do not run the action."""

    type: Literal["reject"]
    message: str | None = None


class Respond(BaseModel):
    """Do not run the action; give the agent this feedback instead."""

    type: Literal["respond"]
    message: str = Field(min_length=1)


Decision = Annotated[Approve | Edit | Reject | Respond, Field(discriminator="type")]


class Review(BaseModel):
    """A resume value: one decision per action request."""

    decisions: list[Decision] = Field(min_length=1)


_REVIEW = TypeAdapter(Review)
T = TypeVar("T")


def approval_request(
    name: str,
    args: dict[str, Any],
    description: str,
    allowed: Sequence[DecisionType] = ALL_DECISIONS,
) -> dict[str, Any]:
    """The interrupt payload asking to approve one action."""
    return {
        "action_requests": [{"name": name, "args": args, "description": description}],
        "review_configs": [{"action_name": name, "allowed_decisions": list(allowed)}],
    }


def parse_decision(value: Any, request: dict[str, Any]) -> Approve | Edit | Reject | Respond:
    """Validate a resume value against ``request``; raise ``InputError`` if it is wrong."""
    try:
        review = _REVIEW.validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        raise InputError(f"Invalid approval answer at {where}: {first['msg']}") from None
    expected = len(request["action_requests"])
    if len(review.decisions) != expected:
        raise InputError(
            f"Invalid approval answer: {len(review.decisions)} decisions for {expected} action(s)."
        )
    decision = review.decisions[0]
    config = request["review_configs"][0]
    if decision.type not in config["allowed_decisions"]:
        raise InputError(
            f"Invalid approval answer: '{decision.type}' is not allowed here "
            f"(allowed: {', '.join(config['allowed_decisions'])})."
        )
    if isinstance(decision, Edit) and decision.edited_action.name != config["action_name"]:
        raise InputError("Invalid approval answer: an edit cannot change which action runs.")
    return decision


def ask_for_decision(
    request: dict[str, Any],
    check_edit: Callable[[dict[str, Any]], T] | None = None,
) -> tuple[Approve | Edit | Reject | Respond, T | None]:
    """Pause the graph with ``request`` until a valid decision comes back.

    ``check_edit`` validates edited arguments (raising ``ValueError`` or ``InputError``)
    and returns them parsed. An invalid answer re-asks with the reason in ``error``.
    This must not run under a broad ``try``: ``interrupt`` pauses by raising.
    """
    error: str | None = None
    while True:
        payload = dict(request) if error is None else {**request, "error": error}
        raw = interrupt(payload)
        try:
            decision = parse_decision(raw, request)
            edited = (
                check_edit(decision.edited_action.args)
                if check_edit is not None and isinstance(decision, Edit)
                else None
            )
        except (InputError, ValueError) as exc:
            error = str(exc)
            continue
        return decision, edited


def approve() -> dict[str, Any]:
    """Resume value: approve."""
    return {"decisions": [{"type": "approve"}]}


def reject(message: str | None = None) -> dict[str, Any]:
    """Resume value: reject, optionally saying why."""
    decision: dict[str, Any] = {"type": "reject"}
    if message:
        decision["message"] = message
    return {"decisions": [decision]}


def edit(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Resume value: run ``name`` with ``args`` instead."""
    return {"decisions": [{"type": "edit", "edited_action": {"name": name, "args": args}}]}


def respond(message: str) -> dict[str, Any]:
    """Resume value: do not run; answer with feedback."""
    return {"decisions": [{"type": "respond", "message": message}]}
