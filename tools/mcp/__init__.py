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

from tools.mcp.adapt import MAX_RESULT_CHARS, tool_name
from tools.mcp.config import (
    DEFAULT_CALL_TIMEOUT,
    MCPConfigError,
    ServerConfig,
    Transport,
    load_config,
)
from tools.mcp.toolbox import MCPToolbox, ServerStatus, State

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "MAX_RESULT_CHARS",
    "MCPConfigError",
    "MCPToolbox",
    "ServerConfig",
    "ServerStatus",
    "State",
    "Transport",
    "load_config",
    "tool_name",
]
