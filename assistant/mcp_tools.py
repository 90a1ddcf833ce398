"""The operator's MCP servers as a tool source of the supervisor (``ASSISTANT_MCP_CONFIG``).

The servers are started on the first turn that needs them, not when a command that never
chats (``assistant threads``) opens the engine; before every later turn they are refreshed
(tools listed again, a failed server restarted once its back-off is over). A server that
is down costs a turn nothing but a note: its tools are left out, the model is told, and the
person sees one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from langchain_core.tools import BaseTool

from tools.mcp import MCPToolbox, ServerStatus, load_config


class McpTools:
    """The toolbox of the operator's file, started once, refreshed per turn."""

    def __init__(self, toolbox: MCPToolbox) -> None:
        self.toolbox = toolbox
        self._started = False
        self._lock = asyncio.Lock()

    @classmethod
    def from_file(
        cls, path: Path, environ: Mapping[str, str] | None = None, *, start_timeout: float = 15.0
    ) -> McpTools:
        """The servers of ``path``; ``MCPConfigError`` (one line naming the file) if unusable."""
        return cls(MCPToolbox(load_config(path, environ), start_timeout=start_timeout))

    async def ready(self) -> None:
        """Before a turn: start the servers the first time, then refresh them."""
        async with self._lock:
            if self._started:
                await self.toolbox.refresh()
            else:
                self._started = True
                await self.toolbox.start()

    def tools(self) -> list[BaseTool]:
        """The connected servers' tools."""
        return self.toolbox.tools()

    def status(self) -> list[ServerStatus]:
        """Every configured server: its state, tools and error."""
        return self.toolbox.status()

    def unavailable(self) -> list[str]:
        """Each server that failed, with why."""
        return [
            f"{s.name}: {s.error or 'not available'}"
            for s in self.toolbox.status()
            if s.state == "failed"
        ]

    def missing(self, name: str) -> str | None:
        """Why ``name`` (``server__tool``) cannot be called now, if its server is down."""
        for status in self.toolbox.status():
            if name.startswith(f"{status.name}__") and status.state != "connected":
                why = status.error or "it is not connected"
                return f"the MCP server {status.name} is not available right now: {why}."
        return None

    async def aclose(self) -> None:
        """Stop every server process and session."""
        await self.toolbox.aclose()
