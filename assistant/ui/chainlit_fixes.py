"""Workarounds for Chainlit 2.12 behaviour, each with its reason.

1. Blocking sleeps. Chainlit 2.12 calls ``time.sleep(0.001)`` in ``Message.__init__`` and
``Step.__init__`` (upstream: Chainlit/chainlit PR #1374, closed unmerged). It blocks the
whole event loop for about a millisecond per object: reopening a thread with 500 messages
slept ~550 ms, and under 50 concurrent conversations every message stalled all of them.
Creation times are taken when a message is sent, so the sleep buys nothing here. In those
two modules only, ``time.sleep`` becomes a no-op; everything else of ``time`` is unchanged.

2. Two messages on Stop. Chainlit's socket handler for Stop posts "Task manually stopped."
before calling the app's ``on_stop``, which says what was kept and offers to continue: the
person read two messages. The handler is registered again without that message.

3. One shared files directory. Chainlit keeps each session's files (custom elements' props,
uploads) under ``<app root>/.files/<session>`` and removes the whole ``.files`` when a
server process stops: every other process on the same checkout then fails to send a
custom element (``FileNotFoundError``; seen with two servers in the tests). Each process
gets a private directory instead (``mkdtemp``: mode 0700, outside the checkout), which
Chainlit still removes when that process stops.
"""

from __future__ import annotations

import importlib
import tempfile
import time
import types
from pathlib import Path
from typing import Any

FILES_PREFIX = "assistant-session-files-"


class _TimeWithoutSleep(types.ModuleType):
    """The ``time`` module, minus its blocking ``sleep``."""

    def __init__(self) -> None:
        super().__init__("time")
        self.sleep = _no_sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def _no_sleep(seconds: float) -> None:
    """Return at once: nothing in these modules needs to wait."""


def apply() -> None:
    """Apply every workaround."""
    remove_blocking_sleeps()
    quiet_stop()
    private_files_directory()


def remove_blocking_sleeps() -> None:
    """Remove the blocking sleeps from Chainlit's message and step constructors."""
    patched = _TimeWithoutSleep()
    # By name: the package's ``chainlit.step`` attribute is the ``step`` decorator.
    for name in ("chainlit.message", "chainlit.step"):
        module = importlib.import_module(name)
        if getattr(module, "time", None) is time:
            vars(module)["time"] = patched


async def _stop(sid: str) -> None:
    """Chainlit's Stop handler, without its own "Task manually stopped." message."""
    from chainlit.config import config
    from chainlit.context import init_ws_context
    from chainlit.session import WebsocketSession

    session = WebsocketSession.get(sid)
    if session is None:
        return
    init_ws_context(session)
    if session.current_task:
        session.current_task.cancel()
    if config.code.on_stop:
        await config.code.on_stop()


def quiet_stop() -> None:
    """Register the Stop handler above in place of Chainlit's."""
    from chainlit.server import sio

    sio.on("stop", _stop)


def private_files_directory() -> Path:
    """Give this process its own directory for session files; return it."""
    import chainlit.config
    import chainlit.server

    current = Path(chainlit.config.FILES_DIRECTORY)
    if current.name.startswith(FILES_PREFIX) and current.is_dir():
        return current  # applied already
    directory = Path(tempfile.mkdtemp(prefix=FILES_PREFIX))
    # Both read the name at run time: sessions when they store a file, the server at exit.
    chainlit.config.FILES_DIRECTORY = directory
    chainlit.server.FILES_DIRECTORY = directory
    return directory
