"""The supervising agent: a tool-calling loop that answers or hands work to its tools.

    START → model ─┬─ (no open tool calls) → END
                   └─ Send("tools", [call]) per call → model

``model`` folds old turns into a summary when the thread outgrows its context, applies the
request's limits, calls the model with the tools bound and records, per tool call, whether
it needs approval. ``tools`` is langgraph's ``ToolNode`` with the approval gate wrapped
around every call; each call is its own task, so one call waiting for approval never
re-runs another. Research is one of the tools: nothing here knows it by name.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool, ToolException
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolInvocationError
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Command, Send

from assistant import prompts
from assistant.agent import limits
from assistant.agent.gate import approval_gate
from assistant.agent.state import AgentState
from assistant.agent.summary import Summarizer
from assistant.agent.toolset import Toolset, ToolSource, needs_approval
from assistant.agent.turns import close_dangling_tool_calls, current_turn, open_calls
from assistant.compat import call_model
from assistant.context import RunContext
from assistant.errors import describe
from assistant.events import MODEL_NODE
from assistant.memory import REMEMBER, Memories, prompt_lines
from assistant.models import ModelFactory

TOOL_TIMEOUT = 300.0
TOOLS_NODE = "tools"


def tool_error(exc: Exception) -> str:
    """A tool's failure as the model (and the person) reads it."""
    if isinstance(exc, ToolInvocationError):
        return f"Error: invalid arguments for {exc.tool_name}: {exc.message}"
    if isinstance(exc, ToolException):  # written for the model already (MCP tools)
        return f"Error: {exc}"
    return f"Error: {describe(exc)}"


