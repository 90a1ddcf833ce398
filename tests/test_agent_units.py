"""The supervisor's parts, one at a time, with an in-process model that answers by the
request's structure (bound tools, forced schema), never by the prompt's wording."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolMessage
from langchain_core.tools import StructuredTool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command, Send
from pydantic import BaseModel

from assistant import approvals
from assistant.agent import limits
from assistant.agent.gate import ASKS_ITSELF, LABEL, approval_gate
from assistant.agent.graph import ModelStep, route, tool_error
from assistant.agent.state import AgentState
from assistant.agent.summary import Summarizer
from assistant.agent.toolset import Toolset
from assistant.agent.turns import SUMMARY_SOURCE, current_turn, is_person, open_calls
from assistant.context import RunContext
from fakes.chat_model import FakeModels, StructuredFake


def call(name: str, args: dict[str, Any], call_id: str) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


class Runtime:
    """The part of LangGraph's ``Runtime`` a node reads."""

    def __init__(self, context: RunContext) -> None:
        self.context = context


# --- turns and limits -------------------------------------------------------------------


def test_the_turn_starts_at_the_persons_message_not_at_a_summary() -> None:
    summary = HumanMessage("summary of before", additional_kwargs={"lc_source": SUMMARY_SOURCE})
    messages: list[AnyMessage] = [
        summary,
        AIMessage("a"),
        HumanMessage("question"),
        AIMessage("", tool_calls=[call("calculate", {}, "c1")]),
        ToolMessage("2", tool_call_id="c1"),
    ]
    assert not is_person(summary)
    assert [m.type for m in current_turn(messages)] == ["ai", "tool"]
    assert current_turn([summary, AIMessage("x")])[-1].content == "x"


def test_open_calls_are_the_last_replys_unanswered_calls() -> None:
    reply = AIMessage("", tool_calls=[call("a", {}, "c1"), call("b", {}, "c2")])
    assert [c["id"] for c in open_calls([HumanMessage("q"), reply])] == ["c1", "c2"]
    answered = [HumanMessage("q"), reply, ToolMessage("ok", tool_call_id="c1")]
    assert [c["id"] for c in open_calls(answered)] == ["c2"]
    assert open_calls([HumanMessage("q"), reply, HumanMessage("never mind")]) == []


def test_the_budget_counts_model_and_tool_calls_of_this_request_only() -> None:
    earlier: list[AnyMessage] = [HumanMessage("old"), AIMessage("a"), AIMessage("b")]
    now: list[AnyMessage] = [
        HumanMessage("new"),
        AIMessage("", tool_calls=[call("x", {}, "c1")]),
        ToolMessage("r", tool_call_id="c1"),
    ]
    left = limits.budget(earlier + now, max_model_calls=3, max_tool_calls=2)
    assert (left.model_calls, left.tool_calls) == (2, 1)


def test_calls_over_the_limit_and_broken_calls_are_answered_not_run() -> None:
    reply = AIMessage(
        "",
        tool_calls=[call("a", {}, "c1"), call("b", {}, "c2"), call("c", {}, "c3")],
        invalid_tool_calls=[
            {"name": "d", "args": "{bad", "id": "c4", "error": "x", "type": "invalid_tool_call"}
        ],
    )
    allowed, refused = limits.refuse_over_limit(reply, tool_calls_left=2, limit=5)
    assert [c["id"] for c in allowed] == ["c1", "c2"]
    assert [(m.tool_call_id, m.status) for m in refused] == [("c3", "error"), ("c4", "error")]
    assert "limit of 5 tool calls" in refused[0].content
    assert "not valid JSON" in refused[1].content


# --- the model node -----------------------------------------------------------------------


def calculate_tool() -> StructuredTool:
    class Args(BaseModel):
        expression: str

    async def calculate(expression: str) -> str:
        return f"{expression} = 4"

    return StructuredTool.from_function(
        coroutine=calculate, name="calculate", description="math", args_schema=Args
    )


