"""The supervisor's tools, built from their dependencies, in one list.

Each tool carries metadata the rest of the system reads instead of its name: a ``label``
for people, ``asks_itself`` (it shows its own approval, later, with more to show) and
``long_running`` (no time limit).
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from langgraph.prebuilt.tool_node import ToolRuntime
from pydantic import BaseModel, Field

from assistant import prompts
from assistant.agent.gate import LABEL
from assistant.context import RunContext
from assistant.events import Outcome
from assistant.memory import MAX_MEMORY_CHARS, REMEMBER, Memories
from assistant.models import ModelFactory
from assistant.research.tool import build_research_tool
from assistant.searching import SearchService
from tools import calculator, writing
from tools.search import format_results

WRITING_PROMPTS = writing.WritingPrompts(
    writer=prompts.WRITER, critic=prompts.CRITIC, reviser=prompts.REVISER
)


class WebSearchArgs(BaseModel):
    """Arguments of ``web_search``."""

    query: str = Field(description="A web search query.", min_length=1, max_length=500)


class CalculateArgs(BaseModel):
    """Arguments of ``calculate``."""

    expression: str = Field(
        description="An arithmetic expression, e.g. '(3 + 4) * 2 ^ 10'.", max_length=2_000
    )


class WriteArgs(BaseModel):
    """Arguments of ``write``."""

    brief: str = Field(
        description="What to write: kind of text, audience, key points, tone, length.",
        max_length=20_000,
    )


class RememberArgs(BaseModel):
    """Arguments of ``remember``."""

    fact: str = Field(
        description="The fact or preference, one short sentence about the person, e.g. "
        "'Prefers reports in French, at most two pages'.",
        min_length=1,
        max_length=MAX_MEMORY_CHARS,
    )


def build_tools(
    *,
    models: ModelFactory,
    search: SearchService,
    research_graph: Any,
    memories: Memories | None = None,
) -> list[BaseTool]:
    """Every tool the supervisor may call (``remember`` only with ``memories``)."""

    async def web_search(query: str) -> str:
        results = await search.session().search(query)
        if not results:
            return f"No results for {query!r}."
        return format_results(results)

    async def calculate(expression: str) -> str:
        return calculator.calculate(expression)

    async def write(brief: str, runtime: ToolRuntime[RunContext]) -> str:
        context = runtime.context

        async def critic(prompt: str) -> writing.Critique:
            return await models.structured(writing.Critique, prompt, context.model)

        return await writing.write(
            brief,
            models.whole(context.model),
            critic,
            WRITING_PROMPTS,
            max_rounds=context.write_rounds,
        )

    def tool(fn: Any, schema: type[BaseModel], description: str, label: str) -> BaseTool:
        return StructuredTool.from_function(
            coroutine=fn,
            name=fn.__name__,
            description=description,
            args_schema=schema,
            metadata={LABEL: label},
        )

    async def remember(fact: str, runtime: ToolRuntime[RunContext]) -> tuple[str, dict[str, Any]]:
        if memories is None or not runtime.context.memory:
            return "Long-term memory is turned off here: nothing was kept.", {
                "outcome": Outcome.DECLINED.value,
                "summary": "Memory is off: nothing kept.",
            }
        thread_id = str((runtime.config.get("configurable") or {}).get("thread_id", ""))
        memory, new = await memories.add(runtime.context.owner, fact, thread_id)
        said = "Kept in long-term memory" if new else "Already in long-term memory"
        return f"{said}: {memory.text}", {
            "outcome": Outcome.DONE.value,
            "summary": f"Remembered: {memory.text}",
            "undo": {"kind": "memory", "key": memory.id},
        }

    kept = (
        [
            StructuredTool.from_function(
                coroutine=remember,
                name=REMEMBER,
                description="Keep a lasting fact or preference about the person for later "
                "conversations, when they ask you to remember it or state it.",
                args_schema=RememberArgs,
                response_format="content_and_artifact",
                metadata={LABEL: "Memory"},
            )
        ]
        if memories is not None
        else []
    )
    return [
        build_research_tool(research_graph),
        tool(
            web_search,
            WebSearchArgs,
            "Quick web search; returns titles, URLs and snippets.",
            "Web search",
        ),
        tool(calculate, CalculateArgs, "Evaluate an arithmetic expression exactly.", "Calculator"),
        tool(
            write, WriteArgs, "Write a polished text: drafts, critiques and revises it.", "Writing"
        ),
        *kept,
    ]
