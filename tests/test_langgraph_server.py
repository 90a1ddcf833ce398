"""LangGraph Server (``langgraph dev``) serves ``langgraph.json``'s graphs to a LangGraph client.

The server runs from its own virtualenv (``make langgraph``) against the scripted model and
the local search endpoint; a ``langgraph-sdk`` client talks to it as Agent Chat UI would:
the plan review arrives in the HumanInTheLoopMiddleware schema and is answered with
``{"decisions": [{"type": "approve"}]}``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from assistant.approvals import ApprovalRequest, approve
from fakes.brain import WORKER_PROMPT
from fakes.langgraph_server import LANGGRAPH, LangGraphDev
from fakes.openai_server import ScriptedOpenAI

pytestmark = pytest.mark.skipif(
    not LANGGRAPH.exists(),
    reason=f"{LANGGRAPH} is missing: run `make langgraph` (LangGraph Server's own virtualenv)",
)


@pytest.fixture
def server(cli_env: dict[str, str], tmp_path: Path) -> Iterator[LangGraphDev]:
    """``langgraph dev`` on a free port; stopped (process group and all) after the test."""
    dev = LangGraphDev(cli_env, tmp_path / "langgraph")
    dev.start()
    try:
        yield dev
    finally:
        code = dev.stop()
        # The lifespan closed the graphs' connections: the server exits by itself.
        assert code is not None, "langgraph dev had to be killed:\n" + dev.tail()


@pytest.fixture
def client(server: LangGraphDev) -> SyncLangGraphClient:
    """A LangGraph client of the server."""
    return get_sync_client(url=server.url)


def stream(client: SyncLangGraphClient, thread_id: str, graph: str, **run: Any) -> list[Any]:
    """Stream a run's updates to its end; the interrupts it paused with."""
    paused: list[Any] = []
    for part in client.runs.stream(thread_id, graph, stream_mode="updates", **run):
        assert part.event != "error", part.data
        if part.event == "updates" and "__interrupt__" in part.data:
            paused.extend(part.data["__interrupt__"])
    return paused


def plan_review(interrupts: list[Any]) -> ApprovalRequest:
    """The one pending interrupt, read as the HITL request it must be."""
    assert len(interrupts) == 1, interrupts
    value = interrupts[0]["value"]
    assert set(value) >= {"action_requests", "review_configs"}
    return ApprovalRequest.model_validate(value)


def test_chat_graph_researches_after_plan_approval(
    server: LangGraphDev, client: SyncLangGraphClient, llm: ScriptedOpenAI
) -> None:
    thread = client.threads.create()["thread_id"]
    message = {"role": "user", "content": "research the history of tea"}
    asked = stream(client, thread, "chat", input={"messages": [message]})

    request = plan_review(asked)
    assert request.action.name == "research"
    assert request.title == "Research plan"
    assert [s["name"] for s in request.action.args["sections"]] == ["Part 1", "Part 2", "Part 3"]
    assert {"approve", "edit", "reject"} <= set(request.allowed)
    state = client.threads.get_state(thread)
    assert [i["id"] for i in state["interrupts"]] == [asked[0]["id"]]
    assert not [c for c in llm.calls if c.request.last_user.startswith(WORKER_PROMPT)]

    again = stream(client, thread, "chat", command={"resume": approve()})

    assert again == []
    values = client.threads.get_state(thread)["values"]
    tool = next(m for m in values["messages"] if m["type"] == "tool")
    assert tool["name"] == "research"
    assert 'The report "A Report" is finished' in tool["content"]
    assert tool["artifact"]["file"].endswith("/a-report.md")
    assert values["messages"][-1]["type"] == "ai"
    assert values["messages"][-1]["content"].startswith("Done.")
    workers = [c for c in llm.calls if c.request.last_user.startswith(WORKER_PROMPT)]
    assert len(workers) == 3


def test_research_graph_with_partial_context(
    server: LangGraphDev, client: SyncLangGraphClient, llm: ScriptedOpenAI
) -> None:
    thread = client.threads.create()["thread_id"]
    context = {"max_parallel": 2}  # the rest from the server's settings
    asked = stream(client, thread, "research", input={"topic": "ocean tides"}, context=context)

    request = plan_review(asked)
    assert request.action.name == "research"

    # Answered by interrupt id, the form for several pending interrupts.
    stream(client, thread, "research", command={"resume": {asked[0]["id"]: approve()}})

    values = client.threads.get_state(thread)["values"]
    assert values["status"] == "done"
    assert values["report"].startswith("# A Report")
    assert "## Sources" in values["report"]
    assert values["thread_id"] == thread
    assert values["report_file"] == f"{values['run_id']}/a-report.md"
