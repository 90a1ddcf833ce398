"""The supervisor's state, checkpointed per thread."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class AgentState(TypedDict, total=False):
    """The conversation, and which of the last reply's tool calls need approval."""

    messages: Annotated[list[AnyMessage], add_messages]
    gate: dict[str, bool]
    """Tool call id -> whether it pauses for approval; decided with the reply that asked."""
