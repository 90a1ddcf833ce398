"""What one server process shares: the settings, the accounts and the engine.

Opened by Chainlit's ``on_app_startup`` hook and closed by ``on_app_shutdown``, both run by
the ASGI lifespan, so the engine's connections and HTTP pool live exactly as long as the
server and are closed before it exits. It is kept on the FastAPI application's ``state``
(the place ASGI apps keep lifespan resources), not in a module global.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import weakref
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from chainlit.data.base import BaseDataLayer
from fastapi import FastAPI

from assistant.engine import Engine
from assistant.history import ChatHistory
from assistant.settings import Settings
from assistant.storage import AuthStore, FileStore
from assistant.tracing import setup_tracing
from assistant.ui.datalayer import OrderedDataLayer, build_data_layer
from assistant.ui.files import StoreStorage


@dataclass
class Runtime:
    """The engine and the accounts of this server process."""

    settings: Settings
    users: dict[str, str]
    engine: Engine
    _exit: contextlib.AsyncExitStack = field(repr=False)
    windows: weakref.WeakValueDictionary[str, Any] = field(
        default_factory=weakref.WeakValueDictionary, repr=False
    )
    """Each browser session's conversation, by Chainlit session id, while anything holds it
    (``app._conversation``): resuming a thread replaces Chainlit's user session with the
    thread's metadata, which would drop a conversation a message had just started."""

    @classmethod
    async def open(cls, settings: Settings, users: dict[str, str]) -> Runtime:
        """Turn tracing on if it is configured (``assistant.tracing``) and open the engine
        (its storage creates or upgrades every schema)."""
        stack = contextlib.AsyncExitStack()
        try:
            tracing = setup_tracing(os.environ)
            if tracing is not None:
                stack.push_async_callback(asyncio.to_thread, tracing.shutdown)
            engine = await stack.enter_async_context(Engine.open(settings, tracing))
        except BaseException:
            await stack.aclose()
            raise
        return cls(settings, users, engine, stack)

    @property
    def files(self) -> FileStore:
        """The conversations' files."""
        return self.engine.storage.files

    @property
    def auth(self) -> AuthStore:
        """Sign-in sessions and failed sign-ins."""
        return self.engine.storage.auth

    async def close(self) -> None:
        """Close the engine's connections and clients."""
        await self._exit.aclose()


def attach(app: FastAPI, runtime: Runtime) -> None:
    """Keep ``runtime`` on ``app``."""
    app.state.assistant_runtime = runtime


GC_THRESHOLDS = (20_000, 20, 50)
"""The collector's thresholds in the server. A turn makes tens of thousands of objects that
live until it ends (LangGraph's tasks, messages, pydantic models); with CPython's default
(700, 10, 10) each young pass walks the in-flight turns' objects again: under figure 3's
load about 200 young, 18 middle and one full pass per process, 90 ms in all, the full one
20 ms with every conversation of the process stopped. With these: 7 young passes, 33 ms."""


def settle_heap() -> None:
    """Keep what start-up built out of the garbage collector's full passes.

    A server process holds a few hundred thousand long-lived objects (the libraries, the
    graphs); CPython's full collection walks all of them: under load (figure 3) one came
    in the first burst of messages and stopped the event loop, and with it every
    conversation of the process, for 160-190 ms. Collected once now and then frozen (``gc.freeze``,
    meant for this), they are never walked again: the full passes that remain walk what
    was made since.

    Then the young generation is collected every 20 000 new objects instead of 700 (see
    ``GC_THRESHOLDS``).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def shut_down(app: FastAPI, history: BaseDataLayer | None) -> None:
    """At shutdown: write the chat history still queued (``history``, Chainlit's data
    layer, would write it only after the engine it writes through is closed), then take
    the runtime off ``app`` and close it."""
    if isinstance(history, OrderedDataLayer):
        await history.settled()
    opened = detach(app)
    if opened is not None:
        await opened.close()


def detach(app: FastAPI) -> Runtime | None:
    """Take the runtime off ``app`` (None if start-up failed before attaching one)."""
    runtime = getattr(app.state, "assistant_runtime", None)
    app.state.assistant_runtime = None
    return runtime if isinstance(runtime, Runtime) else None


def current(app: FastAPI) -> Runtime:
    """The runtime attached to ``app``."""
    runtime = getattr(app.state, "assistant_runtime", None)
    if not isinstance(runtime, Runtime):
        raise RuntimeError("the assistant is not started: the app's start-up hook did not run")
    return runtime


def history(app: FastAPI, settings: Settings) -> OrderedDataLayer:
    """Chainlit's data layer on the history database (``chainlit.sqlite``, or the PostgreSQL
    database); Chainlit owns and closes it.

    It connects lazily, so building it is cheap. Deleting a thread through it deletes it
    in the engine too; its files go to the engine's file store; its writes wait for the
    engine's chat turns to be quiet. All reach the runtime when they are used, after
    start-up.
    """

    async def on_delete(thread_id: str, owner: str) -> None:
        await current(app).engine.delete(thread_id, owner=owner)

    async def deleted_among(thread_ids: Collection[str]) -> set[str]:
        return await current(app).engine.storage.threads.deleted_among(thread_ids)

    def chat_history() -> ChatHistory:
        return current(app).engine.storage.history

    async def owner_of(user_id: str) -> str:
        identifier = await current(app).engine.storage.history.identifier_of(user_id)
        return identifier or user_id

    def files() -> Any:
        return current(app).files

    async def quiet(within: float) -> None:
        await current(app).engine.queue.lull(within)

    return build_data_layer(
        settings.postgres_url or settings.history_path,
        StoreStorage(files, owner_of),
        chat_history,
        settings.db_timeout,
        on_delete,
        deleted_among,
        quiet,
    )
