"""Tools from the MCP servers the operator configures: local programs (stdio) and HTTP servers.

The config is a JSON file in the format desktop clients use::

    {"mcpServers": {
        "time": {"command": "/opt/mcp/time/bin/mcp-server-time", "args": [], "env": {}},
        "docs": {"url": "https://mcp.example.com/mcp",
                 "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}
    }}

A server has either ``command`` (with optional ``args``, ``env``, ``cwd``: a local process spoken
to over stdio) or ``url`` (with optional ``headers``: a streamable-HTTP server); ``"transport":
"stdio" | "streamable_http"`` or ``"type": "http"`` may say so explicitly. Optional per server:
``"approve"`` (default ``true``: its tools pause for the person's approval), ``"timeout"``
(seconds per call, default 30), ``"tools"`` (allow-list of the server's own tool names) and
``"disabled": true``. Other keys are ignored; VS Code's top-level ``"servers"`` works too.
``${VAR}`` and ``${VAR:-default}`` in ``env``, ``headers`` and ``url`` are read from the
operator's environment; a relative ``cwd`` is relative to the file. A local server sees only a
minimal environment (``PATH``, ``HOME``, ``USER``, ``SHELL``, ``TERM``, ``LOGNAME``) plus its
``env``: the assistant's own keys are not passed on.

Naming: the tool ``get_current_time`` of the server ``time`` is offered to the model as
``time__get_current_time`` (server, two underscores, tool). When either part has characters
outside ``[A-Za-z0-9_-]`` (a server name may not start or end with ``_`` or contain ``__``), or
the result would exceed 64 characters, the name is cleaned, cut to 55 characters and given
``_`` plus 8 hex digits of a hash of the original pair, so every name matches OpenAI's rule
``^[a-zA-Z0-9_-]{1,64}$`` and two servers cannot collide. ``tool_name`` computes it.

Failures: a tool call that fails raises ``ToolException`` with one message written for the model
("The time server did not answer within 30 s."); the caller's tool node turns it into an error
``ToolMessage``. With LangGraph's ``ToolNode`` pass ``handle_tool_errors=f`` where
``def f(e: ToolException) -> str: return str(e)`` to send the message as is (``True`` wraps it
in "Error: ToolException(...) Please fix your mistakes."; the default re-raises). An error the
MCP tool itself reports (``isError``) raises the same way with the server's text. A call that
times out, or whose server stopped, marks the server failed; the next ``refresh()`` restarts it.
A server that fails to start is retried at most once per ``retry_interval`` (30 s).

Security: local processes come only from the ``ServerConfig``s given to ``MCPToolbox``, i.e. from
the operator's file; nothing the model or a person types can start a process. Results are data:
they are returned as plain text (images and files are named, not passed on) and cut at
``max_result_chars`` (20 000) with a note. Tool descriptions are the server's own text.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar, cast

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langchain_mcp_adapters.sessions import StreamableHttpConnection, create_session
from langchain_mcp_adapters.tools import convert_mcp_tool_to_langchain_tool
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError
from mcp.shared.message import SessionMessage
from mcp.types import CONNECTION_CLOSED, CallToolResult, PaginatedRequestParams
from mcp.types import Tool as MCPTool

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
Transport = Literal["stdio", "streamable_http"]
State = Literal["starting", "connected", "failed", "closed"]

DEFAULT_CALL_TIMEOUT = 30.0
MAX_RESULT_CHARS = 20_000
MAX_DESCRIPTION_CHARS = 1024
_START_GRACE = 5.0  # beyond the start timeout, for a start stuck before the handshake
_CLOSE_TIMEOUT = 10.0  # stopping a stdio server takes up to ~4 s (stdin closed, TERM, KILL)
_STDERR_LINES = 20

_TRANSPORTS: dict[str, Transport] = {
    "stdio": "stdio",
    "streamable_http": "streamable_http",
    "streamable-http": "streamable_http",
    "streamablehttp": "streamable_http",
    "http": "streamable_http",
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_PLAIN_SERVER = re.compile(r"[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*")
_PLAIN_TOOL = re.compile(r"[A-Za-z0-9_-]+")


# --- configuration ---------------------------------------------------------------------------


class MCPConfigError(ValueError):
    """The MCP config is unusable; ``str()`` is one line naming the file and the problem."""


class _Invalid(Exception):
    """A problem in one server's entry, before the file and server names are added."""


@dataclass(frozen=True)
class ServerConfig:
    """One MCP server as the operator configured it."""

    name: str
    transport: Transport
    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    approve: bool = True
    timeout: float = DEFAULT_CALL_TIMEOUT
    tools: tuple[str, ...] | None = None


