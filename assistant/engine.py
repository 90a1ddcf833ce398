"""The engine: storage opened, graphs built from their dependencies, runs streamed as events.

The CLI and the chat UI each open one ``Engine`` and only draw what it streams. Every run
(a message, an answer to an approval, a continue) goes through ``_run``: the thread's owner
and kind are checked, its lease is taken (one writer per thread, across processes), the
graph is streamed with the run's context, and the lease is released however the run ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import httpx
from langgraph.types import Command

from assistant.agent.gate import LABEL
from assistant.agent.graph import message_input
from assistant.agent.toolset import label_of
from assistant.agent.turns import open_calls, unanswered
from assistant.approvals import ApprovalRequest
from assistant.attachments import Attached, Upload
from assistant.context import Choices, RunContext
from assistant.errors import ConfigurationError, InputError, validate_message
from assistant.events import ApprovalNeeded, Event, Notice, ToolStarted, Undo, translate
from assistant.graphs import build_graphs
from assistant.memory import Memories, Memory
from assistant.models import memory_embeddings, open_model_http
from assistant.research.graph import ACTION, run_id_for
from assistant.research.report import EXPORT, EXPORT_TYPES, REPORT
from assistant.research.schemas import CHECKPOINTED
from assistant.settings import Settings
from assistant.storage import (
    RunStart,
    Storage,
    StoredFile,
    ThreadInfo,
    ThreadKind,
    ThreadNotFound,
    ThreadStatus,
    new_holder,
    open_storage,
)
from assistant.turn_queue import TurnQueue
from tools.export import export_report

if TYPE_CHECKING:
    from assistant.mcp_tools import McpTools
    from assistant.tracing import Tracing
    from tools.mcp import ServerStatus

log = logging.getLogger(__name__)

STREAM_MODES = ["messages", "updates", "custom"]
DELETE_WAIT_S = 5.0


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


@dataclass(frozen=True)
class ThreadView:
    """A reopened thread: what it is and what it waits for."""

    info: ThreadInfo
    pending: list[ApprovalNeeded]
    """Questions still unanswered (answered ones are never listed, even if their run died)."""
    unfinished: bool
    """Work was cut short (stopped, failed, process killed) and can be continued."""
    running: bool
    """A run is going on right now (in another window or process)."""


@dataclass(frozen=True)
class ToolStatus:
    """What tools there are: the built-in ones and the operator's MCP servers."""

    builtin: list[tuple[str, str]]
    """``(name, label)`` of each built-in tool."""
    servers: list[ServerStatus]
    config: Path | None
    """The MCP config file (``ASSISTANT_MCP_CONFIG``), if any."""


@dataclass(frozen=True)
class ResearchResult:
    """What a research thread produced."""

    status: ThreadStatus
    title: str
    report: str
    report_file: str | None


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}, "recursion_limit": 100}


