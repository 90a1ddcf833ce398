"""The engine: storage opened, graphs built from their dependencies, runs streamed as events.

The CLI and the chat UI each open one ``Engine`` and only draw what it streams.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from langgraph.types import Command

from assistant.errors import InputError, validate_message
from assistant.events import ApprovalNeeded, Event, translate
from assistant.models import ModelFactory
from assistant.options import configurable
from assistant.research.graph import build_research_graph
from assistant.settings import Settings
from assistant.storage import AppStore, ThreadInfo, open_checkpointer
from assistant.supervisor import build_supervisor
from assistant.toolbox import build_tools
from tools.search import SearchProvider, make_provider

if TYPE_CHECKING:
    from assistant.tracing import Tracing

STREAM_MODES = ["messages", "updates", "custom"]


@dataclass(frozen=True)
class RunConfig:
    """Per-run overrides chosen by the person (chat settings panel, CLI flags)."""

    model: str | None = None
    max_parallel: int | None = None
    approve: Iterable[str] | None = None


def new_thread_id() -> str:
    """A fresh thread id."""
    return str(uuid.uuid4())


def check_thread_id(thread_id: str) -> str:
    """Refuse thread ids that are empty, huge or contain control characters."""
    if (
        not thread_id
        or len(thread_id) > 128
        or not thread_id.isprintable()
        or thread_id.strip() != thread_id
    ):
        raise InputError("Invalid thread id: use the id printed by 'assistant threads'.")
    return thread_id


class Engine:
    """Everything a face needs, with one lifetime."""

    def __init__(
        self,
        settings: Settings,
        store: AppStore,
        checkpointer: Any,
        http: httpx.AsyncClient,
        tracing: Tracing | None = None,
    ) -> None:
        """Build the graphs; use ``Engine.open`` instead of calling this."""
        self.settings = settings
        self.tracing = tracing
        self.store = store
        self.checkpointer = checkpointer
        self.http = http
        self.models = ModelFactory(settings)

        def search_provider() -> SearchProvider:
            return make_provider(settings, http)

        deps: dict[str, Any] = {
            "models": self.models,
            "store": store,
            "settings": settings,
            "search_provider": search_provider,
        }
        self.research = build_research_graph(**deps, checkpointer=checkpointer)
        self.supervisor = build_supervisor(
            models=self.models,
            tools=build_tools(
                models=self.models, settings=settings, search_provider=search_provider
            ),
            research_graph=build_research_graph(**deps),
            settings=settings,
            checkpointer=checkpointer,
        )

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, settings: Settings, tracing: Tracing | None = None
    ) -> AsyncIterator[Engine]:
        """Open the databases and clients; close them all on exit. ``tracing``: from
        ``assistant.tracing.setup_tracing``, owned (and shut down) by the caller."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = await AppStore.open(settings.store_path, settings.db_timeout)
        try:
            checkpointer = await open_checkpointer(settings.checkpoint_path, settings.db_timeout)
            try:
                async with httpx.AsyncClient(timeout=settings.search_timeout) as http:
                    yield cls(settings, store, checkpointer, http, tracing)
            finally:
                await checkpointer.conn.close()
        finally:
            await store.close()

    def _graph(self, kind: str) -> Any:
        return self.research if kind == "research" else self.supervisor

    async def _run(
        self, kind: str, thread_id: str, payload: Any, options: RunConfig, owner: str | None = None
    ) -> AsyncIterator[Event]:
        config = configurable(
            check_thread_id(thread_id),
            model=options.model,
            max_parallel=options.max_parallel,
            approve=options.approve,
        )
        # "sync": each step's checkpoint is written before the next step starts, so a
        # process killed mid-turn never loses what the person already sent.
        traced = self.tracing.run(thread_id, owner) if self.tracing else contextlib.nullcontext()
        with traced:  # every span of this run carries the thread id (and the owner)
            stream = self._graph(kind).astream(
                payload, config, stream_mode=STREAM_MODES, subgraphs=True, durability="sync"
            )
            async for event in translate(stream):
                yield event

    async def chat(
        self,
        thread_id: str,
        text: str,
        options: RunConfig = RunConfig(),
        *,
        owner: str | None = None,
    ) -> AsyncIterator[Event]:
        """Send the person's message on ``thread_id`` and stream the turn."""
        text = validate_message(text)
        self.models.check()
        await self.store.touch_thread(thread_id, kind="chat", title=text, owner=owner)
        payload = {"messages": [("user", text)]}
        async for event in self._run("chat", thread_id, payload, options, owner):
            yield event

    async def research_run(
        self, thread_id: str, topic: str | None, options: RunConfig = RunConfig()
    ) -> AsyncIterator[Event]:
        """Start research on ``topic``, or continue ``thread_id`` when ``topic`` is None."""
        self.models.check()
        payload: Any = None
        if topic is not None:
            topic = validate_message(topic, what="topic")
            await self.store.touch_thread(thread_id, kind="research", title=topic)
            payload = {"topic": topic}
        async for event in self._run("research", thread_id, payload, options):
            yield event

    async def resume(
        self,
        thread_id: str,
        answers: dict[str, Any],
        *,
        kind: str = "chat",
        options: RunConfig = RunConfig(),
        owner: str | None = None,
    ) -> AsyncIterator[Event]:
        """Answer pending approvals (``{interrupt_id: resume value}``) and stream on."""
        self.models.check()
        pending = {a.interrupt_id for a in await self.pending(thread_id, kind=kind)}
        unknown = set(answers) - pending
        if unknown:
            raise InputError("That approval is no longer pending on this thread.")
        info = await self.store.get_thread(thread_id)
        if info:
            await self.store.touch_thread(thread_id, kind=info.kind, title=info.title)
        async for event in self._run(kind, thread_id, Command(resume=answers), options, owner):
            yield event

    async def continue_run(
        self,
        thread_id: str,
        *,
        kind: str = "chat",
        options: RunConfig = RunConfig(),
        owner: str | None = None,
    ) -> AsyncIterator[Event]:
        """Re-run from the last checkpoint (after an error or a crash)."""
        self.models.check()
        async for event in self._run(kind, thread_id, None, options, owner):
            yield event

    async def snapshot(self, thread_id: str, *, kind: str = "chat") -> Any:
        """The thread's latest state (``.values``, ``.next``, ``.interrupts``)."""
        config = configurable(check_thread_id(thread_id))
        return await self._graph(kind).aget_state(config)

    async def pending(self, thread_id: str, *, kind: str = "chat") -> list[ApprovalNeeded]:
        """Approvals the thread is waiting for, including inside the research subgraph."""
        state = await self.snapshot(thread_id, kind=kind)
        found = {i.id: ApprovalNeeded(i.id, i.value) for i in state.interrupts}
        for task in state.tasks:
            for i in task.interrupts:
                found.setdefault(i.id, ApprovalNeeded(i.id, i.value))
        return list(found.values())

    async def threads(self, limit: int = 50) -> list[ThreadInfo]:
        """Saved threads, newest first."""
        return await self.store.list_threads(limit)
