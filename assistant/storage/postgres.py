"""PostgreSQL behind the same ``Database`` interface, on a psycopg 3 connection pool.

Statements are written once with ``?`` placeholders (``threads.py`` and the rest) and
translated to psycopg's ``%s`` here, once per statement text. Every statement commits on
its own (autocommit connections); ``transaction()`` runs several on one pooled connection.

Deleting on PostgreSQL: a deleted row is gone from every query at once; the space it took
is reclaimed later by autovacuum, and until then the old row version stays in the table's
files (and in the write-ahead log, and in any backup or replica) where only someone with
access to the server's files could read it. ``flush_log`` can do nothing about that and
does nothing; there is no equivalent of SQLite's ``secure_delete`` here.

Connection failures at start are turned into one line naming ``ASSISTANT_DATABASE_URL``:
``DatabaseRefused`` (a configuration error: wrong password, unknown user or database) or
``DatabaseUnreachable`` (nothing answers, or not in time).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
from collections.abc import AsyncIterator, Sequence
from typing import Any, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool

from assistant.errors import AssistantError, ConfigurationError
from assistant.storage.db import Row, Transaction

URL_SETTING = "ASSISTANT_DATABASE_URL"
FIX_HINT = f"check {URL_SETTING}."
HISTORY_SCHEMA = "chat_history"
"""Chainlit's tables (one of them is called ``threads``, like ours) live in this schema."""
STATEMENT_TIMEOUT_S = 120
"""No single statement may run longer (the largest is a checkpoint write)."""
IDLE_IN_TRANSACTION_S = 60
"""A transaction left open by a stuck process is ended by the server after this long."""
SCHEMA_LOCK = 7_283_150_611
"""Advisory lock held while one process creates or upgrades the schemas (others wait)."""


class DatabaseUnreachable(AssistantError):
    """Nothing (or not PostgreSQL) answers at the configured address, or not in time."""


class DatabaseRefused(ConfigurationError):
    """The server answered and refused: wrong password, unknown user or database, no rights."""


