"""Chainlit's behaviour we work around (``assistant/ui/chainlit_fixes.py``)."""

from __future__ import annotations

import importlib
import time

import chainlit.config
import chainlit.server

from assistant.ui import chainlit_fixes
from fakes.ui_server import ROOT

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


def test_each_process_keeps_its_session_files_in_a_private_directory() -> None:
    directory = chainlit_fixes.private_files_directory()
    assert chainlit_fixes.private_files_directory() == directory  # once per process
    assert directory.is_dir() and (directory.stat().st_mode & 0o777) == 0o700
    assert ROOT not in directory.parents  # stopping another server cannot remove it
    assert directory == chainlit.config.FILES_DIRECTORY
    assert directory == chainlit.server.FILES_DIRECTORY  # what Chainlit removes at exit
