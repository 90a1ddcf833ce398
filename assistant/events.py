"""What the engine streams to its faces (CLI, chat UI): small typed events.

The vocabulary knows no tool by name. A tool announces itself (``ToolStarted``), may show
its work as nested activities and one live progress board, may produce a document, may
ask for approval, and finishes with an outcome. The research workflow uses all of these;
a new tool with progress and approval needs no change in any face.

Events are built where they happen: the supervisor's messages are translated here from
LangGraph's stream, and tools write their own events with LangGraph's stream writer
(``custom`` mode), which ``translate`` passes through unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from assistant.approvals import ApprovalRequest
from tools.text import brief

MODEL_NODE = "model"
"""The supervisor node whose tokens are the answer the person reads."""


class Outcome(StrEnum):
    """How a tool call ended."""

    DONE = "done"
    FAILED = "failed"
    DECLINED = "declined"  # the person said no: an ordinary outcome, not an error


class State(StrEnum):
    """Where one piece of a tool's work stands (an activity, a progress item)."""

    WAITING = "waiting"
    RUNNING = "running"
    SEARCHING = "searching"
    READING = "reading"
    WRITING = "writing"
    CHECKING = "checking"
    DONE = "done"
    KEPT = "kept"  # finished in an earlier, interrupted run
    FAILED = "failed"
    DECLINED = "declined"
    STOPPED = "stopped"


FINISHED_STATES = frozenset({State.DONE, State.KEPT, State.FAILED, State.DECLINED, State.STOPPED})


@dataclass(frozen=True)
class Token:
    """A piece of the supervisor's answer, as the model produces it."""

    text: str


@dataclass(frozen=True)
class Answer:
    """The supervisor's complete answer for this step."""

    text: str


@dataclass(frozen=True)
class ToolStarted:
    """The supervisor called a tool."""

    call_id: str
    name: str
    label: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Undo:
    """What a person may take back of a tool's effect (``Engine.undo``): a kept memory."""

    kind: str
    key: str


@dataclass(frozen=True)
class ToolFinished:
    """A tool call ended: ``summary`` is one line for a person, ``content`` what it returned."""

    call_id: str
    name: str
    outcome: Outcome
    summary: str
    content: str
    undo: Undo | None = None


@dataclass(frozen=True)
class Notice:
    """A note for the person outside any tool (a tool server is down)."""

    text: str


@dataclass(frozen=True)
class Activity:
    """A piece of a tool's work, shown as a nested step (``key`` is stable per piece)."""

    call_id: str
    key: str
    title: str
    text: str
    state: State
    parent: str | None = None


@dataclass(frozen=True)
class ProgressItem:
    """One line of a progress board."""

    label: str
    state: State
    note: str = ""


@dataclass(frozen=True)
class Progress:
    """The whole live board of a long tool run (each event replaces the previous one)."""

    call_id: str
    title: str
    items: tuple[ProgressItem, ...]
    started_at: float
    """Wall-clock time (epoch seconds) the run started, for an elapsed-time display."""
    note: str = ""

    @property
    def finished(self) -> int:
        """How many items are finished (done, kept, failed...)."""
        return sum(item.state in FINISHED_STATES for item in self.items)


@dataclass(frozen=True)
class FileRef:
    """A stored file a face can offer for download."""

    key: str
    name: str
    mime: str


@dataclass(frozen=True)
class Document:
    """A finished document (a research report) to show in full, with its downloads."""

    call_id: str
    title: str
    markdown: str
    files: tuple[FileRef, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ApprovalNeeded:
    """The run paused; answer ``request`` (HITL schema) to go on."""

    interrupt_id: str
    request: ApprovalRequest


Event = (
    Token
    | Answer
    | ToolStarted
    | ToolFinished
    | Activity
    | Progress
    | Document
    | ApprovalNeeded
    | Notice
)

TOOL_EVENTS = (Activity, Progress, Document)
"""Events tools write themselves through the stream writer."""


async def translate(
    stream: AsyncIterator[Any], labels: Mapping[str, str] | None = None
) -> AsyncGenerator[Event, None]:
    """Events from ``astream(..., stream_mode=["messages", "updates", "custom"], subgraphs=True)``.

    ``labels``: a person's name for each tool ("Research", "Web search").
    """
    labels = labels or {}
    seen: set[str] = set()
    async for namespace, mode, data in stream:
        top = not namespace
        if mode == "messages":
            chunk, meta = data
            if (
                top
                and meta.get("langgraph_node") == MODEL_NODE
                and isinstance(chunk, AIMessageChunk)
            ):
                text = chunk.text if isinstance(chunk.text, str) else str(chunk.content)
                if text:
                    yield Token(text)
        elif mode == "custom":
            if isinstance(data, TOOL_EVENTS):
                yield data
        elif mode == "updates":
            for node, update in data.items():
                for event in _from_update(node, update, top, seen, labels):
                    yield event


def _from_update(
    node: str, update: Any, top: bool, seen: set[str], labels: Mapping[str, str]
) -> list[Event]:
    if node == "__interrupt__":
        fresh = [i for i in update if i.id not in seen]
        seen.update(i.id for i in fresh)
        return [ApprovalNeeded(i.id, ApprovalRequest.parse(i.value)) for i in fresh]
    if not top or not isinstance(update, dict):
        return []
    events: list[Event] = []
    for message in update.get("messages", []):
        if isinstance(message, AIMessage):
            events.extend(
                ToolStarted(c["id"] or "", c["name"], labels.get(c["name"], c["name"]), c["args"])
                for c in message.tool_calls
            )
            if not message.tool_calls and message.text:
                events.append(Answer(message.text))
        elif isinstance(message, ToolMessage):
            events.append(tool_finished(message))
    return events


def tool_finished(message: ToolMessage) -> ToolFinished:
    """The event for a tool's result message."""
    artifact = message.artifact if isinstance(message.artifact, dict) else {}
    content = message.text if isinstance(message.text, str) else str(message.content)
    outcome = Outcome(
        artifact.get("outcome") or ("failed" if message.status == "error" else "done")
    )
    summary = str(artifact.get("summary") or _first_line(content))
    undo = artifact.get("undo")
    taken = (
        Undo(str(undo.get("kind", "")), str(undo.get("key", "")))
        if isinstance(undo, dict) and undo.get("key")
        else None
    )
    return ToolFinished(message.tool_call_id, message.name or "", outcome, summary, content, taken)


def _first_line(text: str) -> str:
    return brief(next((part for part in text.splitlines() if part.strip()), ""), 200)
