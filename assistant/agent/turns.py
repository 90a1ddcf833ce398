"""The shape of a conversation: where the person's request begins, which calls are open."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage

SUMMARY_SOURCE = "summarization"
"""``additional_kwargs["lc_source"]`` of the summary message langchain's summariser writes."""

CANCELLED = "Not run: the person stopped this before it finished."


def is_person(message: AnyMessage) -> bool:
    """A message the person wrote (not the summary of earlier turns)."""
    return (
        isinstance(message, HumanMessage)
        and message.additional_kwargs.get("lc_source") != SUMMARY_SOURCE
    )


def current_turn(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The messages since the person last spoke."""
    for i in range(len(messages) - 1, -1, -1):
        if is_person(messages[i]):
            return list(messages[i + 1 :])
    return list(messages)


def unanswered(messages: Sequence[AnyMessage]) -> bool:
    """Whether the conversation ends with the person's message: its turn never answered."""
    return bool(messages) and is_person(messages[-1])


def open_calls(messages: Sequence[AnyMessage]) -> list[dict[str, object]]:
    """The last reply's tool calls that have no result yet."""
    for i in range(len(messages) - 1, -1, -1):
        message = messages[i]
        if isinstance(message, AIMessage):
            answered = {m.tool_call_id for m in messages[i + 1 :] if isinstance(m, ToolMessage)}
            return [dict(c) for c in message.tool_calls if c["id"] not in answered]
        if is_person(message):
            return []
    return []


def close_dangling_tool_calls(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """Give every tool call a result, so the model is never sent an unanswered call.

    A run stopped mid-tool (Stop button, killed process) and followed by a new message
    leaves calls without results; OpenAI rejects such a history with a 400.
    """
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    repaired: list[AnyMessage] = []
    waiting: list[ToolMessage] = []
    for message in messages:
        if not isinstance(message, ToolMessage):
            repaired.extend(waiting)
            waiting = []
        repaired.append(message)
        if isinstance(message, AIMessage):
            waiting = [
                ToolMessage(
                    CANCELLED, tool_call_id=call["id"] or "", name=call["name"], status="error"
                )
                for call in [*message.tool_calls, *message.invalid_tool_calls]
                if call["id"] not in answered
            ]
    return [*repaired, *waiting]