def where(url: str) -> str:
    """``host:port`` of ``url`` for messages (never the user or password)."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the configured address"
    host = str(params.get("host") or "localhost")
    port = str(params.get("port") or 5432)
    if host.startswith("/"):
        return f"the local socket in {host}"
    return f"{host}:{port}"


def connection_error(exc: Exception, url: str, timeout: float) -> AssistantError:
    """One line for a failed connection to ``url``, as the right kind of error."""
    text = str(exc)
    lower = text.lower()
    at = where(url)
    fix = FIX_HINT
    name = _quoted(text)
    refusal = None
    if "password authentication failed" in lower:
        refusal = f"wrong password for user {name}" if name else "wrong password"
    elif "does not exist" in lower and "role" in lower:
        refusal = f"no user {name}"
    elif "does not exist" in lower and "database" in lower:
        refusal = f"no database {name}"
    elif "no pg_hba.conf entry" in lower:
        refusal = "its pg_hba.conf does not let this client in"
    elif "permission denied" in lower:
        refusal = "permission denied"
    if refusal is not None:
        return DatabaseRefused(f"The database at {at} refused the connection ({refusal}): {fix}")
    if "connection refused" in lower:
        reason = "connection refused"
    elif "timeout" in lower or isinstance(exc, TimeoutError):
        reason = f"no answer within {_connect_timeout(timeout)} s"
    elif "resolve host" in lower or "translate host name" in lower:
        reason = "host name not found"
    elif "ssl negotiation" in lower or "closed the connection unexpectedly" in lower:
        reason = "it does not answer as a PostgreSQL server"
    elif "no such file or directory" in lower:
        reason = "no server on that socket"
    elif "invalid" in lower and "connection is bad" in lower:
        return DatabaseRefused(f"Cannot use the database URL ({_first_line(text)}): {fix}")
    else:
        reason = _first_line(text)
    return DatabaseUnreachable(f"Cannot connect to the database at {at} ({reason}): {fix}")


def setup_refused(exc: psycopg.errors.InsufficientPrivilege, url: str) -> DatabaseRefused:
    """One line for a user that may connect but not create or change the tables."""
    try:
        user = str(conninfo_to_dict(url).get("user") or "the configured user")
    except psycopg.ProgrammingError:
        user = "the configured user"
    return DatabaseRefused(
        f"The database at {where(url)} does not let {user} create the assistant's tables "
        f"({_first_line(str(exc))}): grant it CREATE on the database and its schema, or "
        f"{FIX_HINT}"
    )


def _connect_timeout(timeout: float) -> int:
    return max(2, math.ceil(timeout))  # libpq takes whole seconds and treats 1 as 2


def _quoted(text: str) -> str:
    parts = text.split('"')
    return parts[-2] if len(parts) >= 3 else ""


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line.removeprefix("connection failed: ").strip()[:200]


def connect_kwargs(url: str, timeout: float, search_path: str | None = None) -> dict[str, Any]:
    """Connection parameters added to ``url``'s: timeouts, and a ``search_path`` if given.

    Server options the URL already sets (``?options=...``) are kept; ours come after them.
    """
    ms = {
        "statement_timeout": STATEMENT_TIMEOUT_S * 1000,
        "lock_timeout": int(timeout * 1000),
        "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_S * 1000,
    }
    options = [str(conninfo_to_dict(url).get("options") or "")]
    options += [f"-c {name}={value}" for name, value in ms.items()]
    if search_path:
        options.append(f"-c search_path={search_path}")
    return {
        "connect_timeout": _connect_timeout(timeout),
        "options": " ".join(o for o in options if o),
        "application_name": "assistant",
    }


def check_connection(url: str, timeout: float) -> None:
    """Connect once and disconnect; raise ``DatabaseRefused`` or ``DatabaseUnreachable``."""
    try:
        with psycopg.connect(url, **connect_kwargs(url, timeout)):
            pass
    except (psycopg.Error, OSError) as exc:
        raise connection_error(exc, url, timeout) from None


@functools.lru_cache(maxsize=512)
def for_psycopg(sql: str) -> str:
    """``sql`` with ``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` as ``%%``).

    Question marks inside quoted strings or identifiers are left alone.
    """
    out: list[str] = []
    quote = ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        if char == "%":
            out.append("%%")
            continue
        out.append(char)
    return "".join(out)


def _query(sql: str, params: Sequence[Any]) -> tuple[str, Sequence[Any] | None]:
    return (for_psycopg(sql), tuple(params)) if params else (sql, None)


class _PostgresTransaction:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self.conn.execute(*_query(sql, params))
        return max(cursor.rowcount, 0)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.conn.cursor() as cursor:  # psycopg pipelines the rows
            await cursor.executemany(for_psycopg(sql), [tuple(row) for row in rows])

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cursor = await self.conn.execute(*_query(sql, params))
        row = await cursor.fetchone()
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = await self.conn.execute(*_query(sql, params))
        return [tuple(row) for row in await cursor.fetchall()]


class PostgresDatabase:
    """A pool of autocommit connections; each statement takes one for its duration.

    Open with ``PostgresDatabase.open``. ``pool`` is shared with LangGraph's
    ``AsyncPostgresSaver`` (it needs autocommit connections too).
    """

    dialect: Literal["sqlite", "postgres"] = "postgres"

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        """Use an open pool."""
        self.pool = pool

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        busy_timeout: float = 10.0,
        max_size: int = 10,
        min_size: int = 1,
        search_path: str | None = None,
    ) -> PostgresDatabase:
        """Connect to ``url``; raise ``DatabaseRefused``/``DatabaseUnreachable`` in one line.

        ``busy_timeout``: seconds to connect, to wait for a pooled connection and for a row
        lock. ``search_path``: the schema unqualified table names mean.
        """
        kwargs = {**connect_kwargs(url, busy_timeout, search_path), "autocommit": True}
        try:  # one plain connection first: the pool would only say that it timed out
            probe = await psycopg.AsyncConnection.connect(url, **kwargs)
        except (psycopg.Error, OSError) as exc:
            raise connection_error(exc, url, busy_timeout) from None
        await probe.close()
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            kwargs=kwargs,
            min_size=min(min_size, max_size),
            max_size=max_size,
            timeout=busy_timeout,
            name="assistant",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=busy_timeout)
        except Exception as exc:
            await pool.close()
            raise connection_error(exc, url, busy_timeout) from None
        return cls(pool)

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection. Pooled connections are not tested before use (that would
        double the round trips of every statement); when one turns out dead (the server
        restarted), all idle ones are checked at once, so that one statement fails
        rather than one per stale connection."""
        async with self.pool.connection() as conn:
            try:
                yield conn
            except psycopg.OperationalError:
                if conn.broken:
                    with contextlib.suppress(Exception):
                        await self.pool.check()
                raise

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement, committed at once; the number of rows it changed."""
        async with self._connection() as conn:
            cursor = await conn.execute(*_query(sql, params))
            return max(cursor.rowcount, 0)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``sql`` once per row, committed at once (psycopg pipelines the rows)."""
        async with self._connection() as conn:
            await _PostgresTransaction(conn).executemany(sql, rows)

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row of ``sql``, if any."""
        async with self._connection() as conn:
            cursor = await conn.execute(*_query(sql, params))
            row = await cursor.fetchone()
        return tuple(row) if row is not None else None

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Every row of ``sql``."""
        async with self._connection() as conn:
            cursor = await conn.execute(*_query(sql, params))
            rows = await cursor.fetchall()
        return [tuple(row) for row in rows]

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Statements that commit together on one connection; an exception rolls back."""
        async with self._connection() as conn, conn.transaction():
            yield _PostgresTransaction(conn)

    async def executescript(self, script: str) -> None:
        """Run several ``;``-separated statements (no parameters)."""
        async with self._connection() as conn:
            await conn.execute(script)

    @contextlib.asynccontextmanager
    async def schema_lock(self, wait_s: float = 120.0) -> AsyncIterator[None]:
        """Held while creating or upgrading schemas: processes starting at once take turns
        (two concurrent ``CREATE TABLE IF NOT EXISTS`` can fail on PostgreSQL).

        Polled with ``pg_try_advisory_lock`` rather than waited for in one statement: a
        session waiting inside a statement holds a snapshot, and LangGraph's
        ``CREATE INDEX CONCURRENTLY`` in the holder would wait for it (a deadlock that only
        the lock timeout ends).
        """
        deadline = asyncio.get_running_loop().time() + wait_s
        async with self.pool.connection() as conn:
            while True:
                cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (SCHEMA_LOCK,))
                row = await cursor.fetchone()
                if row is not None and row[0]:
                    break
                if asyncio.get_running_loop().time() > deadline:
                    raise DatabaseUnreachable(
                        f"Another process has been setting up the database for over "
                        f"{wait_s:.0f} s: check the other assistant processes."
                    )
                await asyncio.sleep(0.1)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))

    async def flush_log(self) -> None:
        """Nothing to do: see the module's note on what deletion means on PostgreSQL."""

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.pool.close()
