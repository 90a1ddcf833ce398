"""``describe`` turns every failure into one actionable line; ``validate_message`` cleans input."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite
import httpx
import openai
import pytest

from assistant.errors import (
    MAX_MESSAGE_CHARS,
    ConfigurationError,
    InputError,
    PlanRejected,
    clean_text,
    describe,
    validate_message,
)
from tools.search import SearchError, SearchRateLimited
from tools.text import exception_chain, network_cause

# Any: the SDK is typed against its own httpx build, but duck-types these at run time.
REQUEST: Any = httpx.Request("POST", "http://model.test/v1/chat/completions")


def status_error(kind: type[openai.APIStatusError], status: int, message: str = "m") -> Exception:
    """An openai status error as the SDK raises it."""
    response: Any = httpx.Response(status, request=REQUEST)
    return kind(message, response=response, body=None)


def one_line(text: str) -> str:
    assert text and "\n" not in text, text
    return text


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (status_error(openai.AuthenticationError, 401), ["(401)", "OPENAI_API_KEY"]),
        (status_error(openai.RateLimitError, 429), ["rate-limiting", "(429)", "try again"]),
        (openai.APITimeoutError(request=REQUEST), ["did not answer in time"]),
        (openai.APIConnectionError(request=REQUEST), ["Cannot reach the model server"]),
        (status_error(openai.NotFoundError, 404), ["does not know this model", "ASSISTANT_MODEL"]),
        (status_error(openai.InternalServerError, 500, "Boom"), ["(500)", "Boom"]),
        (status_error(openai.BadRequestError, 400, "context too long"), ["(400)", "context"]),
        (status_error(openai.APIStatusError, 503, "overloaded"), ["(503)", "overloaded"]),
    ],
    ids=["auth", "ratelimit", "timeout", "connection", "notfound", "500", "400", "503"],
)
def test_openai_errors(exc: Exception, expected: list[str]) -> None:
    text = one_line(describe(exc))
    for part in expected:
        assert part in text
    assert not text.startswith("Unexpected error")


def test_a_connection_lost_mid_answer_is_not_called_unreachable() -> None:
    """With the SDK's default client a cut-off reply is h11's ``RemoteProtocolError`` (with the
    aiohttp one a ``ReadError``: tests/test_supervisor.py), wrapped by langchain-openai."""
    import httpx2

    lost = openai.APIConnectionError(request=REQUEST)
    lost.__cause__ = httpx2.RemoteProtocolError("incomplete chunked read")
    assert "broke off its answer" in one_line(describe(lost))


def test_an_error_that_is_its_own_cause_is_described() -> None:
    """langchain-openai (1.7) raises connection errors that are their own ``__cause__``."""
    import httpx2

    looped = openai.APIConnectionError(request=REQUEST)
    looped.__cause__ = looped
    assert "Cannot reach the model server" in one_line(describe(looped))
    looped.__context__ = httpx2.ReadError("payload not completed")
    assert "broke off its answer" in one_line(describe(looped))


def test_the_chain_of_an_error_that_is_its_own_cause_ends() -> None:
    """``exception_chain`` (under ``describe`` and ``network_cause``) meets each error once."""
    looped = openai.APIConnectionError(request=REQUEST)
    looped.__cause__ = looped
    assert list(exception_chain(looped)) == [looped]
    looped.__context__ = refused = ConnectionRefusedError()
    assert list(exception_chain(looped)) == [looped, refused]
    assert network_cause(looped) == "connection refused"


def test_timeout_is_not_described_as_unreachable() -> None:
    # APITimeoutError is a subclass of APIConnectionError: the more precise line wins
    assert "Cannot reach" not in describe(openai.APITimeoutError(request=REQUEST))


def test_long_server_message_is_shortened_to_one_line() -> None:
    exc = status_error(openai.InternalServerError, 500, "line one\nline two " + "x" * 1000)
    text = one_line(describe(exc))
    assert "line one line two" in text
    assert len(text) < 300 and text.endswith("…")


@pytest.mark.parametrize(
    "exc",
    [
        sqlite3.OperationalError("database is locked"),
        aiosqlite.OperationalError("database table is locked"),
    ],
)
def test_locked_database(exc: Exception) -> None:
    text = one_line(describe(exc))
    assert "database is locked by another process" in text


def test_other_sqlite_error_is_unexpected() -> None:
    text = one_line(describe(sqlite3.OperationalError("no such table: threads")))
    assert text == "Unexpected error: OperationalError: no such table: threads"


@pytest.mark.parametrize(
    "exc",
    [
        InputError("The message is empty."),
        ConfigurationError("OPENAI_API_KEY is not set."),
        PlanRejected("The plan was rejected."),
    ],
)
def test_assistant_errors_are_shown_as_they_are(exc: Exception) -> None:
    assert describe(exc) == str(exc)


def test_search_errors_are_shown_as_they_are() -> None:
    assert describe(SearchError("searxng", "SearxNG is down")) == "SearxNG is down"
    assert describe(SearchRateLimited("tavily", "Tavily: 429")) == "Tavily: 429"


def test_plain_timeout() -> None:
    assert describe(TimeoutError()) == "An operation timed out: try again."


def test_unknown_error_names_its_type() -> None:
    assert describe(ValueError("bad\n  thing")) == "Unexpected error: ValueError: bad thing"


# --- validate_message ----------------------------------------------------------------------


def test_message_is_stripped() -> None:
    assert validate_message("  hello world \n") == "hello world"


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n", None, "\x00\x01\x1b"])
def test_empty_message(text: str | None) -> None:
    with pytest.raises(InputError, match="The message is empty"):
        validate_message(text)


def test_empty_topic_names_the_topic() -> None:
    with pytest.raises(InputError, match="The topic is empty"):
        validate_message(" ", what="topic")


def test_message_at_the_limit_is_accepted() -> None:
    assert len(validate_message("a" * MAX_MESSAGE_CHARS)) == MAX_MESSAGE_CHARS


def test_message_over_the_limit_is_refused() -> None:
    with pytest.raises(InputError, match="too long") as caught:
        validate_message("a" * (MAX_MESSAGE_CHARS + 1))
    assert "100,001" in str(caught.value) and "100,000" in str(caught.value)


def test_huge_message_is_refused() -> None:
    with pytest.raises(InputError, match="too long"):
        validate_message("x" * 1_000_000)


def test_control_characters_are_dropped_but_layout_kept() -> None:
    assert validate_message("a\x00b\x07c\x1b[31m\td\ne\u200b") == "abc[31m\td\ne"


def test_lone_surrogates_are_replaced() -> None:
    cleaned = validate_message("caf\udcff ok")
    assert "\udcff" not in cleaned
    cleaned.encode("utf-8")  # encodable: can be sent as JSON and stored


def test_unicode_text_is_kept() -> None:
    text = "Grüße, 東京, émoji 🌊 — fine"
    assert clean_text(text) == text
