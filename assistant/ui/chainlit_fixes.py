"""Workarounds for Chainlit behaviour that hurts a server holding many conversations.

Chainlit 2.12 calls ``time.sleep(0.001)`` in ``Message.__init__`` and ``Step.__init__``
(upstream: Chainlit/chainlit PR #1374, closed unmerged). It blocks the whole event loop
for about a millisecond per object: reopening a thread with 500 messages slept ~550 ms,
and under 50 concurrent conversations every message stalled all of them. Creation times
are taken when a message is sent, so the sleep buys nothing here. In those two modules
only, ``time.sleep`` becomes a no-op; everything else of ``time`` is unchanged.
"""

from __future__ import annotations

import importlib
import time
import types
from typing import Any


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
    """Remove the blocking sleeps from Chainlit's message and step constructors."""
    patched = _TimeWithoutSleep()
    # By name: the package's ``chainlit.step`` attribute is the ``step`` decorator.
    for name in ("chainlit.message", "chainlit.step"):
        module = importlib.import_module(name)
        if getattr(module, "time", None) is time:
            vars(module)["time"] = patched
