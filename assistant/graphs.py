"""The two graphs, built from their dependencies: the chat supervisor and the research workflow.

The engine compiles them on its own checkpointer; LangGraph Server
(``assistant/server_graphs.py``) compiles them without one and supplies its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from langchain_core.tools import BaseTool
from langgraph.types import Checkpointer

from assistant.agent import build_supervisor
from assistant.agent.toolset import ToolSource
from assistant.attachments import Attachments
from assistant.context import RunContext
from assistant.memory import Memories
from assistant.models import ModelFactory
from assistant.research.graph import LiveRuns, build_research_graph
from assistant.research.worker import Sources
from assistant.searching import SearchService
from assistant.settings import Settings
from assistant.storage import FileStore, SectionStore
from assistant.toolbox import build_tools
from tools.fetch import FetchPolicy, PageCache, PageFetcher


@dataclass(frozen=True)
class Graphs:
    """The compiled graphs and the clients they share."""

    models: ModelFactory
    search: SearchService
    attachments: Attachments
    pages: PageCache
    """Pages read, shared by every run of the process."""
    runs: LiveRuns
    tools: list[BaseTool]
    chat: Any
    """The supervisor with every tool, research included (run as a subgraph)."""
    research: Any
    """Research on its own thread: plan → review → workers → synthesize."""


def build_graphs(
    settings: Settings,
    *,
    sections: SectionStore,
    files: FileStore,
    http: httpx.AsyncClient,
    model_http: Any = None,
    checkpointer: Checkpointer = None,
    context_schema: type[RunContext] = RunContext,
    memories: Memories | None = None,
    sources: Sequence[ToolSource] = (),
) -> Graphs:
    """Compile both graphs on ``checkpointer`` (None: the caller's runtime supplies one).

    ``http``: the client of web searches; ``model_http``: the models' (``open_model_http``;
    None: the openai SDK's default client).

    ``memories``: people's long-term memories (None: no memory); ``sources``: tools from
    outside (the operator's MCP servers), offered to the supervisor as they are at each call.

    ``context_schema``: the class a run's context is read into (a dict from a client is
    passed to it as keyword arguments); ``RunContext.with_defaults`` makes one whose
    defaults are the settings.
    """
    models = ModelFactory(settings, model_http)
    search = SearchService(settings, http)
    attachments = Attachments(files, settings)
    policy = FetchPolicy(allow=settings.fetch_allow, total_timeout=settings.fetch_timeout)
    pages = PageCache()
    # One TLS context for every run's page reader: loading the system's CA certificates
    # takes ~20 ms of the event loop, which each research run would otherwise pay.
    tls = httpx.create_ssl_context(trust_env=False)

    async def open_sources(thread_id: str, owner: str, web: bool) -> Sources:
        """One research run's sources: a search session, a page reader, the documents."""
        return Sources(
            search.session(),
            PageFetcher(policy, pages, ssl_context=tls) if web else None,
            await attachments.documents(thread_id, owner),
        )

    runs = LiveRuns(open_sources)

    def research(checkpointer: Checkpointer = None) -> Any:
        return build_research_graph(
            models=models,
            sections=sections,
            files=files,
            runs=runs,
            checkpointer=checkpointer,
            context_schema=context_schema,
            memories=memories,
        )

    # Inside the chat graph, research runs as a subgraph on the conversation's checkpointer.
    tools = build_tools(models=models, search=search, research_graph=research(), memories=memories)
    return Graphs(
        models=models,
        search=search,
        attachments=attachments,
        pages=pages,
        runs=runs,
        tools=tools,
        chat=build_supervisor(
            models=models,
            tools=tools,
            checkpointer=checkpointer,
            context_schema=context_schema,
            sources=sources,
            memories=memories,
        ),
        research=research(checkpointer),
    )