async def test_the_model_step_records_which_calls_need_approval() -> None:
    model = StructuredFake(
        on_tools=lambda messages, names: AIMessage(
            "", tool_calls=[call("calculate", {"expression": "2+2"}, "c1")]
        )
    )
    step = ModelStep(FakeModels(model), Toolset([calculate_tool()]))  # type: ignore[arg-type]
    context = RunContext(approve=frozenset({"calculate"}))
    update = await step({"messages": [HumanMessage("add")]}, Runtime(context))  # type: ignore[arg-type]
    [reply] = update["messages"]
    assert reply.tool_calls[0]["name"] == "calculate"
    assert update["gate"] == {"c1": True}
    assert model.requests[-1]["tools"] == ["calculate"]
    unguarded = await step(
        {"messages": [HumanMessage("add")]},
        Runtime(RunContext(approve=frozenset())),  # type: ignore[arg-type]
    )
    assert unguarded["gate"] == {"c1": False}


async def test_the_model_step_stops_at_the_model_call_limit() -> None:
    model = StructuredFake()
    step = ModelStep(FakeModels(model), Toolset([calculate_tool()]))  # type: ignore[arg-type]
    busy: list[AnyMessage] = [HumanMessage("q"), AIMessage("1"), AIMessage("2")]
    update = await step({"messages": busy}, Runtime(RunContext(max_model_calls=2)))  # type: ignore[arg-type]
    assert "limit of 2 model steps" in update["messages"][0].content
    assert model.requests == []


async def test_without_tool_calls_left_the_model_answers_without_tools() -> None:
    model = StructuredFake(text="final")
    step = ModelStep(FakeModels(model), Toolset([calculate_tool()]))  # type: ignore[arg-type]
    used: list[AnyMessage] = [
        HumanMessage("q"),
        AIMessage("", tool_calls=[call("calculate", {"expression": "1"}, "c1")]),
        ToolMessage("1", tool_call_id="c1"),
    ]
    update = await step({"messages": used}, Runtime(RunContext(max_tool_calls=1)))  # type: ignore[arg-type]
    assert update["messages"][0].content == "final"
    assert model.requests[-1]["tools"] == []


def test_route_sends_each_open_call_to_its_own_task() -> None:
    reply = AIMessage("", tool_calls=[call("a", {}, "c1"), call("b", {}, "c2")])
    sends = route({"messages": [HumanMessage("q"), reply]})
    assert isinstance(sends, list) and all(isinstance(s, Send) for s in sends)
    assert [s.arg[0]["id"] for s in sends] == ["c1", "c2"]
    refused = [
        HumanMessage("q"),
        reply,
        ToolMessage("x", tool_call_id="c1"),
        ToolMessage("y", tool_call_id="c2"),
    ]
    assert route({"messages": refused}) == "model"
    assert route({"messages": [HumanMessage("q"), AIMessage("done")]}) == END


def test_tool_errors_read_as_one_line() -> None:
    assert tool_error(TimeoutError()) == "Error: An operation timed out: try again."


# --- summarising --------------------------------------------------------------------------


async def test_a_short_conversation_is_left_alone() -> None:
    model = StructuredFake(text="summary")
    folded = await Summarizer(FakeModels(model)).fold(  # type: ignore[arg-type]
        [HumanMessage("hi", id="1")], RunContext()
    )
    assert folded is None and model.requests == []


async def test_a_long_conversation_is_folded_keeping_the_recent_half() -> None:
    model = StructuredFake(text="They talked about tides.")
    messages: list[AnyMessage] = []
    for n in range(12):
        messages += [HumanMessage(f"q{n}", id=f"h{n}"), AIMessage(f"a{n}", id=f"a{n}")]
    folded = await Summarizer(FakeModels(model)).fold(messages, RunContext(max_messages=10))  # type: ignore[arg-type]
    assert folded is not None
    kept = [m for m in folded if m.type != "remove"]
    assert kept[0].additional_kwargs["lc_source"] == SUMMARY_SOURCE
    assert "They talked about tides." in kept[0].content
    assert len(kept) <= 6 and kept[-1].content == "a11"


