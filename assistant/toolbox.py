"""The supervisor's tools, built from their dependencies into one name → tool map.

``research`` is listed so the model can call it, but it runs as the research subgraph
(see ``supervisor.py``), not through ``BaseTool.ainvoke``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from assistant.models import ModelFactory
from assistant.options import RunOptions
from assistant.settings import Settings
from tools import calculator, writing
from tools.search import RateLimiter, SearchProvider, SearchSession, format_results


class ResearchArgs(BaseModel):
    """Arguments of ``research``."""

    topic: str = Field(description="What to research, as a clear question or topic.")


class WebSearchArgs(BaseModel):
    """Arguments of ``web_search``."""

    query: str = Field(description="A web search query.")


class CalculateArgs(BaseModel):
    """Arguments of ``calculate``."""

    expression: str = Field(description="An arithmetic expression, e.g. '(3 + 4) * 2 ^ 10'.")


class WriteArgs(BaseModel):
    """Arguments of ``write``."""

    brief: str = Field(
        description="What to write: kind of text, audience, key points, tone, length."
    )


def build_tools(
    *,
    models: ModelFactory,
    settings: Settings,
    search_provider: Callable[[], SearchProvider],
) -> dict[str, BaseTool]:
    """Every tool the supervisor may call, by name."""

    async def research(topic: str) -> str:
        raise RuntimeError("research runs as a subgraph; the supervisor routes it there")

    async def web_search(query: str) -> str:
        session = SearchSession(
            search_provider(),
            limiter=RateLimiter(settings.search_rate),
            max_results=settings.search_results,
        )
        results = await session.search(query)
        if not results:
            return f"No results for {query!r}."
        return format_results(results)

    async def calculate(expression: str) -> str:
        return calculator.calculate(expression)

    async def write(brief: str, config: RunnableConfig) -> str:
        name = RunOptions.from_config(config, settings).model

        async def critic(prompt: str) -> writing.Critique:
            return await models.structured(writing.Critique, prompt, name)

        result = await writing.write(
            brief, models.get(name), critic, max_rounds=settings.write_rounds
        )
        return result.text

    specs: list[tuple[Callable[..., Awaitable[str]], type[BaseModel], str]] = [
        (
            research,
            ResearchArgs,
            "Research a topic on the web and write a report with "
            "verified sources. Slow and costly: use it for real research requests.",
        ),
        (web_search, WebSearchArgs, "Quick web search; returns titles, URLs and snippets."),
        (calculate, CalculateArgs, "Evaluate an arithmetic expression exactly."),
        (write, WriteArgs, "Write a polished text: drafts, critiques and revises it."),
    ]
    return {
        fn.__name__: StructuredTool.from_function(
            coroutine=fn, name=fn.__name__, description=description, args_schema=schema
        )
        for fn, schema, description in specs
    }
