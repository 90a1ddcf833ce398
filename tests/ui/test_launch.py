"""``assistant ui`` refuses bad settings with one line and exit code 2, before starting."""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
import weakref
from pathlib import Path

import pytest

from assistant.ui.launch import APP_FILE, APP_ROOT, run_ui
from assistant.ui.runtime import GC_THRESHOLDS, settle_heap


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ASSISTANT_MAX_PARALLEL", "0", "invalid setting ASSISTANT_MAX_PARALLEL"),
        ("ASSISTANT_USERS", "alice", "invalid setting ASSISTANT_USERS"),
        ("OPENAI_BASE_URL", "localhost:11434", "invalid setting OPENAI_BASE_URL"),
    ],
)
def test_a_bad_setting_stops_the_start_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert run_ui("127.0.0.1", 8000) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}")
    assert err.count("\n") == 1


def test_a_bad_port_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_ui("127.0.0.1", 70000) == 2
    assert "invalid port" in capsys.readouterr().err


def test_a_port_in_use_is_reported_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_ui("127.0.0.1", port) == 1
    assert (
        capsys.readouterr().err
        == f"error: cannot listen on 127.0.0.1:{port}: address already in use\n"
    )


def test_a_public_address_without_accounts_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_ui("0.0.0.0", 8000) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to serve 0.0.0.0 without sign-in")
    assert "ASSISTANT_USERS" in err and "ASSISTANT_ALLOW_NO_AUTH" in err
    assert err.count("\n") == 1


_SERVE_PROBE = """
import asyncio, json, sys
import uvicorn
from assistant.ui import launch

async def serve(self, sockets=None):
    loop = asyncio.get_running_loop()
    print(json.dumps({
        "nest_asyncio": "nest_asyncio" in sys.modules,
        "loop": type(loop).__module__.split(".")[0],
        "c_task": type(asyncio.current_task()).__module__ == "_asyncio",
        "c_future": type(loop.create_future()).__module__ == "_asyncio",
        "host": self.config.host,
        "port": self.config.port,
        "deflate": self.config.ws_per_message_deflate,
    }))

uvicorn.Server.serve = serve
launch.serve("127.0.0.1", 8765, ["https://allowed.example"])
from chainlit.config import config
print(json.dumps({"origins": config.project.allow_origins, "app": config.run.module_name}))
"""


def test_the_server_runs_on_asyncio_s_own_tasks(tmp_path: Path) -> None:
    """Chainlit's command-line module applies ``nest_asyncio`` when imported (pure-Python
    tasks and futures for the whole server); the launcher starts Chainlit's app without it,
    on uvloop, with Chainlit's settings as its command line would set them."""
    env = {
        **os.environ,
        "CHAINLIT_APP_ROOT": str(APP_ROOT),
        "CHAINLIT_AUTH_SECRET": "x" * 64,
        "UVICORN_WS_PER_MESSAGE_DEFLATE": "false",
    }
    done = subprocess.run(
        [sys.executable, "-c", _SERVE_PROBE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines[0] == {
        "nest_asyncio": False,
        "loop": "uvloop",
        "c_task": True,
        "c_future": True,
        "host": "127.0.0.1",
        "port": 8765,
        "deflate": False,
    }
    assert lines[1] == {"origins": ["https://allowed.example"], "app": str(APP_FILE)}


class _Node:
    other: object = None


def test_start_up_collects_its_garbage_then_keeps_the_rest_out_of_full_collections() -> None:
    """The server's start-up hook settles the heap: garbage left by start-up is freed
    first (not frozen with the rest), and what lives on is no longer walked by the
    collector's passes (a full one stopped every conversation for ~170 ms)."""
    garbage = _Node()
    garbage.other = garbage  # a cycle: only the collector frees it
    freed = weakref.ref(garbage)
    del garbage
    kept = _Node()
    thresholds = gc.get_threshold()
    try:
        settle_heap()
        assert freed() is None
        assert gc.get_freeze_count() > 0
        assert not any(found is kept for found in gc.get_objects())  # frozen: not walked
        assert gc.get_threshold() == GC_THRESHOLDS  # young passes spaced out
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)  # the rest of the test session as it was
    assert any(found is kept for found in gc.get_objects())
