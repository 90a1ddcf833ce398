"""The toolbox: the operator's MCP servers, their states and their LangChain tools."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import anyio
from langchain_core.tools import BaseTool, ToolException
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from mcp.types import CONNECTION_CLOSED, CallToolResult
from mcp.types import Tool as MCPTool

from tools.mcp.adapt import MAX_RESULT_CHARS, adapt
from tools.mcp.config import ServerConfig, Transport
from tools.mcp.connection import (
    Connection,
    Gone,
    cause,
    handshake,
    list_tools,
    open_session,
    unless_gone,
)

logger = logging.getLogger(__name__)

State = Literal["starting", "connected", "failed", "closed"]

_START_GRACE = 5.0  # beyond the start timeout, for a start stuck before the handshake
_CLOSE_TIMEOUT = 10.0  # stopping a stdio server takes up to ~4 s (stdin closed, TERM, KILL)


@dataclass(frozen=True)
class ServerStatus:
    """What a person or the UI needs to know about one server."""

    name: str
    transport: Transport
    state: State
    tools: tuple[str, ...]
    error: str | None = None


class _Server:
    """One configured server: its connections over time, its state and its LangChain tools."""

    def __init__(self, config: ServerConfig, box: MCPToolbox) -> None:
        self.config = config
        self.box = box
        self.state: State = "starting"
        self.reason = ""  # why it failed; see ``error``
        self.failed_conn: Connection | None = None  # whose stderr explains it, if any
        self.retry_at = 0.0
        self.conn: Connection | None = None
        self.lock = asyncio.Lock()
        self.tools: dict[str, tuple[MCPTool, BaseTool]] = {}  # by the server's own tool name

    @property
    def error(self) -> str | None:
        """Why the server failed, with its last stderr line (read now: it may arrive late)."""
        if self.state != "failed":
            return None
        return self.reason + (self.failed_conn.note() if self.failed_conn else "")

    @property
    def label(self) -> str:
        return f"The {self.config.name} server"

    async def start(self) -> None:
        """(Re)start: connect, shake hands and list tools, within the start timeout."""
        async with self.lock:
            await self._start()

    async def _start(self) -> None:
        if self.state == "closed":
            return
        if self.conn is not None:
            self.conn.stop()
        conn = self.conn = Connection()
        self.state = "starting"
        self.box._spawn(self._serve(conn), self.config.name)
        limit = self.box.start_timeout
        try:
            await asyncio.wait_for(conn.ready.wait(), limit + _START_GRACE)
        except TimeoutError:
            self._failed(conn, f"did not start within {limit:g} s")

    async def refresh(self) -> None:
        """Re-list a connected server's tools; restart a failed one if its backoff is over."""
        async with self.lock:
            if self.state == "connected" and self.conn and self.conn.session:
                conn, session = self.conn, self.conn.session
                try:
                    limit = self.box.start_timeout
                    self._listed(await unless_gone(conn.wake, list_tools(session), limit))
                    conn.answered()
                    return
                except Exception as exc:
                    why = (
                        "did not answer"
                        if isinstance(exc, TimeoutError)
                        else cause(exc, self.config)
                    )
                    self._failed(conn, f"stopped answering: {why}")
            if self.state == "failed" and self.box.clock() >= self.retry_at:
                await self._start()

    def close(self) -> None:
        self.state = "closed"
        if self.conn is not None:
            self.conn.stop()

    async def _serve(self, conn: Connection) -> None:
        """Own one connection from start to close, in this one task (anyio scopes need that)."""
        config = self.config
        try:
            async with AsyncExitStack() as stack:
                session = await open_session(stack, config, conn, self.box.start_timeout)
                limit = self.box.start_timeout
                try:
                    listed = await unless_gone(conn.wake, handshake(session), limit)
                except TimeoutError:
                    self._failed(conn, f"did not start within {limit:g} s")
                    return  # leaving the stack stops the process
                self._connected(conn, session, listed)
                await conn.wake.wait()
                conn.session = None
                if not conn.stopping:  # the transport closed: the process exited
                    self._failed(conn, "stopped unexpectedly")
        except Exception as exc:
            starting = "" if conn.was_connected else "could not start: "
            self._failed(conn, f"{starting}{cause(exc, config)}")
        finally:
            conn.session = None
            conn.ready.set()

    def _connected(self, conn: Connection, session: ClientSession, listed: list[MCPTool]) -> None:
        if conn is not self.conn or self.state != "starting":
            conn.stop()
            return
        conn.session, conn.was_connected = session, True
        conn.answered()
        self.state = "connected"
        self._listed(listed)
        conn.ready.set()

    def _failed(self, conn: Connection, reason: str, *, explain: bool = True) -> None:
        """Mark ``conn``'s server failed (once) and stop ``conn``.

        ``explain``: the server's last stderr line is worth adding to ``reason``.
        """
        conn.stop()
        conn.ready.set()
        if conn is not self.conn or self.state in ("failed", "closed"):
            return
        logger.warning("MCP server %s: %s", self.config.name, reason)
        self.state, self.reason = "failed", reason
        self.failed_conn = conn if explain else None
        # A server that ran and then failed is restarted at the next refresh; one that could
        # not start waits for the retry interval.
        self.retry_at = self.box.clock() + (0 if conn.was_connected else self.box.retry_interval)

    def _listed(self, listed: list[MCPTool]) -> None:
        allowed = self.config.tools
        kept = {t.name: t for t in listed if allowed is None or t.name in allowed}
        tools = {}
        for name, tool in kept.items():
            old = self.tools.get(name)  # an unchanged tool keeps its LangChain object
            tools[name] = old if old and old[0] == tool else (tool, self._adapt(tool))
        self.tools = tools

    def _adapt(self, tool: MCPTool) -> BaseTool:
        return adapt(tool, self.config, self.call, self.box.max_result_chars)

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call ``tool`` on the live session; raise ``ToolException`` with a readable reason."""
        conn = self.conn
        session = conn.session if conn is not None and self.state == "connected" else None
        if conn is None or session is None:
            why = self.error or {"starting": "it is starting"}.get(self.state, "it was shut down")
            raise ToolException(f"{self.label} is not available right now: {why}.")
        timeout = self.config.timeout
        try:
            result = await unless_gone(conn.wake, session.call_tool(tool, arguments), timeout)
            conn.answered()
            return result
        except TimeoutError:
            reason = f"did not answer a call to {tool} within {timeout:g} s"
            self._failed(conn, reason, explain=False)
            raise ToolException(f"{self.label} did not answer within {timeout:g} s.") from None
        except McpError as exc:
            if exc.error.code != CONNECTION_CLOSED:
                raise ToolException(f"{self.label} refused the call: {exc.error.message}") from None
        except Gone:
            if self.state == "closed":
                raise ToolException(f"{self.label} was shut down while answering.") from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
            pass
        if conn is not self.conn or self.state != "failed":  # else its task already said why
            self._failed(conn, cause(Gone(), self.config))
        raise ToolException(f"{self.label} failed while answering: {self.error}.")

    def status(self) -> ServerStatus:
        connected = self.state == "connected"
        names = tuple(lc.name for _, lc in self.tools.values()) if connected else ()
        return ServerStatus(self.config.name, self.config.transport, self.state, names, self.error)


class MCPToolbox:
    """The operator's MCP servers and their tools; one per process.

    ``await start()`` once, ``await refresh()`` before each agent turn, ``tools()`` for the
    current list, ``await aclose()`` at shutdown (or use ``async with``). Sessions stay open
    between calls: a stdio server is started once, not per call.
    """

    def __init__(
        self,
        servers: Sequence[ServerConfig],
        *,
        start_timeout: float = 20.0,
        retry_interval: float = 30.0,
        max_result_chars: int = MAX_RESULT_CHARS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``start_timeout``: seconds for a server to start and list its tools.

        ``retry_interval``: seconds between restarts of a server that could not start.
        """
        names = [s.name for s in servers]
        if len(set(names)) != len(names):
            raise ValueError(f"MCP server names must be distinct: {names}")
        self.start_timeout = start_timeout
        self.retry_interval = retry_interval
        self.max_result_chars = max_result_chars
        self.clock = clock
        self._servers = [_Server(config, self) for config in servers]
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> MCPToolbox:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Connect every server at once; each ends connected or failed, never hangs or raises."""
        await asyncio.gather(*(server.start() for server in self._servers))

    async def refresh(self) -> None:
        """Before a turn: re-list tools, restart failed servers (at most once per interval)."""
        await asyncio.gather(*(server.refresh() for server in self._servers))

    def tools(self) -> list[BaseTool]:
        """The connected servers' tools, named ``server__tool``; the same objects across calls."""
        tools: list[BaseTool] = []
        seen: set[str] = set()
        for server in self._servers:
            if server.state != "connected":
                continue
            for _, tool in server.tools.values():
                if tool.name in seen:
                    logger.warning(
                        "MCP tool name %s is taken; %s's is left out", tool.name, server.config.name
                    )
                    continue
                seen.add(tool.name)
                tools.append(tool)
        return tools

    def status(self) -> list[ServerStatus]:
        """Each server's state, tool names and error line, in the config's order."""
        return [server.status() for server in self._servers]

    async def aclose(self) -> None:
        """Stop every session and process; wait for them (bounded) so none is left behind."""
        for server in self._servers:
            server.close()
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=2.0)

    def _spawn(self, work: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(work, name=f"mcp-server-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
