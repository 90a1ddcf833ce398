"""Chainlit's message and step constructors no longer block the event loop."""

from __future__ import annotations

import importlib
import time

from assistant.ui import chainlit_fixes

MODULES = [importlib.import_module(n) for n in ("chainlit.message", "chainlit.step")]


def test_constructor_sleeps_are_removed_and_time_still_works() -> None:
    chainlit_fixes.apply()
    for module in MODULES:
        started = time.perf_counter()
        for _ in range(200):
            module.time.sleep(0.001)
        assert time.perf_counter() - started < 0.05
        assert abs(module.time.time() - time.time()) < 1
    chainlit_fixes.apply()  # applying twice is harmless
    assert all(isinstance(m.time, chainlit_fixes._TimeWithoutSleep) for m in MODULES)
