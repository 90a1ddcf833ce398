"""What the engine streams to its faces (CLI, chat UI): small typed events.

``translate`` turns LangGraph's ``(namespace, mode, data)`` stream into these, so no face
needs to know the graph's node names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage


@dataclass(frozen=True)
class Token:
    """A piece of the supervisor's answer, as the model produces it."""

    text: str


@dataclass(frozen=True)
class Answer:
    """The supervisor's complete answer for this step."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """The supervisor decided to call a tool."""

    id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """A tool call finished (or was declined)."""

    id: str
    name: str
    content: str
    error: bool
    artifact: Any = None


@dataclass(frozen=True)
class PlanReady:
    """The research planner produced a plan."""

    plan: dict[str, Any]


@dataclass(frozen=True)
class SectionStarted:
    """A research worker began its section."""

    index: int
    total: int
    name: str
    queries: list[str]


@dataclass(frozen=True)
class SectionDone:
    """A research worker finished (or failed, or was restored from a previous run)."""

    index: int
    total: int
    name: str
    status: str
    error: str | None = None
    resumed: bool = False
    sources: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ReportReady:
    """The research report is assembled and saved."""

    markdown: str
    path: str


@dataclass(frozen=True)
class ApprovalNeeded:
    """The run paused; answer ``request`` (HITL schema) to go on."""

    interrupt_id: str
    request: dict[str, Any]


Event = (
    Token
    | Answer
    | ToolCall
    | ToolResult
    | PlanReady
    | SectionStarted
    | SectionDone
    | ReportReady
    | ApprovalNeeded
)


async def translate(stream: AsyncIterator[Any]) -> AsyncIterator[Event]:
    """Events from ``astream(..., stream_mode=STREAM_MODES, subgraphs=True)``."""
    seen: set[str] = set()
    async for namespace, mode, data in stream:
        top = not namespace
        if mode == "messages":
            chunk, meta = data
            if top and meta.get("langgraph_node") == "agent" and isinstance(chunk, AIMessageChunk):
                text = chunk.text if isinstance(chunk.text, str) else str(chunk.content)
                if text:
                    yield Token(text)
        elif mode == "custom" and isinstance(data, dict):
            kind = data.get("type")
            fields = {k: v for k, v in data.items() if k != "type"}
            if kind == "section_started":
                yield SectionStarted(**fields)
            elif kind == "section_done":
                yield SectionDone(**fields)
        elif mode == "updates":
            for node, update in data.items():
                for event in _from_update(node, update, top, seen):
                    yield event


def _from_update(node: str, update: Any, top: bool, seen: set[str]) -> list[Event]:
    if node == "__interrupt__":
        fresh = [i for i in update if i.id not in seen]
        seen.update(i.id for i in fresh)
        return [ApprovalNeeded(i.id, i.value) for i in fresh]
    if not isinstance(update, dict):
        return []
    if node == "plan" and "plan" in update:
        return [PlanReady(update["plan"])]
    if node == "synthesize" and "report" in update:
        return [ReportReady(update["report"], update["report_path"])]
    if not top:
        return []
    events: list[Event] = []
    for message in update.get("messages", []):
        if isinstance(message, AIMessage):
            events.extend(ToolCall(c["id"] or "", c["name"], c["args"]) for c in message.tool_calls)
            if not message.tool_calls and message.text:
                events.append(Answer(message.text))
        elif isinstance(message, ToolMessage):
            events.append(
                ToolResult(
                    message.tool_call_id,
                    message.name or "",
                    str(message.content),
                    message.status == "error",
                    message.artifact,
                )
            )
    return events