class ModelStep:
    """The ``model`` node: one call of the supervising model."""

    def __init__(
        self, models: ModelFactory, toolset: Toolset, memories: Memories | None = None
    ) -> None:
        """Bind the toolset's tools to each model as they are at each call (cached)."""
        self.models = models
        self.toolset = toolset
        self.memories = memories
        self.summarizer = Summarizer(models)
        self._bound: dict[tuple[str, tuple[int, ...]], Runnable[Any, Any]] = {}

    def _with_tools(self, model: str, tools: list[BaseTool]) -> Runnable[Any, Any]:
        key = (model, tuple(id(tool) for tool in tools))  # an outside tool keeps its object
        if key not in self._bound:
            if len(self._bound) > 32:  # outside tools changed many times: start afresh
                self._bound.clear()
            self._bound[key] = self.models.get(model).bind_tools(tools)
        return self._bound[key]

    async def _system(
        self, messages: list[Any], context: RunContext, tools: list[BaseTool]
    ) -> list[SystemMessage]:
        """The instructions, what is remembered of the person, and which servers are down."""
        text = prompts.SUPERVISOR.format(today=datetime.date.today().isoformat())
        if any(tool.name == REMEMBER for tool in tools):
            text += "\n\n" + prompts.REMEMBER_NOTE
        system = [SystemMessage(text)]
        if self.memories is not None and context.memory:
            asked = next((m.text for m in reversed(messages) if m.type == "human"), "")
            recalled = await self.memories.relevant(context.owner, asked)
            if recalled:
                lines = prompt_lines(recalled)
                system.append(SystemMessage(prompts.MEMORIES.format(memories=lines)))
        down = self.toolset.unavailable()
        if down:
            servers = "\n".join(f"- {line}" for line in down)
            system.append(SystemMessage(prompts.UNAVAILABLE_TOOLS.format(servers=servers)))
        return system

    async def __call__(self, state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        """Fold, check limits, call the model, record which calls need approval."""
        context = runtime.context
        messages = list(state["messages"])
        left = limits.budget(messages, context.max_model_calls, context.max_tool_calls)
        if left.model_calls <= 0:
            return {"messages": [limits.model_limit_reached(context.max_model_calls)]}
        update: list[Any] = []
        if not current_turn(messages):  # the person just spoke: the start of a request
            folded = await self.summarizer.fold(messages, context)
            if folded is not None:
                update = folded
                messages = [m for m in folded if m.type != "remove"]
        tools = [
            tool
            for tool in self.toolset.current()
            if tool.name != REMEMBER or (context.memory and self.memories is not None)
        ]
        system = await self._system(messages, context, tools)
        history = [*system, *close_dangling_tool_calls(messages)]
        if left.tool_calls > 0:
            names = [tool.name for tool in tools]
            reply = await call_model(self._with_tools(context.model, tools), history, names)
        else:
            note = SystemMessage(limits.tool_limit_note(context.max_tool_calls))
            reply = await call_model(self.models.get(context.model), [*history, note])
        allowed, refused = limits.refuse_over_limit(reply, left.tool_calls, context.max_tool_calls)
        result: dict[str, Any] = {"messages": [*update, reply, *refused]}
        if allowed:  # most replies call no tool: no extra channel to checkpoint
            by_name = {tool.name: tool for tool in tools}
            result["gate"] = {
                call["id"] or "": needs_approval(
                    by_name.get(call["name"]),
                    call["name"],
                    context.approve,
                    context.approve_mcp,
                )
                for call in allowed
            }
        return result


def route(state: AgentState) -> list[Send] | str:
    """Each open tool call to its own ``tools`` task; refused calls back to the model."""
    messages = state.get("messages", [])
    pending = open_calls(messages)
    if pending:
        return [Send(TOOLS_NODE, [call]) for call in pending]
    if messages and isinstance(messages[-1], ToolMessage):
        return MODEL_NODE  # every call was refused: the model reads why and answers
    return END


async def _route(state: AgentState) -> list[Send] | str:
    """``route`` as a coroutine: LangGraph runs a plain function of an async graph's edge in
    a worker thread, a hop to another thread and back on every turn for a few comparisons."""
    return route(state)


def message_input(text: str, *, at_rest: bool) -> dict[str, Any] | Command:
    """The graph input of the person's message ``text``.

    ``at_rest``: the thread's last run reached its end (``RunStart.at_rest``). The message
    then goes in as an update of that run's last checkpoint, straight to the model: the
    update is saved before the model is called (a process killed meanwhile keeps it, and
    continuing applies it), and the turn writes one checkpoint per step instead of two more
    for the input and LangGraph's start step. Otherwise (a new thread, or one stopped,
    failed, killed or waiting for an answer) the plain input, whose start step sets aside
    what the last run left unfinished. The id keeps the message once if both ever meet.
    """
    message = HumanMessage(text, id=str(uuid.uuid4()))
    if at_rest:
        return Command(update={"messages": [message]}, goto=MODEL_NODE)
    return {"messages": [message]}


def build_supervisor(
    *,
    models: ModelFactory,
    tools: Sequence[BaseTool],
    checkpointer: Checkpointer = None,
    tool_timeout: float = TOOL_TIMEOUT,
    context_schema: type[RunContext] = RunContext,
    sources: Sequence[ToolSource] = (),
    memories: Memories | None = None,
) -> Any:
    """Compile the supervising agent from its dependencies.

    ``sources``: tools from outside (MCP servers), as they are at each model call;
    ``memories``: each person's long-term memories, recalled into every model call.
    """
    toolset = Toolset(tools, sources)
    builder = StateGraph(AgentState, context_schema=context_schema)
    builder.add_node(MODEL_NODE, ModelStep(models, toolset, memories))
    builder.add_node(
        TOOLS_NODE,
        ToolNode(
            list(tools),
            awrap_tool_call=approval_gate(tool_timeout, toolset),
            handle_tool_errors=tool_error,
        ),
    )
    builder.add_edge(START, MODEL_NODE)
    builder.add_conditional_edges(MODEL_NODE, _route, [TOOLS_NODE, MODEL_NODE, END])
    builder.add_edge(TOOLS_NODE, MODEL_NODE)
    return builder.compile(checkpointer=checkpointer, name="assistant")
