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
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import SystemMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolInvocationError
from langgraph.runtime import Runtime
from langgraph.types import Checkpointer, Send

from assistant import prompts
from assistant.agent import limits
from assistant.agent.gate import approval_gate
from assistant.agent.state import AgentState
from assistant.agent.summary import Summarizer
from assistant.agent.turns import close_dangling_tool_calls, current_turn, open_calls
from assistant.compat import call_model
from assistant.context import RunContext
from assistant.errors import describe
from assistant.events import MODEL_NODE
from assistant.models import ModelFactory

TOOL_TIMEOUT = 300.0
TOOLS_NODE = "tools"


def tool_error(exc: Exception) -> str:
    """A tool's failure as the model (and the person) reads it."""
    if isinstance(exc, ToolInvocationError):
        return f"Error: invalid arguments for {exc.tool_name}: {exc.message}"
    return f"Error: {describe(exc)}"


class ModelStep:
    """The ``model`` node: one call of the supervising model."""

    def __init__(self, models: ModelFactory, tools: Sequence[BaseTool]) -> None:
        """Bind ``tools`` to each model once, on first use."""
        self.models = models
        self.tools = list(tools)
        self.names = [tool.name for tool in tools]
        self.summarizer = Summarizer(models)
        self._bound: dict[str, Runnable[Any, Any]] = {}

    def _with_tools(self, model: str) -> Runnable[Any, Any]:
        if model not in self._bound:
            self._bound[model] = self.models.get(model).bind_tools(self.tools)
        return self._bound[model]

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
        system = SystemMessage(prompts.SUPERVISOR.format(today=datetime.date.today().isoformat()))
        history = [system, *close_dangling_tool_calls(messages)]
        if left.tool_calls > 0:
            reply = await call_model(self._with_tools(context.model), history, self.names)
        else:
            note = SystemMessage(limits.tool_limit_note(context.max_tool_calls))
            reply = await call_model(self.models.get(context.model), [*history, note])
        allowed, refused = limits.refuse_over_limit(reply, left.tool_calls, context.max_tool_calls)
        result: dict[str, Any] = {"messages": [*update, reply, *refused]}
        if allowed:  # most replies call no tool: no extra channel to checkpoint
            result["gate"] = {call["id"] or "": call["name"] in context.approve for call in allowed}
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


def build_supervisor(
    *,
    models: ModelFactory,
    tools: Sequence[BaseTool],
    checkpointer: Checkpointer = None,
    tool_timeout: float = TOOL_TIMEOUT,
    context_schema: type[RunContext] = RunContext,
) -> Any:
    """Compile the supervising agent from its dependencies."""
    builder = StateGraph(AgentState, context_schema=context_schema)
    builder.add_node(MODEL_NODE, ModelStep(models, tools))
    builder.add_node(
        TOOLS_NODE,
        ToolNode(
            list(tools),
            awrap_tool_call=approval_gate(tool_timeout),
            handle_tool_errors=tool_error,
        ),
    )
    builder.add_edge(START, MODEL_NODE)
    builder.add_conditional_edges(MODEL_NODE, route, [TOOLS_NODE, MODEL_NODE, END])
    builder.add_edge(TOOLS_NODE, MODEL_NODE)
    return builder.compile(checkpointer=checkpointer, name="assistant")
