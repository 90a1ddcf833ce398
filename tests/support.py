"""Helpers shared by the engine tests: run a turn, answer a question, read a thread."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest

from assistant.context import Choices
from assistant.engine import Engine
from assistant.events import ApprovalNeeded, Event
from assistant.research.citations import CITATION, numbers
from assistant.settings import Settings
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


both_backends = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)
"""Run a test on SQLite files and again on a fresh PostgreSQL database (``settings``)."""

Place = Literal["store", "checkpoints", "history"]


def query(settings: Settings, place: Place, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` placeholders) in the engine's tables (``store``), LangGraph's
    (``checkpoints``) or the chat history's, read over a connection of their own."""
    if settings.postgres_url:
        import psycopg

        from assistant.storage.postgres import HISTORY_SCHEMA, for_psycopg

        options = {"options": f"-c search_path={HISTORY_SCHEMA}"} if place == "history" else {}
        with psycopg.connect(settings.postgres_url, **options) as conn:
            cursor = conn.execute(for_psycopg(sql) if args else sql, args or None)
            return [tuple(row) for row in cursor.fetchall()]
    path = {
        "store": settings.store_path,
        "checkpoints": settings.checkpoint_path,
        "history": settings.history_path,
    }[place]
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as db:
        return db.execute(sql, args).fetchall()


def checkpoint_tables(settings: Settings) -> tuple[str, ...]:
    """The tables in which LangGraph's saver keeps a thread's state."""
    if settings.postgres_url:
        return ("checkpoints", "checkpoint_writes", "checkpoint_blobs")
    return ("checkpoints", "writes")


def stored_bytes(settings: Settings) -> dict[str, bytes]:
    """Everything the storage holds, by where: each SQLite file's bytes (free pages and
    write-ahead logs included), or every row of every PostgreSQL table in both schemas."""
    if not settings.postgres_url:
        return {
            path.name: path.read_bytes() for path in settings.data_dir.rglob("*") if path.is_file()
        }
    import psycopg
    from psycopg import sql

    from assistant.storage.postgres import HISTORY_SCHEMA

    found: dict[str, bytes] = {}
    with psycopg.connect(settings.postgres_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN (current_schema(), %s) AND table_type = 'BASE TABLE'",
            (HISTORY_SCHEMA,),
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(
                sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchall()
            found[f"{schema}.{table}"] = b"\n".join(
                value if isinstance(value, bytes) else str(value).encode()
                for row in rows
                for value in row
            )
    return found
