"""Helpers shared by the engine tests: run a turn, answer a question, read a thread."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from assistant.context import Choices
from assistant.engine import Engine
from assistant.events import ApprovalNeeded, Event
from assistant.research.citations import CITATION, numbers
from assistant.storage import LOCAL_OWNER, ThreadKind

OWNER = LOCAL_OWNER


async def collect(events: AsyncIterator[Event]) -> list[Event]:
    """Every event of one run."""
    return [event async for event in events]


def of(kind: type, events: list[Event]) -> list[Any]:
    """The events of one type."""
    return [e for e in events if isinstance(e, kind)]


def the_approval(events: list[Event]) -> ApprovalNeeded:
    """The single approval a run stopped at."""
    found = of(ApprovalNeeded, events)
    assert len(found) == 1, events
    return found[0]


async def chat(
    engine: Engine, thread: str, text: str, owner: str = OWNER, **choices: Any
) -> list[Event]:
    """One turn of ``owner`` with their ``choices`` (model, max_parallel, approve)."""
    return await collect(engine.chat(thread, text, owner=owner, choices=Choices.of(**choices)))


async def answer(
    engine: Engine, thread: str, interrupt_id: str, value: Any, owner: str = OWNER, **choices: Any
) -> list[Event]:
    """Answer one question and run on."""
    return await collect(
        engine.resume(thread, {interrupt_id: value}, owner=owner, choices=Choices.of(**choices))
    )


async def pending(engine: Engine, thread: str, owner: str = OWNER) -> list[ApprovalNeeded]:
    """The questions the thread still waits for."""
    return (await engine.thread(thread, owner=owner)).pending


async def values(engine: Engine, thread: str, kind: ThreadKind = ThreadKind.CHAT) -> dict[str, Any]:
    """The thread's graph state values."""
    config = {"configurable": {"thread_id": thread}}
    return dict((await engine.graphs[kind].aget_state(config)).values)


def cited_numbers(markdown: str) -> set[int]:
    """Every citation number used in a report's body (before its Sources section)."""
    body = markdown.split("\n## Sources", 1)[0]
    return {number for match in CITATION.finditer(body) for number in numbers(match)}
