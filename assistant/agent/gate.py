"""The approval gate: a gated tool call pauses for the person before it runs.

It wraps every call the tool node makes (langgraph's ``awrap_tool_call``). Whether a call
is gated was decided when the model asked for it and checkpointed with the reply
(``AgentState.gate``), so a resume with other settings can never skip or add a question.
The question is in the schema of langchain's ``HumanInTheLoopMiddleware``: approve, edit
(arguments checked against the tool's schema, asked again when invalid), reject, respond.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command
from pydantic import BaseModel

from assistant.agent.toolset import SERVER, SERVER_TOOL, Toolset
from assistant.approvals import Edit, Reject, Respond, approval_request, ask_for_decision
from assistant.events import Outcome
from assistant.turn_queue import waiting

ASKS_ITSELF = "asks_itself"
"""Tool metadata: the tool asks for approval itself, later, with more to show (a plan)."""
LONG_RUNNING = "long_running"
"""Tool metadata: no time limit (it bounds its own steps)."""
LABEL = "label"
"""Tool metadata: the tool's name for a person ("Research", "Web search")."""

Execute = Callable[[ToolCallRequest], Awaitable[ToolMessage | Command]]


def declined(call: dict[str, Any], content: str, summary: str) -> ToolMessage:
    """A result saying the person did not let the call run (an ordinary outcome)."""
    return ToolMessage(
        content,
        tool_call_id=call["id"] or "",
        name=call["name"],
        artifact={"outcome": Outcome.DECLINED.value, "summary": summary},
    )


def _check_args(tool: BaseTool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    schema = tool.args_schema

    def check(edited: dict[str, Any]) -> dict[str, Any]:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            schema.model_validate(edited)
        return edited

    return check


def _schema(tool: BaseTool) -> dict[str, Any] | None:
    schema = tool.args_schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    return schema if isinstance(schema, dict) else None


def _what(tool: BaseTool, name: str, args: dict[str, Any]) -> tuple[str, str]:
    """The question's title and text: the tool, its server if it has one, the arguments."""
    metadata = tool.metadata or {}
    shown = json.dumps(args, indent=2, ensure_ascii=False)
    if SERVER in metadata:
        own, server = metadata.get(SERVER_TOOL, name), metadata[SERVER]
        return (
            f"Run {own} ({server})?",
            f"The assistant wants to run the tool **{own}** of the MCP server **{server}** "
            f"with:\n\n```json\n{shown}\n```",
        )
    label = metadata.get(LABEL, name)
    return f"Run {label}?", f"The assistant wants to run **{label}** with:\n\n```json\n{shown}\n```"


def approval_gate(
    timeout: float, toolset: Toolset | None = None
) -> Callable[[ToolCallRequest, Execute], Awaitable[Any]]:
    """The wrapper for langgraph's ``ToolNode``: ask first when gated, then run in time.

    ``toolset``: where tools the node was not built with (outside tools) are found.
    """

    async def gate(request: ToolCallRequest, execute: Execute) -> ToolMessage | Command:
        call: dict[str, Any] = dict(request.tool_call)
        name = str(call["name"])
        tool = request.tool
        if tool is None and toolset is not None:
            tool = toolset.find(name)
            if tool is not None:
                request = request.override(tool=tool)
            elif (why := toolset.missing(name)) is not None:
                return ToolMessage(
                    f"Error: {why}", tool_call_id=call["id"] or "", name=name, status="error"
                )
        if tool is None:  # the tool node answers unknown tools itself
            return await execute(request)
        metadata = tool.metadata or {}
        gated = bool(((request.state or {}).get("gate") or {}).get(call["id"], True))
        if gated and not metadata.get(ASKS_ITSELF):
            args = dict(call.get("args") or {})
            title, text = _what(tool, name, args)
            decision, edited = ask_for_decision(
                approval_request(name, args, text, title=title, args_schema=_schema(tool)),
                _check_args(tool),
            )
            if isinstance(decision, Reject):
                because = f": {decision.message}" if decision.message else "."
                return declined(
                    call,
                    f"The person declined to run {name}{because} Do not retry it unless they ask.",
                    "You declined: not run.",
                )
            if isinstance(decision, Respond):
                return declined(
                    call,
                    f"The person did not run {name} and said: {decision.message}",
                    "Not run: you answered instead.",
                )
            if isinstance(decision, Edit) and edited is not None:
                request = request.override(tool_call={**request.tool_call, "args": edited})
        try:
            async with waiting():  # the turn's place goes to the next one meanwhile
                if metadata.get(LONG_RUNNING):
                    return await execute(request)
                return await asyncio.wait_for(execute(request), timeout)
        except TimeoutError:
            return ToolMessage(
                f"Error: {name} did not finish within {timeout:g} s and was stopped.",
                tool_call_id=call["id"] or "",
                name=name,
                status="error",
            )

    return gate
