"""Per-request limits on model and tool calls, counted from the conversation itself.

Counting from the messages since the person last spoke means no counter can drift: a
resume after an approval, a Continue after a crash and a retry all see the same count.
(langchain's ``ModelCallLimitMiddleware`` counts per graph invocation, so every approval
would start its count again.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langchain_core.messages.tool import ToolCall

from assistant.agent.turns import current_turn

INVALID_ARGUMENTS = (
    "Error: the arguments of this call were not valid JSON. "
    "Call the tool again with valid JSON arguments."
)


@dataclass(frozen=True)
class Budget:
    """What is left of one request's limits."""

    model_calls: int
    tool_calls: int


def budget(messages: Sequence[AnyMessage], max_model_calls: int, max_tool_calls: int) -> Budget:
    """Model and tool calls still allowed in the current request."""
    turn = current_turn(messages)
    return Budget(
        model_calls=max_model_calls - sum(isinstance(m, AIMessage) for m in turn),
        tool_calls=max_tool_calls - sum(isinstance(m, ToolMessage) for m in turn),
    )


def model_limit_reached(limit: int) -> AIMessage:
    """The answer that ends a request which used all its model calls."""
    return AIMessage(
        f"I stopped here: this request reached its limit of {limit} model steps. "
        "Tell me to continue if you want me to go on."
    )


def tool_limit_note(limit: int) -> str:
    """Told to the model when no tool call is left."""
    return (
        f"The tool-call limit ({limit}) for this request is reached: answer now with what you have."
    )


def refuse_over_limit(
    reply: AIMessage, tool_calls_left: int, limit: int
) -> tuple[list[ToolCall], list[ToolMessage]]:
    """The reply's calls that may run, and error results for the rest.

    Calls beyond what is left and calls whose arguments were not valid JSON are answered
    at once with an error the model can read; they never reach a tool.
    """
    allowed = list(reply.tool_calls[: max(0, tool_calls_left)])
    refused = [
        ToolMessage(
            f"Not run: this request reached its limit of {limit} tool calls.",
            tool_call_id=call["id"] or "",
            name=call["name"],
            status="error",
        )
        for call in reply.tool_calls[max(0, tool_calls_left) :]
    ]
    refused.extend(
        ToolMessage(
            INVALID_ARGUMENTS,
            tool_call_id=bad.get("id") or "",
            name=bad.get("name") or "unknown",
            status="error",
        )
        for bad in reply.invalid_tool_calls
    )
    return allowed, refused
