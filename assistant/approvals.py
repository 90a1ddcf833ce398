"""Approval requests and decisions in the schema of langchain's HumanInTheLoopMiddleware.

An interrupt carries ``{"action_requests": [...], "review_configs": [...]}``; it is answered
with ``{"decisions": [{"type": "approve" | "edit" | "reject" | "respond", ...}]}``, so any
LangGraph client that speaks that schema (Agent Chat UI, LangGraph Studio) can answer our
pauses, the research plan review included. A few extra keys (``title``, ``error``,
``edit_format``, ``revision``) help our own faces and are ignored by others. Every answer is
validated; a malformed one is asked again, never guessed at.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar

from langgraph.types import interrupt
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from assistant.errors import InputError

DecisionType = Literal["approve", "edit", "reject", "respond"]
ALL_DECISIONS: tuple[DecisionType, ...] = ("approve", "edit", "reject", "respond")
EditFormat = Literal["json", "plan"]


class ActionRequest(BaseModel):
    """One action the agent wants to take."""

    name: str
    args: dict[str, Any]
    description: str = ""


class ReviewConfig(BaseModel):
    """What the person may answer about an action."""

    action_name: str
    allowed_decisions: list[DecisionType]
    args_schema: dict[str, Any] | None = None


class ApprovalRequest(BaseModel):
    """An interrupt's value: the actions to review (we always ask about one)."""

    action_requests: list[ActionRequest] = Field(min_length=1)
    review_configs: list[ReviewConfig] = Field(min_length=1)
    title: str = ""
    """The question's heading, e.g. "Research plan" or "Run calculate?"."""
    error: str | None = None
    """Why the previous answer could not be used, when asking again."""
    error_at: list[str | int] | None = None
    """Where in the edited arguments ``error`` was found (``["sections", 0, "queries"]``),
    when known: a form can show the reason next to its field."""
    edit_format: EditFormat = "json"
    """How a face offers the arguments for editing as text (see ``assistant.editing``)."""
    revision: int = 1
    """For a plan made again from feedback: 2, 3, ..."""

    @property
    def action(self) -> ActionRequest:
        """The action to review."""
        return self.action_requests[0]

    @property
    def allowed(self) -> list[DecisionType]:
        """The decisions the person may take."""
        return self.review_configs[0].allowed_decisions

    def payload(self) -> dict[str, Any]:
        """The plain JSON value an interrupt carries (checkpointed, sent to other clients)."""
        return self.model_dump(mode="json", exclude_none=True)

    @property
    def error_reason(self) -> str:
        """``error`` without the location it starts with (for a face showing it in place)."""
        error = self.error or ""
        prefix = _where(self.error_at or []) + ": "
        return error[len(prefix) :] if self.error_at and error.startswith(prefix) else error

    @classmethod
    def parse(cls, value: Any) -> ApprovalRequest:
        """Read an interrupt's value; a value not in the schema is shown as-is."""
        try:
            return cls.model_validate(value)
        except ValidationError:
            return approval_request("unknown", {"value": value}, str(value)[:2000])


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
    *,
    title: str = "",
    allowed: Sequence[DecisionType] = ALL_DECISIONS,
    args_schema: dict[str, Any] | None = None,
    edit_format: EditFormat = "json",
    revision: int = 1,
) -> ApprovalRequest:
    """A request to approve one action."""
    return ApprovalRequest(
        action_requests=[ActionRequest(name=name, args=args, description=description)],
        review_configs=[
            ReviewConfig(action_name=name, allowed_decisions=list(allowed), args_schema=args_schema)
        ],
        title=title,
        edit_format=edit_format,
        revision=revision,
    )


def parse_decision(value: Any, request: ApprovalRequest) -> Approve | Edit | Reject | Respond:
    """Validate a resume value against ``request``; raise ``InputError`` if it is wrong."""
    try:
        review = _REVIEW.validate_python(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        raise InputError(f"Invalid approval answer at {where}: {first['msg']}") from None
    expected = len(request.action_requests)
    if len(review.decisions) != expected:
        raise InputError(
            f"Invalid approval answer: {len(review.decisions)} decisions for {expected} action(s)."
        )
    decision = review.decisions[0]
    if decision.type not in request.allowed:
        raise InputError(
            f"Invalid approval answer: '{decision.type}' is not allowed here "
            f"(allowed: {', '.join(request.allowed)})."
        )
    if isinstance(decision, Edit) and decision.edited_action.name != request.action.name:
        raise InputError("Invalid approval answer: an edit cannot change which action runs.")
    return decision


def ask_for_decision(
    request: ApprovalRequest,
    check_edit: Callable[[dict[str, Any]], T] | None = None,
) -> tuple[Approve | Edit | Reject | Respond, T | None]:
    """Pause the graph with ``request`` until a valid decision comes back.

    ``check_edit`` validates edited arguments (raising ``ValueError`` or ``InputError``)
    and returns them parsed. An invalid answer re-asks with the reason in ``error``.
    This must not run under a broad ``try``: ``interrupt`` pauses by raising.
    """
    error: str | None = None
    error_at: list[str | int] | None = None
    while True:
        asked = (
            request
            if error is None
            else request.model_copy(update={"error": error, "error_at": error_at})
        )
        raw = interrupt(asked.payload())
        try:
            decision = parse_decision(raw, request)
            edited = (
                check_edit(decision.edited_action.args)
                if check_edit is not None and isinstance(decision, Edit)
                else None
            )
        except (InputError, ValueError) as exc:
            error, error_at = _plain(exc), _location(exc)
            continue
        return decision, edited


def _plain(exc: Exception) -> str:
    """A validation failure as one sentence (no pydantic links)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = _where(first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return str(exc)


def _location(exc: Exception) -> list[str | int] | None:
    """Where in the edited arguments a validation failure was found."""
    if isinstance(exc, ValidationError):
        return list(exc.errors()[0]["loc"]) or None
    return None


def _where(location: Sequence[str | int]) -> str:
    return " → ".join(str(part) for part in location)


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
