"""The LangChain face of an MCP tool: its name, its description, its result as capped text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any, cast

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langchain_mcp_adapters.tools import convert_mcp_tool_to_langchain_tool
from mcp import ClientSession
from mcp.types import CallToolResult
from mcp.types import Tool as MCPTool

from tools.mcp.config import ServerConfig

Call = Callable[[str, dict[str, Any]], Awaitable[CallToolResult]]

MAX_RESULT_CHARS = 20_000
MAX_DESCRIPTION_CHARS = 1024

_PLAIN_SERVER = re.compile(r"[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*")
_PLAIN_TOOL = re.compile(r"[A-Za-z0-9_-]+")


def tool_name(server: str, tool: str) -> str:
    """The name the model sees for ``tool`` of ``server`` (see the module docstring)."""
    name = f"{server}__{tool}"
    if _PLAIN_SERVER.fullmatch(server) and _PLAIN_TOOL.fullmatch(tool) and len(name) <= 64:
        return name
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9_-]', '_', name)[:55]}_{digest}"


def cap(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return (
        f"{text[:limit]}\n[The result was cut here: it had {len(text):,} characters; "
        f"the first {limit:,} are shown.]"
    )


def as_text(content: object) -> str:
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


class _Route:
    """Stands in for the ``ClientSession`` in the adapter's tools: calls go through ``call``.

    The adapter binds a tool to one session; routing lets a tool object outlive a restart.
    """

    def __init__(self, call: Call) -> None:
        self._call = call

    async def call_tool(
        self, name: str, arguments: dict[str, Any] | None = None, *_: Any, **__: Any
    ) -> CallToolResult:
        return await self._call(name, arguments or {})


def adapt(tool: MCPTool, config: ServerConfig, call: Call, max_result_chars: int) -> BaseTool:
    """The adapter's tool for ``tool``, renamed and described, returning capped text.

    ``call(name, arguments)`` reaches the server and raises ``ToolException`` when it cannot.
    """
    server = config.name
    inner = convert_mcp_tool_to_langchain_tool(
        cast(ClientSession, _Route(call)), tool, server_name=server, handle_tool_errors=False
    )

    async def run(**arguments: Any) -> str:
        try:
            content = await inner.ainvoke(arguments)
        except ToolException as exc:
            raise ToolException(cap(str(exc), max_result_chars)) from None
        except (NotImplementedError, ValueError) as exc:  # content the adapter cannot convert
            why = f"The {server} server returned content that cannot be read: {exc}"
            raise ToolException(why) from None
        return cap(as_text(content), max_result_chars)

    description = f"[MCP server {server!r}] {tool.description or tool.title or tool.name}"
    return StructuredTool(
        name=tool_name(server, tool.name),
        description=_clip(description, MAX_DESCRIPTION_CHARS),
        args_schema=inner.args_schema or tool.inputSchema,
        coroutine=run,
        metadata={
            **(inner.metadata or {}),
            "mcp_server": server,
            "mcp_tool": tool.name,
            "approve": config.approve,
        },
    )
