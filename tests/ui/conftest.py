"""The chat UI under test: the real Chainlit server as a subprocess (``assistant ui``).

The scripted model and the search endpoint run in the test process, so tests can script
them while the server runs. One server is shared by the UI tests (it takes seconds to
start); each test opens its own conversations, and the restart test restarts it in place
on the same port and data directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakes.brain import Brain
from fakes.openai_server import ScriptedOpenAI
from fakes.search_server import FakeSearch
from tests.conftest import SETTING_PREFIXES

ROOT = Path(__file__).resolve().parents[2]
USERS = "alice:secret1,bob:secret2"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class UiServer:
    """``python -m assistant ui`` on a local port, restartable on the same data directory."""

    def __init__(self, env: dict[str, str], data_dir: Path, log: Path) -> None:
        """Configure; ``start()`` runs it."""
        self.env = env
        self.data_dir = data_dir
        self.log = log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "assistant", "ui", "--port", str(self.port)],
                cwd=self.data_dir.parent,  # not the repository: the launcher must find it
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the UI server exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/auth/config", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the UI server did not start in {START_TIMEOUT_S}s:\n{self.tail()}")

    def kill(self) -> None:
        """Kill -9: no shutdown hook runs, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """Ctrl-C, as a person would; kill if it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 40) -> str:
        """The end of the server's output."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="package")
def ui_brain() -> Brain:
    """The scripted model's behaviour for the UI tests (restore what you change)."""
    return Brain()


@pytest.fixture(scope="package")
def ui_llm(ui_brain: Brain) -> Iterator[ScriptedOpenAI]:
    """A scripted OpenAI-compatible server shared by the UI tests."""
    with ScriptedOpenAI(ui_brain) as server:
        yield server


@pytest.fixture(scope="package")
def ui_search() -> Iterator[FakeSearch]:
    """A SearxNG-compatible endpoint shared by the UI tests."""
    with FakeSearch() as server:
        yield server


@pytest.fixture(scope="package")
def ui_env(ui_llm: ScriptedOpenAI, ui_search: FakeSearch) -> dict[str, str]:
    """The server's environment: the fakes, fast retries, no setting from this machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(
        OPENAI_BASE_URL=ui_llm.base_url,
        ASSISTANT_SEARCH_PROVIDER="searxng",
        SEARXNG_URL=ui_search.url,
        ASSISTANT_SEARCH_RATE="1000",
        ASSISTANT_MODEL_RETRIES="0",
        PYTHONPATH=str(ROOT),
    )
    return env


@contextlib.contextmanager
def running(env: dict[str, str], base: Path) -> Iterator[UiServer]:
    """A server on its own data directory under ``base``, stopped at the end."""
    env = {**env, "ASSISTANT_DATA_DIR": str(base / "data"), "HOME": str(base / "home")}
    server = UiServer(env, base / "data", base / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def ui_server(
    ui_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiServer]:
    """The chat UI with password accounts alice and bob, on a fresh data directory."""
    with running({**ui_env, "ASSISTANT_USERS": USERS}, tmp_path_factory.mktemp("ui")) as server:
        yield server


@pytest.fixture
def server(ui_server: UiServer) -> Iterator[UiServer]:
    """The shared server (started again if a test killed it)."""
    yield ui_server
    if ui_server.proc is None or ui_server.proc.poll() is not None:
        ui_server.start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Show the end of the server's output under a failed UI test."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    server = getattr(item, "funcargs", {}).get("server")
    if report.failed and isinstance(server, UiServer):
        report.sections.append(("UI server output", server.tail()))
