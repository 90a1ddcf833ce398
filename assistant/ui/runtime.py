"""What one server process shares: the settings, the engine and the history's file store.

Opened by Chainlit's ``on_app_startup`` hook and closed by ``on_app_shutdown``, both run by
the ASGI lifespan, so the engine's SQLite connections and HTTP pool live exactly as long as
the server and are closed before it exits. It is kept on the FastAPI application's
``state`` (the place ASGI apps keep lifespan resources), not in a module global.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from assistant.engine import Engine
from assistant.settings import Settings
from assistant.tracing import setup_tracing
from assistant.ui.datalayer import OrderedDataLayer, build_data_layer, ensure_schema
from assistant.ui.files import LocalFileStorage


def history_path(settings: Settings) -> Path:
    """Chainlit's history database."""
    return settings.data_dir / "chainlit.sqlite"


def files_dir(settings: Settings) -> Path:
    """Files attached to messages (reports)."""
    return settings.data_dir / "files"


def history(settings: Settings) -> OrderedDataLayer:
    """Chainlit's data layer on the history database; Chainlit owns and closes it.

    It connects lazily, so building it is cheap; ``Runtime.open`` creates the schema
    before the server takes its first request.
    """
    return build_data_layer(
        history_path(settings), LocalFileStorage(files_dir(settings)), settings.db_timeout
    )


@dataclass
class Runtime:
    """The engine and stores of this server process."""

    settings: Settings
    engine: Engine
    files: LocalFileStorage
    _exit: contextlib.AsyncExitStack = field(repr=False)

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        """Create or upgrade the history schema, turn tracing on if it is configured (see
        ``assistant.tracing``) and open the engine."""
        await asyncio.to_thread(ensure_schema, history_path(settings), settings.db_timeout)
        stack = contextlib.AsyncExitStack()
        try:
            tracing = setup_tracing(os.environ)
            if tracing is not None:
                stack.push_async_callback(asyncio.to_thread, tracing.shutdown)
            engine = await stack.enter_async_context(Engine.open(settings, tracing))
        except BaseException:
            await stack.aclose()
            raise
        return cls(settings, engine, LocalFileStorage(files_dir(settings)), stack)

    async def close(self) -> None:
        """Close the engine's connections and clients; export the last spans."""
        await self._exit.aclose()


def attach(app: FastAPI, runtime: Runtime) -> None:
    """Keep ``runtime`` on ``app``."""
    app.state.assistant_runtime = runtime


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
