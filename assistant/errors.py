"""Failures a person can act on, each described in one line.

The engine lets exceptions travel up; the CLI and the UI turn them into a sentence with
``describe``. Nothing here imports a UI.
"""

from __future__ import annotations

import sqlite3

from tools.text import brief, exception_chain


class AssistantError(Exception):
    """An error whose message is already fit to show to the person."""


class ConfigurationError(AssistantError):
    """The assistant cannot start as configured (missing key, bad setting)."""


class InputError(AssistantError):
    """The person's own input cannot be used (empty, too long, wrong shape)."""


class PlanRejected(AssistantError):
    """The person rejected a research plan; nothing was searched."""


class ModelWentSilent(AssistantError, TimeoutError):
    """The model's streamed answer stopped coming before it was complete."""

    def __init__(self, seconds: float, pieces: int) -> None:
        self.seconds = seconds
        self.pieces = pieces
        what = "its answer" if pieces == 0 else "the rest of its answer"
        super().__init__(
            f"The model sent nothing for {seconds:g} s and {what} never came: try again "
            "(LANGCHAIN_OPENAI_STREAM_CHUNK_TIMEOUT_S sets how long to wait)."
        )


MAX_MESSAGE_CHARS = 100_000
"""A message larger than this (about 25k tokens) is refused, not silently cut."""


def clean_text(text: str) -> str:
    """Drop control characters (keeping newlines and tabs) and undecodable bytes."""
    text = text.encode("utf-8", "replace").decode("utf-8", "replace")
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable() or ch == " ")


def validate_message(text: str | None, *, what: str = "message") -> str:
    """Return the cleaned ``text`` or raise ``InputError`` if it cannot be sent."""
    cleaned = clean_text(text or "").strip()
    if not cleaned:
        raise InputError(f"The {what} is empty: type something to send.")
    if len(cleaned) > MAX_MESSAGE_CHARS:
        raise InputError(
            f"The {what} is too long ({len(cleaned):,} characters; the limit is "
            f"{MAX_MESSAGE_CHARS:,}). Shorten it or attach less text."
        )
    return cleaned


def describe(exc: BaseException) -> str:
    """One clear line for ``exc``, naming what failed and what to do about it."""
    if isinstance(exc, AssistantError):
        return str(exc)
    # Imported here: openai is heavy and the CLI's --help must stay fast.
    import openai

    from tools.search import SearchError

    if isinstance(exc, SearchError):
        return str(exc)
    if isinstance(exc, openai.AuthenticationError):
        return "The model server refused the API key (401): check OPENAI_API_KEY."
    if isinstance(exc, openai.RateLimitError):
        return (
            "The model server is rate-limiting requests (429) and retries did not help: "
            "wait a minute and try again."
        )
    if isinstance(exc, openai.APITimeoutError):
        return (
            "The model did not answer in time: it may be overloaded; try again or raise "
            "ASSISTANT_MODEL_TIMEOUT."
        )
    if isinstance(exc, openai.APIConnectionError):
        if _broke_off(exc):
            return "The model server broke off its answer (the connection was lost): try again."
        return (
            "Cannot reach the model server: check OPENAI_BASE_URL and that the server is running."
        )
    if isinstance(exc, openai.NotFoundError):
        return "The model server does not know this model: check ASSISTANT_MODEL."
    if isinstance(exc, openai.APIStatusError):
        return f"The model server failed ({exc.status_code}): {brief(exc.message, 200)}"
    if isinstance(exc, sqlite3.OperationalError | _aiosqlite_error()) and "locked" in str(exc):
        return (
            "The conversation database is locked by another process: close the other "
            "assistant or wait, then try again."
        )
    database = _database_problem(exc)
    if database:
        return database
    if isinstance(exc, TimeoutError):
        return "An operation timed out: try again."
    return f"Unexpected error: {type(exc).__name__}: {brief(str(exc), 200)}"


def _broke_off(exc: BaseException) -> bool:
    """The connection was lost while the answer was being read (langchain-openai reports that
    as a connection error too)."""
    import httpx2

    lost = httpx2.ReadError | httpx2.RemoteProtocolError
    return any(isinstance(cause, lost) for cause in exception_chain(exc))


def _aiosqlite_error() -> type[Exception]:
    import aiosqlite

    return aiosqlite.OperationalError


def _database_problem(exc: BaseException) -> str | None:
    """One line for a PostgreSQL failure while running (start-up failures have their own)."""
    import psycopg
    import psycopg_pool

    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return (
            "The conversation is locked in the database by another process: wait a "
            "moment, then try again."
        )
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return "The database took too long to answer: try again in a moment."
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return (
            "No database connection became free in time (the database is slow or "
            "unreachable): try again in a moment."
        )
    if isinstance(exc, psycopg.OperationalError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return (
            f"The database connection failed ({brief(first, 160)}): try again in a moment; "
            "if it keeps failing, check the database server."
        )
    return None
