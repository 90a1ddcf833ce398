"""The graphs LangGraph Server serves (``langgraph dev``, LangGraph Studio, Agent Chat UI).

``langgraph.json`` names two graphs through the factories below: ``chat``, the supervisor
with every tool (research included), and ``research``, the research workflow on its own
thread. LangGraph Server supplies its own checkpointer and refuses a graph compiled with
one, so both are compiled without. Their dependencies (models from the settings in the
environment, the search service, the stores of saved sections and report files) are opened
once per server process, in the event loop without blocking it, by ``app``'s lifespan
(``http.app`` in ``langgraph.json``), which also closes them when the server stops; a
factory called before that opens them itself.

A run's ``context`` is optional: a JSON object naming some of ``RunContext``'s fields, the
others coming from the settings. Approvals interrupt in the schema of langchain's
``HumanInTheLoopMiddleware`` and are answered with ``{"decisions": [{"type": "approve"}]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.applications import Starlette

from assistant.context import RunContext
from assistant.graphs import Graphs, build_graphs
from assistant.models import open_model_http
from assistant.research.schemas import CHECKPOINTED
from assistant.settings import load_settings
from assistant.storage import open_storage

log = logging.getLogger(__name__)


class _Served:
    """The graphs of this server process and everything they hold open."""

    def __init__(self) -> None:
        self._graphs: Graphs | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    async def graphs(self) -> Graphs:
        """The graphs, their dependencies opened on first use."""
        if self._graphs is None:
            async with self._lock:
                if self._graphs is None:
                    self._graphs = await self._open()
        return self._graphs

    async def _open(self) -> Graphs:
        settings = load_settings()
        async with contextlib.AsyncExitStack() as stack:
            # The checkpointer open_storage also opens goes unused: the server has its own.
            storage = await stack.enter_async_context(open_storage(settings, CHECKPOINTED))
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=settings.search_timeout)
            )
            graphs = build_graphs(
                settings,
                sections=storage.sections,
                files=storage.files,
                http=http,
                model_http=await stack.enter_async_context(open_model_http()),
                context_schema=RunContext.with_defaults(settings),
            )
            self._stack = stack.pop_all()
        log.info("serving the chat and research graphs; data in %s", settings.data_dir)
        return graphs

    async def close(self) -> None:
        """Close every connection and client (the server is stopping)."""
        async with self._lock:
            stack, self._stack, self._graphs = self._stack, None, None
            if stack is not None:
                await stack.aclose()
                log.info("closed the graphs' databases and clients")


_served = _Served()


async def chat() -> Any:
    """The chat graph: the supervisor with every tool, research included."""
    return (await _served.graphs()).chat


async def research() -> Any:
    """The research graph: plan → review → workers → synthesize (input: ``{"topic": ...}``)."""
    return (await _served.graphs()).research


@contextlib.asynccontextmanager
async def _lifespan(_: Starlette) -> AsyncIterator[None]:
    await _served.graphs()  # a wrong setting stops the server at start, naming the variable
    try:
        yield
    finally:
        await _served.close()


app = Starlette(lifespan=_lifespan)
"""No routes of its own: its lifespan opens the graphs' dependencies and closes them."""