def load_config(
    path: str | os.PathLike[str], environ: Mapping[str, str] | None = None
) -> list[ServerConfig]:
    """Read an ``{"mcpServers": {...}}`` file; raise ``MCPConfigError`` if it is unusable.

    ``environ`` (default ``os.environ``) supplies the ``${VAR}`` values.
    """
    file = Path(path).absolute()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MCPConfigError(f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MCPConfigError(f"{file}: cannot read it ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MCPConfigError(
            f"{file}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    servers = data.get("mcpServers", data.get("servers")) if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise MCPConfigError(f'{file}: expected {{"mcpServers": {{"NAME": {{...}}, ...}}}}')
    env = os.environ if environ is None else environ
    configs = []
    for name, entry in servers.items():
        try:
            config = _server_config(name, entry, env, file.parent)
        except _Invalid as exc:
            raise MCPConfigError(f"{file}: server {name!r}: {exc}") from None
        if config is not None:
            configs.append(config)
    return configs


def _server_config(
    name: str, entry: object, environ: Mapping[str, str], base: Path
) -> ServerConfig | None:
    if not name.strip():
        raise _Invalid("the server name is empty")
    if not isinstance(entry, dict):
        raise _Invalid("expected an object with a command or a url")
    if _field(entry, "disabled", bool, False):
        return None
    command = _field(entry, "command", str, "")
    url = _field(entry, "url", str, "")
    stated = _field(entry, "transport", str, "") or _field(entry, "type", str, "")
    if stated.lower() == "sse":
        raise _Invalid("the SSE transport is not supported: use the server's streamable-HTTP url")
    if stated and stated.lower() not in _TRANSPORTS:
        raise _Invalid(f"unknown transport {stated!r}: use stdio or streamable_http")
    if command and url:
        raise _Invalid('has both "command" and "url": give one')
    if not command and not url:
        raise _Invalid(
            'has neither "command" (a local program) nor "url" (a streamable-HTTP server)'
        )
    transport: Transport = "stdio" if command else "streamable_http"
    if stated and _TRANSPORTS[stated.lower()] != transport:
        raise _Invalid(f"transport {stated!r} needs {'a url' if command else 'a command'}")
    timeout = _field(entry, "timeout", (int, float), DEFAULT_CALL_TIMEOUT)
    if not timeout > 0:
        raise _Invalid('"timeout" must be a positive number of seconds')
    allowed = _field(entry, "tools", list, None)
    common: dict[str, Any] = {
        "approve": _field(entry, "approve", bool, True),
        "timeout": float(timeout),
        "tools": None if allowed is None else tuple(_strings(allowed, "tools")),
    }
    if transport == "stdio":
        env = _field(entry, "env", dict, None)
        cwd = _field(entry, "cwd", str, "")
        return ServerConfig(
            name,
            "stdio",
            command=command,
            args=tuple(_strings(_field(entry, "args", list, []), "args")),
            env=None if env is None else _expanded(env, "env", environ),
            cwd=str(base / Path(cwd).expanduser()) if cwd else None,
            **common,
        )
    url = _expand(url, "url", environ)
    if not url.startswith(("http://", "https://")):
        raise _Invalid(f"url {url!r} must start with http:// or https://")
    headers = _expanded(_field(entry, "headers", dict, {}), "headers", environ)
    return ServerConfig(name, "streamable_http", url=url, headers=headers, **common)


def _field(entry: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """``entry[key]`` checked against ``kind`` (a bool is not a number here), or ``default``."""
    value = entry.get(key)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = {bool: "true or false", str: "a string", list: "a list", dict: "an object"}
        wanted = names.get(kinds[0], "a number")
        raise _Invalid(f'"{key}" must be {wanted}, not {json.dumps(value)}')
    return value


def _strings(values: list[Any], key: str) -> list[str]:
    if not all(isinstance(v, str) for v in values):
        raise _Invalid(f'"{key}" must be a list of strings')
    return values


def _expanded(values: dict[str, Any], key: str, environ: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name, value in values.items():
        if not isinstance(value, str):
            raise _Invalid(f'"{key}.{name}" must be a string, not {json.dumps(value)}')
        out[name] = _expand(value, f"{key}.{name}", environ)
    return out


def _expand(value: str, where: str, environ: Mapping[str, str]) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}``; an unset variable without default is an error."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        raise _Invalid(f"{where} uses ${{{name}}}, which is not set")

    return _VARIABLE.sub(one, value)


# --- names and results -----------------------------------------------------------------------


def tool_name(server: str, tool: str) -> str:
    """The name the model sees for ``tool`` of ``server`` (see the module docstring)."""
    name = f"{server}__{tool}"
    if _PLAIN_SERVER.fullmatch(server) and _PLAIN_TOOL.fullmatch(tool) and len(name) <= 64:
        return name
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', name)[:55]}_{digest}"


def _cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return (
        f"{text[:limit]}\n[The result was cut here: it had {len(text):,} characters; "
        f"the first {limit:,} are shown.]"
    )


def _as_text(content: object) -> str:
    """The adapter's content blocks as plain text; images and files are named, not included."""
    if isinstance(content, str):
        return content
    parts = []
    blocks: list[Any] = content if isinstance(content, list) else [content]
    for block in blocks:
        info: dict[str, Any] = block if isinstance(block, dict) else {}
        kind = info.get("type")
        if kind == "text":
            parts.append(str(info.get("text", "")))
        elif kind in ("image", "file"):
            where = info.get("url") or info.get("mime_type") or "no type given"
            parts.append(f"[{kind} left out: {where}]")
        else:
            parts.append(f"[{kind or type(block).__name__} content left out]")
    return "\n".join(parts) if parts else "(no output)"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _cause(exc: BaseException, config: ServerConfig) -> str:
    """A few words on why a connection failed."""
    exc = _leaf(exc)
    if isinstance(exc, FileNotFoundError) and config.transport == "stdio":
        if config.cwd and not Path(config.cwd).is_dir():
            return f"its cwd {config.cwd} does not exist"
        return f"cannot run {config.command!r}: no such program"
    if isinstance(exc, PermissionError) and config.transport == "stdio":
        return f"cannot run {config.command!r}: permission denied"
    if isinstance(exc, _Gone) or (
        isinstance(exc, McpError) and exc.error.code == CONNECTION_CLOSED
    ):
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
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, socket.gaierror):
            return "host name not found"
        cur = cur.__cause__ or cur.__context__
    return _short(str(exc)) or "connection failed"


# --- one server ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerStatus:
    """What a person or the UI needs to know about one server."""

    name: str
    transport: Transport
    state: State
    tools: tuple[str, ...]
    error: str | None = None


class _StderrTail:
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


async def _list_tools(session: ClientSession) -> list[MCPTool]:
    listed: list[MCPTool] = []
    cursor: str | None = None
    for _ in range(100):
        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
        listed.extend(page.tools)
        cursor = page.nextCursor
        if not cursor:
            return listed
    raise RuntimeError("the server's tool list did not end after 100 pages")


class _Gone(Exception):
    """The connection was stopped, or its transport closed, while waiting for an answer."""


async def _unless_gone(
    wake: asyncio.Event, work: Coroutine[Any, Any, _T], seconds: float | None
) -> _T:
    """Await ``work``; raise ``_Gone`` if ``wake`` is set first, ``TimeoutError`` after ``seconds``.

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
        raise _Gone
    raise TimeoutError


async def _handshake(session: ClientSession) -> list[MCPTool]:
    await session.initialize()
    return await _list_tools(session)


class _Connection:
    """One start of a server: the task that owns its transport and session, and its stop."""

    def __init__(self) -> None:
        self.session: ClientSession | None = None
        self.ready = asyncio.Event()  # connected, or failed to
        self.wake = asyncio.Event()  # stop asked, or the transport closed
        self.stopping = False
        self.was_connected = False
        self.stderr: _StderrTail | None = None

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    def note(self) -> str:
        return self.stderr.note() if self.stderr else ""

    def answered(self) -> None:
        """The server answered well: what it wrote so far explains no later failure."""
        if self.stderr:
            self.stderr.seen = self.stderr.count


class _Route:
    """Stands in for the ``ClientSession`` in the adapter's tools: calls go to the live session."""

    def __init__(self, server: _Server) -> None:
        self._server = server

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *_: Any, **__: Any
    ) -> CallToolResult:
        return await self._server.call(name, arguments or {})


class _Server:
    """One configured server: its connections over time, its state and its LangChain tools."""

    def __init__(self, config: ServerConfig, box: MCPToolbox) -> None:
        self.config = config
        self.box = box
        self.state: State = "starting"
        self.reason = ""  # why it failed; see ``error``
        self.failed_conn: _Connection | None = None  # whose stderr explains it, if any
        self.retry_at = 0.0
        self.conn: _Connection | None = None
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
        conn = self.conn = _Connection()
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
                    self._listed(await _unless_gone(conn.wake, _list_tools(session), limit))
                    conn.answered()
                    return
                except Exception as exc:
                    why = (
                        "did not answer"
                        if isinstance(exc, TimeoutError)
                        else _cause(exc, self.config)
                    )
                    self._failed(conn, f"stopped answering: {why}")
            if self.state == "failed" and self.box.clock() >= self.retry_at:
                await self._start()

    def close(self) -> None:
        self.state = "closed"
        if self.conn is not None:
            self.conn.stop()

    async def _serve(self, conn: _Connection) -> None:
        """Own one connection from start to close, in this one task (anyio scopes need that)."""
        config = self.config
        try:
            async with AsyncExitStack() as stack:
                session = await self._open(stack, conn)
                limit = self.box.start_timeout
                try:
                    listed = await _unless_gone(conn.wake, _handshake(session), limit)
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
            self._failed(conn, f"{starting}{_cause(exc, config)}")
        finally:
            conn.session = None
            conn.ready.set()

    async def _open(self, stack: AsyncExitStack, conn: _Connection) -> ClientSession:
        config = self.config
        if config.transport == "streamable_http":
            connection: StreamableHttpConnection = {
                "transport": "streamable_http",
                "url": config.url,
                "headers": dict(config.headers),
                "timeout": self.box.start_timeout,
            }
            return await stack.enter_async_context(create_session(connection))
        # stdio through the SDK directly, to keep the server's stderr and notice when it exits.
        # Exit order (LIFO): session, process (stdin closed, TERM, KILL), drain stderr, helpers.
        helpers = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(helpers.cancel_scope.cancel)  # runs last: after the process is gone
        tail = conn.stderr = _StderrTail(config.name)
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

    def _connected(self, conn: _Connection, session: ClientSession, listed: list[MCPTool]) -> None:
        if conn is not self.conn or self.state != "starting":
            conn.stop()
            return
        conn.session, conn.was_connected = session, True
        conn.answered()
        self.state = "connected"
        self._listed(listed)
        conn.ready.set()

    def _failed(self, conn: _Connection, reason: str, *, explain: bool = True) -> None:
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
        """The adapter's tool for ``tool``, renamed and described, returning capped text."""
        server = self.config.name
        limit = self.box.max_result_chars
        inner = convert_mcp_tool_to_langchain_tool(
            cast(ClientSession, _Route(self)), tool, server_name=server, handle_tool_errors=False
        )

        async def call(**arguments: Any) -> str:
            try:
                content = await inner.ainvoke(arguments)
            except ToolException as exc:
                raise ToolException(_cap(str(exc), limit)) from None
            except (NotImplementedError, ValueError) as exc:  # content the adapter cannot convert
                why = f"{self.label} returned content that cannot be read: {exc}"
                raise ToolException(why) from None
            return _cap(_as_text(content), limit)

        description = f"[MCP server {server!r}] {tool.description or tool.title or tool.name}"
        return StructuredTool(
            name=tool_name(server, tool.name),
            description=_clip(description, MAX_DESCRIPTION_CHARS),
            args_schema=inner.args_schema or tool.inputSchema,
            coroutine=call,
            metadata={
                **(inner.metadata or {}),
                "mcp_server": server,
                "mcp_tool": tool.name,
                "approve": self.config.approve,
            },
        )

    async def call(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call ``tool`` on the live session; raise ``ToolException`` with a readable reason."""
        conn = self.conn
        session = conn.session if conn is not None and self.state == "connected" else None
        if conn is None or session is None:
            why = self.error or {"starting": "it is starting"}.get(self.state, "it was shut down")
            raise ToolException(f"{self.label} is not available right now: {why}.")
        timeout = self.config.timeout
        try:
            result = await _unless_gone(conn.wake, session.call_tool(tool, arguments), timeout)
            conn.answered()
            return result
        except TimeoutError:
            reason = f"did not answer a call to {tool} within {timeout:g} s"
            self._failed(conn, reason, explain=False)
            raise ToolException(f"{self.label} did not answer within {timeout:g} s.") from None
        except McpError as exc:
            if exc.error.code != CONNECTION_CLOSED:
                raise ToolException(f"{self.label} refused the call: {exc.error.message}") from None
        except _Gone:
            if self.state == "closed":
                raise ToolException(f"{self.label} was shut down while answering.") from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
            pass
        if conn is not self.conn or self.state != "failed":  # else its task already said why
            self._failed(conn, _cause(_Gone(), self.config))
        raise ToolException(f"{self.label} failed while answering: {self.error}.")

    def status(self) -> ServerStatus:
        connected = self.state == "connected"
        names = tuple(lc.name for _, lc in self.tools.values()) if connected else ()
        return ServerStatus(self.config.name, self.config.transport, self.state, names, self.error)


# --- the toolbox -----------------------------------------------------------------------------


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
