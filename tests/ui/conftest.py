"""The chat UI under test: the real Chainlit server as a subprocess (``assistant ui``).

The scripted model and the search endpoint run in the test process, so tests can script
them while the server runs. One server is shared by the UI tests (it takes seconds to
start); each test opens its own conversations, and the restart test restarts it in place
on the same port and data directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from fakes.brain import Brain
from fakes.openai_server import ScriptedOpenAI
from fakes.search_server import FakeSearch
from fakes.ui_server import ROOT, UiServer
from tests.conftest import SETTING_PREFIXES
from tests.ui.browsing import TIMEOUT_MS, launch

USERS = "alice:secret1,bob:secret2"


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
        ASSISTANT_FETCH_ALLOW="127.0.0.1",
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
    funcargs = getattr(item, "funcargs", {})
    shown = [funcargs.get("server"), *(funcargs.get("servers") or ())]
    for n, server in enumerate(s for s in shown if isinstance(s, UiServer)):
        if report.failed:
            report.sections.append((f"UI server {n + 1} output", server.tail()))


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium (Debian's), one per test module."""
    async for launched in launch():
        yield launched


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    """A fresh window with its own cookies, sized by the module's ``VIEWPORT``."""
    viewport = getattr(request.module, "VIEWPORT", {"width": 1280, "height": 800})
    context = await browser.new_context(viewport=viewport, accept_downloads=True)
    opened = await context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    try:
        yield opened
    finally:
        await context.close()
