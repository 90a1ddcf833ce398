"""Approval answers in the HumanInTheLoopMiddleware schema are validated, never guessed at."""

from __future__ import annotations

from typing import Any

import pytest

from assistant import approvals
from assistant.approvals import (
    ApprovalRequest,
    Approve,
    Edit,
    Reject,
    Respond,
    approval_request,
    parse_decision,
)
from assistant.errors import InputError

REQUEST = approval_request("calculate", {"expression": "1+1"}, "Run calculate")


def test_request_shape_is_the_hitl_middlewares() -> None:
    payload = REQUEST.payload()
    assert payload["action_requests"] == [
        {"name": "calculate", "args": {"expression": "1+1"}, "description": "Run calculate"}
    ]
    assert payload["review_configs"] == [
        {"action_name": "calculate", "allowed_decisions": ["approve", "edit", "reject", "respond"]}
    ]
    # our extra keys ride along; other HITL clients ignore them
    assert set(payload) == {
        "action_requests",
        "review_configs",
        "title",
        "edit_format",
        "revision",
    }


def test_request_from_another_hitl_client_is_read() -> None:
    value = {
        "action_requests": [{"name": "send_email", "args": {"to": "a@b.c"}}],
        "review_configs": [{"action_name": "send_email", "allowed_decisions": ["approve"]}],
    }
    parsed = ApprovalRequest.parse(value)
    assert parsed.action.name == "send_email" and parsed.allowed == ["approve"]


def test_a_value_outside_the_schema_is_still_shown() -> None:
    parsed = ApprovalRequest.parse("Continue?")
    assert "Continue?" in parsed.action.description


def test_approve() -> None:
    assert parse_decision(approvals.approve(), REQUEST) == Approve(type="approve")


def test_edit() -> None:
    decision = parse_decision(approvals.edit("calculate", {"expression": "3*3"}), REQUEST)
    assert isinstance(decision, Edit)
    assert decision.edited_action.name == "calculate"
    assert decision.edited_action.args == {"expression": "3*3"}


@pytest.mark.parametrize("message", [None, "not now"])
def test_reject(message: str | None) -> None:
    decision = parse_decision(approvals.reject(message), REQUEST)
    assert isinstance(decision, Reject)
    assert decision.message == message


def test_respond() -> None:
    decision = parse_decision(approvals.respond("use 4"), REQUEST)
    assert isinstance(decision, Respond)
    assert decision.message == "use 4"


def test_raw_dict_from_another_client() -> None:
    value = {"decisions": [{"type": "reject", "message": "no"}]}
    assert parse_decision(value, REQUEST) == Reject(type="reject", message="no")


BAD: dict[str, Any] = {
    "string": "yes",
    "none": None,
    "list": [{"type": "approve"}],
    "bare-decision": {"type": "approve"},
    "no-decisions-key": {},
    "empty-decisions": {"decisions": []},
    "decisions-not-list": {"decisions": {"type": "approve"}},
    "unknown-type": {"decisions": [{"type": "maybe"}]},
    "missing-type": {"decisions": [{"message": "hi"}]},
    "respond-without-message": {"decisions": [{"type": "respond"}]},
    "respond-empty-message": {"decisions": [{"type": "respond", "message": ""}]},
    "edit-without-action": {"decisions": [{"type": "edit"}]},
    "edit-args-not-dict": {
        "decisions": [{"type": "edit", "edited_action": {"name": "calculate", "args": "3*3"}}]
    },
    "edit-other-action": approvals.edit("web_search", {"query": "x"}),
    "two-decisions": {"decisions": [{"type": "approve"}, {"type": "approve"}]},
}


@pytest.mark.parametrize("value", list(BAD.values()), ids=list(BAD))
def test_wrong_shapes_are_refused(value: Any) -> None:
    with pytest.raises(InputError, match="Invalid approval answer") as caught:
        parse_decision(value, REQUEST)
    assert "\n" not in str(caught.value)


def test_two_decisions_for_one_request_says_so() -> None:
    value = {"decisions": [{"type": "approve"}, {"type": "reject"}]}
    with pytest.raises(InputError, match="2 decisions for 1 action"):
        parse_decision(value, REQUEST)


def test_edit_changing_the_action_says_so() -> None:
    with pytest.raises(InputError, match="cannot change which action"):
        parse_decision(approvals.edit("research", {"topic": "x"}), REQUEST)


@pytest.mark.parametrize(
    "value",
    [approvals.edit("calculate", {"expression": "2"}), approvals.respond("no")],
    ids=["edit", "respond"],
)
def test_disallowed_decision_type_is_refused(value: dict[str, Any]) -> None:
    limited = approval_request("calculate", {"expression": "1"}, "d", allowed=("approve", "reject"))
    with pytest.raises(InputError, match="not allowed here") as caught:
        parse_decision(value, limited)
    assert "approve, reject" in str(caught.value)


def test_allowed_decision_in_limited_request() -> None:
    limited = approval_request("calculate", {"expression": "1"}, "d", allowed=("approve", "reject"))
    assert isinstance(parse_decision(approvals.reject(), limited), Reject)
