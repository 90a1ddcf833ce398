"""``research`` as an ordinary tool of the supervisor: it runs the research graph.

The graph runs as a subgraph on the conversation's checkpointer (its plan review pauses
the conversation like any approval), and its events reach the faces through the stream.
The model gets a short account of the report; the person gets the whole report.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt.tool_node import ToolRuntime
from pydantic import BaseModel, Field

from assistant.agent.gate import ASKS_ITSELF, LABEL, LONG_RUNNING
from assistant.events import Outcome
from assistant.research.graph import ACTION, run_id_for
from assistant.text import brief, plural

DESCRIPTION = (
    "Research a topic on the web and write a report with verified sources. Slow and "
    "costly: use it for real research requests. The person reviews the plan first."
)


class ResearchArgs(BaseModel):
    """Arguments of ``research``."""

    topic: str = Field(
        description="What to research, as a clear question or topic.",
        min_length=1,
        max_length=2_000,
    )


def account(result: dict[str, Any]) -> str:
    """What the model is told of a finished report (not the report itself)."""
    plan = result["plan"]
    written = [s for s in result.get("sections", []) if s["status"] == "ok"]
    names = "; ".join(s.name for s in plan.sections)
    return (
        f'The report "{plan.title}" is finished and the person can read it in full now '
        f"({plural(len(written), 'section')} of {len(plan.sections)} written: {names}). "
        "Do not repeat it. Its opening:\n\n" + brief(result.get("report", ""), 1_500)
    )


def build_research_tool(graph: Any) -> BaseTool:
    """The ``research`` tool running ``graph`` (compiled without a checkpointer)."""

    async def research(topic: str, runtime: ToolRuntime) -> tuple[str, dict[str, Any]]:
        config = runtime.config
        thread_id = str(config.get("configurable", {}).get("thread_id", ""))
        call_id = runtime.tool_call_id or ACTION
        gate = (runtime.state or {}).get("gate") or {}
        result = await graph.ainvoke(
            {
                "topic": " ".join(topic.split()),
                "call_id": call_id,
                "thread_id": thread_id,
                "run_id": run_id_for(thread_id, call_id),
                "needs_review": bool(gate.get(call_id, True)),
            },
            config,
        )
        if result.get("status") == "rejected":
            reason = result.get("reject_reason")
            return (
                "The person rejected the research plan, so nothing was searched"
                + (f": {reason}" if reason else "."),
                {
                    "outcome": Outcome.DECLINED.value,
                    "summary": "You rejected the plan: nothing was searched.",
                },
            )
        written = sum(s["status"] == "ok" for s in result.get("sections", []))
        return account(result), {
            "outcome": Outcome.DONE.value,
            "summary": f"Report ready: {plural(written, 'section')}.",
            "file": result.get("report_file"),
        }

    return StructuredTool.from_function(
        coroutine=research,
        name=ACTION,
        description=DESCRIPTION,
        args_schema=ResearchArgs,
        response_format="content_and_artifact",
        metadata={LABEL: "Research", ASKS_ITSELF: True, LONG_RUNNING: True},
    )
