"""The supervisor's tools: the built-in ones, fixed, and those of outside sources as they are now.

An outside source (the operator's MCP servers) may gain, lose or change tools between turns,
or be unavailable. The graph is compiled once, so the model step binds whatever the toolset
holds at each call, and the approval gate hands the tool node a tool it was not built with
(langgraph's ``ToolCallRequest.override(tool=...)``, meant for dynamically registered tools).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from langchain_core.tools import BaseTool

SERVER = "mcp_server"
"""Tool metadata: the outside server a tool comes from."""
SERVER_TOOL = "mcp_tool"
"""Tool metadata: the tool's own name on that server."""
APPROVE = "approve"
"""Tool metadata of an outside tool: False if the operator lets it run without asking."""


class ToolSource(Protocol):
    """Tools from outside, as they are now."""

    def tools(self) -> list[BaseTool]:
        """The tools that can be called now."""
        ...

    def unavailable(self) -> list[str]:
        """One line per server whose tools cannot be called now, and why."""
        ...

    def missing(self, name: str) -> str | None:
        """Why ``name``, a tool of this source, cannot be called now; None if not one of its."""
        ...


class Toolset:
    """Built-in tools and outside sources, looked up by name."""

    def __init__(self, builtin: Sequence[BaseTool], sources: Sequence[ToolSource] = ()) -> None:
        self.builtin = list(builtin)
        self.sources = list(sources)

    def current(self) -> list[BaseTool]:
        """Every tool that can be called now: the built-in ones first."""
        tools = list(self.builtin)
        taken = {tool.name for tool in tools}
        for source in self.sources:
            for tool in source.tools():
                if tool.name not in taken:
                    taken.add(tool.name)
                    tools.append(tool)
        return tools

    def find(self, name: str) -> BaseTool | None:
        """The tool called ``name`` now, if any."""
        return next((tool for tool in self.current() if tool.name == name), None)

    def unavailable(self) -> list[str]:
        """Every outside server that is down now, one line each."""
        return [line for source in self.sources for line in source.unavailable()]

    def missing(self, name: str) -> str | None:
        """Why outside tool ``name`` cannot be called now (None: not an outside tool)."""
        for source in self.sources:
            why = source.missing(name)
            if why is not None:
                return why
        return None


def label_of(tool: BaseTool, default: str | None = None) -> str:
    """A tool's name for a person: its label, or "tool (server)" for an outside tool."""
    from assistant.agent.gate import LABEL

    metadata = tool.metadata or {}
    if LABEL in metadata:
        return str(metadata[LABEL])
    if SERVER in metadata:
        return f"{metadata.get(SERVER_TOOL, tool.name)} ({metadata[SERVER]})"
    return default or tool.name


def needs_approval(
    tool: BaseTool | None, name: str, approve: frozenset[str], outside: bool
) -> bool:
    """Whether a call of ``tool`` pauses for the person: a built-in tool if ``approve`` names
    it, an outside tool unless its server's config or ``outside`` (False: every approval off)
    says it may run without asking. An unknown name never does (the tool node answers it)."""
    if tool is None:
        return False
    if name in approve:
        return True
    metadata = tool.metadata or {}
    return SERVER in metadata and outside and bool(metadata.get(APPROVE, True))