class Engine:
    """Everything a face needs, with one lifetime."""

    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        http: httpx.AsyncClient,
        tracing: Tracing | None = None,
        mcp: McpTools | None = None,
        model_http: Any = None,
    ) -> None:
        """Build the graphs; use ``Engine.open`` instead of calling this.

        ``mcp``: the operator's MCP servers; ``model_http``: the models' HTTP client
        (``open_model_http``; None: the openai SDK's default). Both owned by the caller:
        ``Engine.open`` closes them.
        """
        self.settings = settings
        self.tracing = tracing
        self.storage = storage
        self.mcp = mcp
        self.memories = (
            Memories(storage.store, embeddings=memory_embeddings(settings, model_http))
            if storage.store is not None
            else None
        )
        graphs = build_graphs(
            settings,
            sections=storage.sections,
            files=storage.files,
            http=http,
            model_http=model_http,
            checkpointer=storage.checkpointer,
            memories=self.memories,
            sources=[mcp] if mcp is not None else [],
        )
        self.models = graphs.models
        self.search = graphs.search
        self.runs = graphs.runs
        self.tools = graphs.tools
        self.attachments = graphs.attachments
        self.pages = graphs.pages
        self.labels = {
            tool.name: str((tool.metadata or {}).get(LABEL, tool.name)) for tool in self.tools
        }
        self.graphs: dict[ThreadKind, Any] = {
            ThreadKind.CHAT: graphs.chat,
            ThreadKind.RESEARCH: graphs.research,
        }
        self.outside_labels: dict[str, str] = {}
        """Labels of the MCP servers' tools, as of the last turn that refreshed them."""
        self.queue = TurnQueue()
        """Where chat turns wait for their turn to compute (``turn_queue``)."""
        self._active: dict[str, asyncio.Task[Any]] = {}
        self._renewals: dict[str, asyncio.Task[None]] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, settings: Settings, tracing: Tracing | None = None
    ) -> AsyncIterator[Engine]:
        """Open the databases and clients; close them all on exit.

        ``tracing``: from ``assistant.tracing.setup_tracing``, owned (and shut down) by the
        caller; every run is then traced with its thread as the session and its owner.
        """
        mcp = None
        if settings.mcp_config:  # the MCP SDK is imported only when it is used
            from assistant.mcp_tools import McpTools
            from tools.mcp import MCPConfigError

            try:
                mcp = McpTools.from_file(
                    settings.mcp_config, start_timeout=settings.mcp_start_timeout
                )
            except MCPConfigError as exc:
                raise ConfigurationError(f"ASSISTANT_MCP_CONFIG: {exc}") from None
        async with contextlib.AsyncExitStack() as stack:
            storage = await stack.enter_async_context(open_storage(settings, CHECKPOINTED))
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=settings.search_timeout)
            )
            model_http = await stack.enter_async_context(open_model_http())
            if mcp is not None:
                stack.push_async_callback(mcp.aclose)
            yield cls(settings, storage, http, tracing, mcp, model_http)

    def context(self, owner: str, choices: Choices | None = None) -> RunContext:
        """The context of a run for ``owner`` with their ``choices``."""
        return RunContext.build(self.settings, choices, owner=owner)

    # --- runs ----------------------------------------------------------------------------

    async def chat(
        self, thread_id: str, text: str, *, owner: str, choices: Choices | None = None
    ) -> AsyncGenerator[Event, None]:
        """Send the person's message on ``thread_id`` and stream the turn."""
        text = validate_message(text)
        context = self.context(owner, choices)
        self.models.check()
        notices = await self.prepare_tools()

        async def payload(start: RunStart) -> tuple[Any, list[Event]]:
            return message_input(text, at_rest=start.at_rest), notices

        # The model is the first step of a turn: its memories are read meanwhile.
        ahead = (
            self.memories.read_ahead(owner)
            if self.memories is not None and context.memory
            else contextlib.nullcontext()
        )
        with ahead:
            async with contextlib.aclosing(
                self._run(thread_id, ThreadKind.CHAT, context, payload, title=text)
            ) as run:
                async for event in run:
                    yield event

    async def research(
        self,
        thread_id: str,
        topic: str,
        *,
        owner: str,
        choices: Choices | None = None,
        web: bool = True,
    ) -> AsyncGenerator[Event, None]:
        """Start research on ``topic`` on a new research thread (documents attached to it
        with ``add_documents`` first are sources too; ``web`` False: they are the only ones)."""
        topic = validate_message(topic, what="topic")
        context = self.context(owner, choices)
        self.models.check()
        if not web and not await self.attachments.names(check_thread_id(thread_id), owner):
            raise InputError(
                "Research without the web needs documents to read: add them with --source."
            )
        payload = {
            "topic": topic,
            "call_id": ACTION,
            "thread_id": thread_id,
            "run_id": run_id_for(thread_id, ACTION),
            "needs_review": ACTION in context.approve,
            "web": web,
        }
        async with contextlib.aclosing(
            self._run(thread_id, ThreadKind.RESEARCH, context, _constant(payload), title=topic)
        ) as run:
            async for event in run:
                yield event

    async def resume(
        self,
        thread_id: str,
        answers: Mapping[str, Any],
        *,
        owner: str,
        choices: Choices | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Answer pending approvals (``{interrupt_id: resume value}``) and stream on.

        Each answer is recorded before it is applied, once: an answer to a question that
        is not pending (answered in another window, or never asked) is refused.
        """
        context = self.context(owner, choices)
        self.models.check()
        info = await self._info(thread_id, owner)
        notices = await self.prepare_tools() if info.kind is ThreadKind.CHAT else []

        async def payload(_: RunStart) -> tuple[Any, list[Event]]:
            state = await self._state(info)
            pending, decided = await self._questions(info, state)
            if not answers or set(answers) - {p.interrupt_id for p in pending}:
                raise InputError(
                    "That question is no longer waiting for an answer (it was answered in "
                    "another window, or the conversation moved on)."
                )
            await self.storage.threads.record_decisions(thread_id, dict(answers), owner)
            return Command(resume={**decided, **answers}), [*notices, *self._still_running(state)]

        async with contextlib.aclosing(self._run(thread_id, info.kind, context, payload)) as run:
            async for event in run:
                yield event

    async def continue_run(
        self, thread_id: str, *, owner: str, choices: Choices | None = None
    ) -> AsyncGenerator[Event, None]:
        """Re-run from the last checkpoint (after Stop, a failure or a crash).

        Answers recorded before the cut are applied again, so nothing is asked twice.
        """
        context = self.context(owner, choices)
        self.models.check()
        info = await self._info(thread_id, owner)
        notices = await self.prepare_tools() if info.kind is ThreadKind.CHAT else []

        async def payload(_: RunStart) -> tuple[Any, list[Event]]:
            state = await self._state(info)
            pending, decided = await self._questions(info, state)
            if pending:
                raise InputError("This conversation is waiting for your decision first.")
            events = [*notices, *self._still_running(state)]
            return (Command(resume=decided) if decided else None), events

        async with contextlib.aclosing(self._run(thread_id, info.kind, context, payload)) as run:
            async for event in run:
                yield event

    async def _run(
        self,
        thread_id: str,
        kind: ThreadKind,
        context: RunContext,
        payload: Callable[[RunStart], Awaitable[tuple[Any, list[Event]]]],
        *,
        title: str | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Take the lease, stream the graph, record how the run ended, release the lease.

        ``payload(start)`` runs under the lease: the graph's input, and events to send first.
        """
        check_thread_id(thread_id)
        # A chat turn computes in its turn (a burst of messages is served in order of
        # arrival); a research run is long and paces its own calls.
        queued = self.queue.turn() if kind is ThreadKind.CHAT else contextlib.nullcontext()
        async with queued:
            threads = self.storage.threads
            holder = new_holder()
            start = await threads.begin_run(
                thread_id,
                kind=kind,
                owner=context.owner,
                title=title,
                holder=holder,
                create=title is not None,
            )
            info = start.info
            try:
                value, preface = await payload(start)  # under the lease: no run interleaves
            except BaseException:  # nothing ran: the thread stays as the run before left it
                await threads.end_run(thread_id, holder, start.status, info.status)
                raise
            status = ThreadStatus.FAILED
            task = asyncio.current_task()
            if task is not None:
                self._active[thread_id] = task
            heartbeat = asyncio.get_running_loop().call_later(
                self.settings.lease_seconds / 3, self._renew_later, thread_id, holder, task
            )
            try:
                graph = self.graphs[kind]
                stream = graph.astream(
                    value,
                    _config(thread_id),
                    context=context,
                    stream_mode=STREAM_MODES,
                    subgraphs=True,
                    # "sync": each step's checkpoint is written before the next step starts, so
                    # a process killed mid-turn never loses what the person already sent.
                    durability="sync",
                )
                for event in preface:
                    yield event
                waiting = False
                # Both closed here, in order, however the run ends: a stopped run's graph must
                # not be left to the garbage collector (its clean-up then fails).
                traced = (
                    self.tracing.run(thread_id, context.owner)
                    if self.tracing is not None
                    else contextlib.nullcontext()
                )
                with traced:  # every span of this run carries the thread and the owner
                    async with (
                        contextlib.aclosing(stream),
                        contextlib.aclosing(
                            translate(stream, {**self.outside_labels, **self.labels})
                        ) as events,
                    ):
                        async for event in events:
                            waiting = waiting or isinstance(event, ApprovalNeeded)
                            yield event
                status = ThreadStatus.WAITING if waiting else await self._ended(thread_id, kind)
            except (asyncio.CancelledError, GeneratorExit):
                status = ThreadStatus.INTERRUPTED
                raise
            finally:
                heartbeat.cancel()
                renewal = self._renewals.pop(thread_id, None)
                if renewal is not None:
                    renewal.cancel()
                if self._active.get(thread_id) is task:
                    del self._active[thread_id]
                await threads.end_run(thread_id, holder, status, info.status)

    def _renew_later(self, thread_id: str, holder: str, task: asyncio.Task[Any] | None) -> None:
        """A run outlived a third of its lease: keep it renewed from now on.

        Started by a timer, so a short turn (most of them) creates no task at all.
        """
        if task is not None and not task.done():
            self._renewals[thread_id] = asyncio.create_task(
                self._keep_lease(thread_id, holder, task)
            )

    async def _keep_lease(self, thread_id: str, holder: str, task: asyncio.Task[Any]) -> None:
        """Renew the lease while the run goes on; stop the run if the lease was lost."""
        while not task.done():
            try:
                kept = await self.storage.threads.renew(thread_id, holder)
            except Exception:
                log.exception("could not renew the lease of thread %s", thread_id)
                kept = True
            if not kept:
                log.error("thread %s: lease lost (deleted, or taken over); stopping", thread_id)
                task.cancel()
                return
            await asyncio.sleep(self.settings.lease_seconds / 3)

    async def _ended(self, thread_id: str, kind: ThreadKind) -> ThreadStatus:
        if kind is ThreadKind.RESEARCH:
            values = (await self.graphs[kind].aget_state(_config(thread_id))).values
            if values.get("status") == "rejected":
                return ThreadStatus.REJECTED
        return ThreadStatus.DONE

    # --- tools and memories --------------------------------------------------------------

    async def prepare_tools(self) -> list[Event]:
        """Before a turn: start or refresh the MCP servers; a note per server that is down."""
        if self.mcp is None:
            return []
        await self.mcp.ready()
        self.outside_labels = {tool.name: label_of(tool) for tool in self.mcp.tools()}
        return [
            Notice(f"MCP server {line} Its tools are unavailable; it is retried next turn.")
            for line in self.mcp.unavailable()
        ]

    async def tool_status(self) -> ToolStatus:
        """The built-in tools and every MCP server with its state and tools (started now
        if no turn has started them yet)."""
        if self.mcp is not None:
            await self.mcp.ready()
        return ToolStatus(
            builtin=[(tool.name, self.labels.get(tool.name, tool.name)) for tool in self.tools],
            servers=self.mcp.status() if self.mcp is not None else [],
            config=self.settings.mcp_config,
        )

    def _memories(self) -> Memories:
        if self.memories is None:
            raise InputError("Long-term memory is off here (ASSISTANT_MEMORY=off).")
        return self.memories

    async def remembered(self, *, owner: str) -> list[Memory]:
        """``owner``'s memories, newest first."""
        return await self._memories().newest(owner)

    async def forget(self, memory_id: str, *, owner: str) -> bool:
        """Forget one of ``owner``'s memories; False if there is none with that id."""
        gone = await self._memories().forget(owner, memory_id)
        if gone:
            await self.storage.forget()
        return gone

    async def clear_memories(self, *, owner: str) -> int:
        """Forget everything remembered of ``owner``; how many memories there were."""
        count = await self._memories().clear(owner)
        await self.storage.forget()
        return count

    async def undo(self, undo: Undo, *, owner: str) -> bool:
        """Take back a tool's effect (a kept memory); False if there was nothing to undo."""
        if undo.kind == "memory":
            return await self.forget(undo.key, owner=owner)
        return False

    # --- documents and files -------------------------------------------------------------

    async def add_documents(
        self,
        thread_id: str,
        uploads: Sequence[Upload],
        *,
        owner: str,
        kind: ThreadKind = ThreadKind.CHAT,
        title: str = "",
    ) -> list[Attached]:
        """Attach ``uploads`` to ``owner``'s thread (created if new) as research sources.

        Each upload is read now; one that cannot be read, or goes past the limits, is
        refused with its reason and the others are kept.
        """
        check_thread_id(thread_id)
        await self.storage.threads.claim(
            thread_id, kind=kind, owner=owner, title=title or "Documents"
        )
        return await self.attachments.add(thread_id, owner, uploads)

    async def file(self, key: str, *, owner: str) -> StoredFile | None:
        """``owner``'s stored file ``key``. A report's other formats have the report's key
        plus their suffix (``export_key``): made on first request, then kept with the
        conversation.

        Raises ``ExportError`` if a report is too long to convert.
        """
        stored = await self.storage.files.get(key, owner)
        if stored is not None:
            return stored
        base, dot, suffix = key.rpartition(".")
        if not dot or f".{suffix}" not in EXPORT_TYPES or f".{suffix}" == ".md":
            return None
        report = await self.storage.files.get(base, owner)
        if report is None or report.role != REPORT:
            return None
        fmt = f".{suffix}"
        markdown = report.data.decode("utf-8", errors="replace")
        title = markdown[2:].split("\n", 1)[0].strip() if markdown.startswith("# ") else ""
        data = await asyncio.to_thread(
            export_report, markdown, fmt, title=title or PurePath(report.name).stem
        )
        converted = StoredFile(
            key,
            report.thread_id,
            owner,
            str(PurePath(report.name).with_suffix(fmt)),
            EXPORT_TYPES[fmt],
            data,
            EXPORT,
        )
        await self.storage.files.put(converted)
        return converted

    # --- reading threads -----------------------------------------------------------------

    async def _info(self, thread_id: str, owner: str) -> ThreadInfo:
        info = await self.storage.threads.get(check_thread_id(thread_id), owner)
        if info is None:
            raise ThreadNotFound(thread_id)
        return info

    async def _state(self, info: ThreadInfo) -> Any:
        return await self.graphs[info.kind].aget_state(_config(info.thread_id))

    def _still_running(self, state: Any) -> list[Event]:
        """The tool calls a resumed run goes on with, announced again to the faces."""
        calls = open_calls(state.values.get("messages", [])) if state.values else []
        return [
            ToolStarted(
                str(call["id"] or ""),
                str(call["name"]),
                self.labels.get(str(call["name"]), str(call["name"])),
                dict(call.get("args") or {}),  # type: ignore[call-overload]
            )
            for call in calls
        ]

    async def _questions(
        self, info: ThreadInfo, state: Any
    ) -> tuple[list[ApprovalNeeded], dict[str, Any]]:
        """The thread's unanswered questions, and recorded answers to questions still in
        its state (a run that died after the answer was given leaves them there)."""
        found = {i.id: i for i in state.interrupts}
        for task in state.tasks:
            for item in task.interrupts:
                found.setdefault(item.id, item)
        recorded = await self.storage.threads.decisions(info.thread_id) if found else {}
        pending = [
            ApprovalNeeded(i.id, ApprovalRequest.parse(i.value))
            for i in found.values()
            if i.id not in recorded
        ]
        decided = {iid: recorded[iid] for iid in found if iid in recorded}
        return pending, decided

    async def thread(self, thread_id: str, *, owner: str) -> ThreadView:
        """``owner``'s thread as it stands: its questions, whether work is left or running."""
        info = await self._info(thread_id, owner)
        running = await self.storage.threads.is_running(thread_id)
        state = await self._state(info)
        pending, _ = await self._questions(info, state)
        # A turn that went in as an update (``message_input``) and was cut off leaves no
        # next step: only the person's message, unanswered, at the end.
        cut = info.kind is ThreadKind.CHAT and unanswered(state.values.get("messages") or [])
        unfinished = (bool(state.next) or cut) and not pending and not running
        return ThreadView(info, [] if running else pending, unfinished, running)

    async def exists(self, thread_id: str, *, owner: str) -> bool:
        """Whether ``owner`` has a thread ``thread_id``."""
        return await self.storage.threads.get(check_thread_id(thread_id), owner) is not None

    async def threads(self, *, owner: str, limit: int = 50) -> list[ThreadInfo]:
        """``owner``'s threads, newest first."""
        return await self.storage.threads.list_for(owner, limit)

    async def research_result(self, thread_id: str, *, owner: str) -> ResearchResult | None:
        """What a research thread produced so far (None: nothing started)."""
        info = await self._info(thread_id, owner)
        if info.kind is not ThreadKind.RESEARCH:
            return None
        state = await self._state(info)
        values = state.values
        if not values:
            return None
        status = {"done": ThreadStatus.DONE, "rejected": ThreadStatus.REJECTED}.get(
            values.get("status", ""), ThreadStatus.INTERRUPTED
        )
        if status is ThreadStatus.INTERRUPTED and (await self._questions(info, state))[0]:
            status = ThreadStatus.WAITING
        plan = values.get("plan")
        return ResearchResult(
            status,
            plan.title if plan is not None else values.get("topic", ""),
            values.get("report", ""),
            values.get("report_file"),
        )

    # --- deleting ------------------------------------------------------------------------

    async def delete(self, thread_id: str, *, owner: str) -> None:
        """Delete ``owner``'s thread and everything of it; its id can never be used again.

        The id is tombstoned first, so no new run can start and a run still going on (here
        or in another process) loses its lease and stops; then checkpoints, decisions,
        sections, files and the chat history are removed.
        """
        info = await self._info(thread_id, owner)
        await self.storage.threads.tombstone(thread_id, owner)
        running = self._active.get(thread_id)
        if running is not None and running is not asyncio.current_task():
            running.cancel()
            await asyncio.wait({running}, timeout=DELETE_WAIT_S)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.lease_seconds / 3 + DELETE_WAIT_S
        # A run in another process stops at its next renewal; nothing here can signal it.
        while await self.storage.threads.is_running(thread_id) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await self.storage.threads.drop_lease(thread_id)
        await self.storage.checkpointer.adelete_thread(info.thread_id)
        await self.storage.sections.delete_thread(thread_id)
        await self.storage.files.delete_thread(thread_id)
        for key in await self.storage.history.delete_thread(thread_id):
            await self.storage.files.delete(key)
        await self.storage.forget()


def _constant(value: Any) -> Callable[[RunStart], Awaitable[tuple[Any, list[Event]]]]:
    async def payload(_: RunStart) -> tuple[Any, list[Event]]:
        return value, []

    return payload
