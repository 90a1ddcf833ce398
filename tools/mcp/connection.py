"""One connection to an MCP server: transport and session, owned by one task, and its stop.

A stdio server's stderr is kept (its last line explains failures) and the end of its output is
noticed at once, so a server that exits is marked failed without waiting for a call.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Coroutine
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from langchain_mcp_adapters.sessions import StreamableHttpConnection, create_session
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError
from mcp.shared.message import SessionMessage
from mcp.types import CONNECTION_CLOSED, PaginatedRequestParams
from mcp.types import Tool as MCPTool

from tools.mcp.config import ServerConfig
from tools.text import network_cause

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_STDERR_LINES = 20


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def cause(exc: BaseException, config: ServerConfig) -> str:
    """A few words on why a connection failed."""
    exc = _leaf(exc)
    if isinstance(exc, FileNotFoundError) and config.transport == "stdio":
        if config.cwd and not Path(config.cwd).is_dir():
            return f"its cwd {config.cwd} does not exist"
        return f"cannot run {config.command!r}: no such program"
    if isinstance(exc, PermissionError) and config.transport == "stdio":
        return f"cannot run {config.command!r}: permission denied"
    if isinstance(exc, Gone) or (isinstance(exc, McpError) and exc.error.code == CONNECTION_CLOSED):
        return "it exited" if config.transport == "stdio" else "it closed the connection"
    if isinstance(exc, McpError):
        return f"it answered with an error: {_short(exc.error.message)}"
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        hint = " (check its headers / token)" if status in (401, 403) else ""
        return f"{config.url} answered HTTP {status}{hint}"
    if isinstance(exc, httpx.TimeoutException):
        return f"{config.url} did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach {config.url} ({_connect_cause(exc)})"
    if isinstance(exc, anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream):
        return "the connection is closed"
    return f"{type(exc).__name__}: {_short(str(exc))}" if str(exc) else type(exc).__name__


def _connect_cause(exc: BaseException) -> str:
    return network_cause(exc) or _short(str(exc)) or "connection failed"


class StderrTail:
    """A stdio server's error output: logged at debug level, its last lines kept for reasons."""

    def __init__(self, server: str) -> None:
        read_fd, write_fd = os.pipe()
        self.server = server
        self.writer = os.fdopen(write_fd, "w")  # the child's stderr; closed here once spawned
        self.lines: deque[str] = deque(maxlen=_STDERR_LINES)
        self.count = self.seen = 0  # lines so far; lines before the last good answer
        self.done = anyio.Event()
        self._reader = os.fdopen(read_fd, "rb", buffering=0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader()
        try:
            pipe, _ = await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(stream), self._reader
            )
        except BaseException:
            self._reader.close()
            raise
        partial = b""
        try:
            while chunk := await stream.read(65536):
                *lines, partial = (partial + chunk).split(b"\n")
                partial = partial[:4096]
                for line in lines:
                    self._add(line)
            self._add(partial)
        finally:
            pipe.close()
            self.done.set()

    def _add(self, raw: bytes) -> None:
        line = raw.decode(errors="replace").strip()
        if line:
            self.lines.append(line)
            self.count += 1
            logger.debug("MCP server %s: %s", self.server, line)

    def note(self) -> str:
        """`` (last error output: ...)`` if the server wrote any since its last good answer."""
        if self.count == self.seen:
            return ""
        return f" (last error output: {_short(self.lines[-1], 200)})"


async def _forward(
    source: MemoryObjectReceiveStream[SessionMessage | Exception],
    sink: MemoryObjectSendStream[SessionMessage | Exception],
    closed: asyncio.Event,
) -> None:
    """Pass the transport's messages to the session; set ``closed`` when the transport ends."""
    try:
        async with sink:
            async for item in source:
                await sink.send(item)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
    finally:
        closed.set()


async def list_tools(session: ClientSession) -> list[MCPTool]:
    listed: list[MCPTool] = []
    cursor: str | None = None
    for _ in range(100):
        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
        listed.extend(page.tools)
        cursor = page.nextCursor
        if not cursor:
            return listed
    raise RuntimeError("the server's tool list did not end after 100 pages")


class Gone(Exception):
    """The connection was stopped, or its transport closed, while waiting for an answer."""


async def unless_gone(
    wake: asyncio.Event, work: Coroutine[Any, Any, _T], seconds: float | None
) -> _T:
    """Await ``work``; raise ``Gone`` if ``wake`` is set first, ``TimeoutError`` after ``seconds``.

    When a transport closes, the SDK's session may never fail a pending request (it is torn down,
    or the request was sent after its reader ended), so every wait races against ``wake``.
    """
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(wake.wait())
    try:
        done, _ = await asyncio.wait({task, gone}, timeout=seconds, return_when="FIRST_COMPLETED")
    finally:
        gone.cancel()
        task.cancel()  # a no-op once it is done
    if task in done:
        return task.result()
    if gone in done:
        raise Gone
    raise TimeoutError


async def handshake(session: ClientSession) -> list[MCPTool]:
    await session.initialize()
    return await list_tools(session)


class Connection:
    """One start of a server: the task that owns its transport and session, and its stop."""

    def __init__(self) -> None:
        self.session: ClientSession | None = None
        self.ready = asyncio.Event()  # connected, or failed to
        self.wake = asyncio.Event()  # stop asked, or the transport closed
        self.stopping = False
        self.was_connected = False
        self.stderr: StderrTail | None = None

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    def note(self) -> str:
        return self.stderr.note() if self.stderr else ""

    def answered(self) -> None:
        """The server answered well: what it wrote so far explains no later failure."""
        if self.stderr:
            self.stderr.seen = self.stderr.count


async def open_session(
    stack: AsyncExitStack, config: ServerConfig, conn: Connection, start_timeout: float
) -> ClientSession:
    """Open ``config``'s transport and session on ``stack`` (not yet initialised)."""
    if config.transport == "streamable_http":
        connection: StreamableHttpConnection = {
            "transport": "streamable_http",
            "url": config.url,
            "headers": dict(config.headers),
            "timeout": start_timeout,
        }
        return await stack.enter_async_context(create_session(connection))
    # stdio through the SDK directly, to keep the server's stderr and notice when it exits.
    # Exit order (LIFO): session, process (stdin closed, TERM, KILL), drain stderr, helpers.
    helpers = await stack.enter_async_context(anyio.create_task_group())
    stack.callback(helpers.cancel_scope.cancel)  # runs last: after the process is gone
    tail = conn.stderr = StderrTail(config.name)
    helpers.start_soon(tail.run)

    async def drain() -> None:
        with anyio.move_on_after(0.5):
            await tail.done.wait()

    stack.push_async_callback(drain)
    params = StdioServerParameters(
        command=config.command,
        args=list(config.args),
        env=None if config.env is None else dict(config.env),
        cwd=config.cwd,
    )
    try:
        read, write = await stack.enter_async_context(stdio_client(params, errlog=tail.writer))
    finally:
        tail.writer.close()
    send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    helpers.start_soon(_forward, read, send, conn.wake)
    return await stack.enter_async_context(ClientSession(receive, write))
