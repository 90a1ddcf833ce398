"""The supervising agent: a tool-calling loop that answers or routes to a workflow.

    START → agent ─┬─ (no tool calls) → END
                   ├─ Send("tool", call)      → agent   one task per ordinary tool call
                   └─ Send("research", call)  → agent   the research subgraph

Tools named in the run's ``approve`` set pause for a decision before they run, enforced
here in code, whatever the model was told. Limits on model and tool calls per turn stop a
confused model; long conversations are summarised so the context and checkpoints stay
bounded.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypedDict

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import InvalidToolCall, ToolCall
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.types import Checkpointer, Send
from pydantic import BaseModel, ValidationError

from assistant import prompts
from assistant.approvals import Edit, Reject, Respond, approval_request, ask_for_decision
from assistant.errors import describe
from assistant.models import ModelFactory
from assistant.options import RunOptions
from assistant.settings import Settings

log = logging.getLogger(__name__)

TOOL_TIMEOUT = 300.0
KEEP_RECENT_TURNS = 4


class AgentState(TypedDict, total=False):
    """The conversation (checkpointed per thread)."""

    messages: Annotated[list[AnyMessage], add_messages]
    summary: str


class ToolTask(TypedDict, total=False):
    """One tool call handed to a ``tool`` or ``research`` task.

    ``gated`` is decided once, when the call is routed, and checkpointed with the task: a
    resume can never change whether the call needed approval.
    """

    call: dict[str, Any]
    error: str
    gated: bool


def current_turn(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """The messages since the person last spoke."""
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return list(messages[i + 1 :])
    return list(messages)


def estimate_tokens(messages: Sequence[AnyMessage]) -> int:
    """A cheap size estimate: about four characters a token."""
    return (
        sum(len(str(m.content)) + len(json.dumps(getattr(m, "tool_calls", []))) for m in messages)
        // 4
    )


def split_for_summary(messages: Sequence[AnyMessage]) -> tuple[list[AnyMessage], list[AnyMessage]]:
    """Older messages to summarise, and the last turns to keep verbatim.

    Cuts only before a person's message, so a tool call is never parted from its result.
    """
    starts = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
    if len(starts) <= KEEP_RECENT_TURNS:
        return [], list(messages)
    cut = starts[-KEEP_RECENT_TURNS]
    return list(messages[:cut]), list(messages[cut:])


def _tool_name(name: str, known: Sequence[str]) -> str:
    """Undo servers that repeat a tool's name in every streamed delta ("calculatecalculate")."""
    for tool in known:
        if tool and name != tool and name == tool * (len(name) // len(tool)):
            return tool
    return name


async def call_model(
    model: Runnable[Any, Any], messages: list[AnyMessage], known: Sequence[str] = ()
) -> AIMessage:
    """Stream the model's reply (tokens reach the face) and check its tool calls strictly.

    Streaming parses partial tool-call JSON leniently (``{"a": "2`` becomes ``{"a": "2"}``);
    the raw argument strings are parsed again here so broken ones are reported as invalid
    instead of running with guessed arguments.
    """
    full: AIMessageChunk | None = None
    async for chunk in model.astream(messages):
        full = chunk if full is None else full + chunk
    if full is None:
        return AIMessage("")
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for part in full.tool_call_chunks:
        raw = part.get("args") or ""
        try:
            args = json.loads(raw) if raw.strip() else {}
            if not isinstance(args, dict):
                raise ValueError("the arguments are not a JSON object")
            name = _tool_name(part.get("name") or "", known)
            valid.append(ToolCall(name=name, args=args, id=part.get("id")))
        except ValueError as exc:
            invalid.append(
                InvalidToolCall(
                    name=part.get("name"),
                    args=raw,
                    id=part.get("id"),
                    error=str(exc),
                    type="invalid_tool_call",
                )
            )
    return AIMessage(
        content=full.content,
        id=full.id,
        tool_calls=valid,
        invalid_tool_calls=invalid,
        response_metadata=full.response_metadata,
        usage_metadata=full.usage_metadata,
    )


CANCELLED = "Not run: the person stopped this before it finished."


def close_dangling_tool_calls(messages: Sequence[AnyMessage]) -> list[AnyMessage]:
    """Give every tool call a result, so the model is never sent an unanswered call.

    A run stopped mid-tool (Stop button, killed process) and followed by a new message
    leaves calls without results; OpenAI rejects such a history with a 400.
    """
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    repaired: list[AnyMessage] = []
    waiting: list[ToolMessage] = []
    for message in messages:
        if not isinstance(message, ToolMessage):
            repaired.extend(waiting)
            waiting = []
        repaired.append(message)
        if isinstance(message, AIMessage):
            waiting = [
                ToolMessage(
                    CANCELLED, tool_call_id=call["id"] or "", name=call["name"], status="error"
                )
                for call in [*message.tool_calls, *message.invalid_tool_calls]
                if call["id"] not in answered
            ]
    return [*repaired, *waiting]


def _transcript(messages: Sequence[AnyMessage]) -> str:
    lines = []
    for m in messages:
        role = {"human": "Person", "ai": "Assistant", "tool": "Tool"}.get(m.type, m.type)
        text = str(m.content)
        lines.append(f"{role}: {text[:2000]}")
    return "\n".join(lines)


def build_supervisor(
    *,
    models: ModelFactory,
    tools: dict[str, BaseTool],
    research_graph: Any,
    settings: Settings,
    checkpointer: Checkpointer = None,
) -> Any:
    """Compile the supervising agent from its dependencies."""
    bound: dict[str, Runnable[Any, Any]] = {}  # tool schemas are converted once per model

    def with_tools(model_name: str) -> Runnable[Any, Any]:
        if model_name not in bound:
            bound[model_name] = models.get(model_name).bind_tools(list(tools.values()))
        return bound[model_name]

    async def summarize(state: AgentState, old: list[AnyMessage], model_name: str) -> str:
        prompt = prompts.SUMMARIZE.format(
            previous=state.get("summary", ""), conversation=_transcript(old)
        )
        reply = await models.get(model_name).with_config(tags=["nostream"]).ainvoke(prompt)
        return str(reply.content).strip()

    async def agent(state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        options = RunOptions.from_config(config, settings)
        messages = state["messages"]
        turn = current_turn(messages)
        if sum(isinstance(m, AIMessage) for m in turn) >= settings.max_model_calls:
            return {
                "messages": [
                    AIMessage(
                        "I stopped here: this request reached its limit of "
                        f"{settings.max_model_calls} model steps. "
                        "Tell me to continue if you want me to go on."
                    )
                ]
            }
        update: dict[str, Any] = {}
        summary = state.get("summary", "")
        history = list(messages)
        if (
            len(history) > settings.max_messages
            or estimate_tokens(history) > settings.context_tokens
        ):
            old, recent = split_for_summary(history)
            if old:
                try:
                    summary = await summarize(state, old, options.model)
                    update["summary"] = summary
                    update["messages"] = [RemoveMessage(id=m.id) for m in old if m.id]
                except Exception as exc:  # fall back to trimming; nothing is deleted
                    log.warning("could not summarise the conversation: %s", describe(exc))
                history = recent
        history = close_dangling_tool_calls(history)
        system = SystemMessage(
            prompts.SUPERVISOR.format(
                today=datetime.date.today().isoformat(),
                summary=prompts.SUMMARY_SECTION.format(summary=summary) if summary else "",
            )
        )
        tools_used = sum(isinstance(m, ToolMessage) for m in turn)
        model = models.get(options.model)
        if tools_used < settings.max_tool_calls:
            reply = await call_model(with_tools(options.model), [system, *history], list(tools))
        else:
            note = SystemMessage(
                f"The tool-call limit ({settings.max_tool_calls}) for this "
                "request is reached: answer now with what you have."
            )
            reply = await call_model(model, [system, *history, note])
        update["messages"] = [*update.get("messages", []), reply]
        return update

    def route(state: AgentState, config: RunnableConfig) -> list[Send] | Literal["__end__"]:
        last = state["messages"][-1]
        if not isinstance(last, AIMessage):
            return "__end__"
        used = sum(isinstance(m, ToolMessage) for m in current_turn(state["messages"]))
        sends: list[Send] = []
        approve = RunOptions.from_config(config, settings).approve
        for call in last.tool_calls:
            task: ToolTask = {"call": dict(call), "gated": call["name"] in approve}
            if used + len(sends) >= settings.max_tool_calls:
                task["error"] = (
                    f"Not run: this request reached its limit of "
                    f"{settings.max_tool_calls} tool calls."
                )
            node = "research" if call["name"] == "research" and "error" not in task else "tool"
            sends.append(Send(node, task))
        for bad in last.invalid_tool_calls:
            sends.append(
                Send(
                    "tool",
                    ToolTask(
                        call={
                            "name": bad.get("name") or "unknown",
                            "args": {},
                            "id": bad.get("id"),
                        },
                        error="Error: the arguments of this call were not valid JSON. "
                        "Call the tool again with valid JSON arguments.",
                    ),
                )
            )
        return sends or "__end__"

    async def tool(task: ToolTask, config: RunnableConfig) -> dict[str, Any]:
        call = task["call"]
        name, call_id = str(call.get("name")), str(call.get("id") or "")

        def reply(content: str, status: Literal["success", "error"] = "success") -> dict[str, Any]:
            return {
                "messages": [ToolMessage(content, tool_call_id=call_id, name=name, status=status)]
            }

        if "error" in task:
            return reply(task["error"], "error")
        chosen = tools.get(name)
        if chosen is None:
            return reply(
                f"Error: there is no tool named {name!r}; available: {', '.join(tools)}.", "error"
            )
        args = dict(call.get("args") or {})
        if task.get("gated", True):
            schema = chosen.args_schema

            def check(edited: dict[str, Any]) -> dict[str, Any]:
                if isinstance(schema, type) and issubclass(schema, BaseModel):
                    schema.model_validate(edited)
                return edited

            decision, edited = ask_for_decision(
                approval_request(name, args, f"Run {name} with {json.dumps(args)}"), check
            )
            if isinstance(decision, Reject):
                because = f": {decision.message}" if decision.message else "."
                return reply(
                    f"The person declined to run {name}{because} Do not retry it unless they ask.",
                    "error",
                )
            if isinstance(decision, Respond):
                return reply(f"The person did not run {name} and said: {decision.message}")
            if isinstance(decision, Edit) and edited is not None:
                args = edited
        try:
            output = await asyncio.wait_for(chosen.ainvoke(args, config), TOOL_TIMEOUT)
        except ValidationError as exc:
            return reply(f"Error: invalid arguments for {name}: {exc.errors()[0]['msg']}", "error")
        except (
            Exception
        ) as exc:  # the approval, if any, happened above; this is the tool's own failure
            return reply(f"Error: {describe(exc)}", "error")
        return reply(str(output))

    async def research(task: ToolTask, config: RunnableConfig) -> dict[str, Any]:
        call = task["call"]
        topic = str((call.get("args") or {}).get("topic") or "").strip()
        call_id = str(call.get("id") or "")
        if not topic:
            return {
                "messages": [
                    ToolMessage(
                        "Error: research needs a non-empty topic.",
                        tool_call_id=call_id,
                        name="research",
                        status="error",
                    )
                ]
            }
        result = await research_graph.ainvoke({"topic": topic}, config)
        if result.get("status") == "rejected":
            reason = result.get("reject_reason")
            content = "The person rejected the research plan, so nothing was searched" + (
                f": {reason}" if reason else "."
            )
            message = ToolMessage(content, tool_call_id=call_id, name="research", status="error")
        else:
            content = f"Report saved to {result['report_path']}\n\n{result['report']}"
            message = ToolMessage(
                content,
                tool_call_id=call_id,
                name="research",
                artifact={"report": result["report"], "path": result["report_path"]},
            )
        return {"messages": [message]}

    builder = StateGraph(AgentState)
    builder.add_node("agent", agent)
    builder.add_node("tool", tool, input_schema=ToolTask)  # type: ignore[arg-type]
    builder.add_node("research", research, input_schema=ToolTask)  # type: ignore[arg-type]
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", route, ["tool", "research", END])
    builder.add_edge("tool", "agent")
    builder.add_edge("research", "agent")
    return builder.compile(checkpointer=checkpointer, name="assistant")