async def test_a_failed_summary_deletes_nothing() -> None:
    model = StructuredFake(fail=RuntimeError("model down"))
    messages: list[AnyMessage] = [HumanMessage("x" * 100, id=str(n)) for n in range(30)]
    folded = await Summarizer(FakeModels(model)).fold(messages, RunContext(max_messages=10))  # type: ignore[arg-type]
    assert folded is None


# --- the approval gate ------------------------------------------------------------------


def gated_graph(tool: StructuredTool, gate: bool) -> Any:
    """A tool node behind the approval gate, fed one call."""

    async def model(state: AgentState) -> dict[str, Any]:
        reply = AIMessage("", tool_calls=[call(tool.name, {"expression": "2+2"}, "c1")])
        return {"messages": [reply], "gate": {"c1": gate}}

    builder = StateGraph(AgentState)
    builder.add_node("model", model)
    builder.add_node(
        "tools", ToolNode([tool], awrap_tool_call=approval_gate(5.0), handle_tool_errors=tool_error)
    )
    builder.add_edge(START, "model")
    builder.add_conditional_edges(
        "model", lambda s: [Send("tools", [c]) for c in open_calls(s["messages"])], ["tools"]
    )
    builder.add_edge("tools", END)
    return builder.compile(checkpointer=InMemorySaver())


async def test_an_ungated_call_runs_at_once() -> None:
    graph = gated_graph(calculate_tool(), gate=False)
    result = await graph.ainvoke(
        {"messages": [HumanMessage("q")]}, {"configurable": {"thread_id": "1"}}
    )
    assert result["messages"][-1].content == "2+2 = 4"


@pytest.mark.parametrize(
    ("answer", "says", "outcome"),
    [
        (approvals.approve(), "2+2 = 4", None),
        (approvals.edit("calculate", {"expression": "3+3"}), "3+3 = 4", None),
        (approvals.reject("no"), "declined to run calculate: no", "declined"),
        (approvals.respond("use 5"), "did not run calculate and said: use 5", "declined"),
    ],
    ids=["approve", "edit", "reject", "respond"],
)
async def test_a_gated_call_waits_for_the_decision(
    answer: dict[str, Any], says: str, outcome: str | None
) -> None:
    graph = gated_graph(calculate_tool(), gate=True)
    config = {"configurable": {"thread_id": "1"}}
    paused = await graph.ainvoke({"messages": [HumanMessage("q")]}, config)
    [asked] = paused["__interrupt__"]
    assert asked.value["action_requests"][0]["args"] == {"expression": "2+2"}
    assert asked.value["title"] == "Run calculate?"
    result = await graph.ainvoke(Command(resume={asked.id: answer}), config)
    last = result["messages"][-1]
    assert says in last.content
    assert (last.artifact or {}).get("outcome") == outcome


async def test_a_tool_that_asks_itself_is_not_asked_twice() -> None:
    tool = calculate_tool()
    tool.metadata = {ASKS_ITSELF: True, LABEL: "Calculator"}
    graph = gated_graph(tool, gate=True)
    result = await graph.ainvoke(
        {"messages": [HumanMessage("q")]}, {"configurable": {"thread_id": "1"}}
    )
    assert "__interrupt__" not in result
    assert result["messages"][-1].content == "2+2 = 4"


async def test_an_invalid_edit_is_asked_again_with_the_reason() -> None:
    graph = gated_graph(calculate_tool(), gate=True)
    config = {"configurable": {"thread_id": "1"}}
    [asked] = (await graph.ainvoke({"messages": [HumanMessage("q")]}, config))["__interrupt__"]
    again = await graph.ainvoke(
        Command(resume={asked.id: approvals.edit("calculate", {"nope": 1})}), config
    )
    [second] = again["__interrupt__"]
    assert second.id != asked.id
    assert "expression" in second.value["error"] and "pydantic" not in second.value["error"]
