"""Shared fixtures: a scripted model server, a search endpoint, isolated settings.

Every test gets its own data directory and an environment without the person's
OPENAI_*/ASSISTANT_* variables; nothing touches the internet.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from assistant.engine import Engine
from assistant.settings import Settings
from fakes import local_settings
from fakes.brain import Brain
from fakes.mcp_http_server import CalculatorServer
from fakes.openai_server import ScriptedOpenAI
from fakes.postgres import PostgresUnavailable, TempPostgres, find_bin_dir, install_with_apt
from fakes.search_server import FakeSearch

ROOT = Path(__file__).resolve().parent.parent
SETTING_PREFIXES = (
    "OPENAI_",
    "ASSISTANT_",
    "SEARXNG_",
    "TAVILY_",
    "CHAINLIT_",
    "PHOENIX_",  # tests never trace to the person's Phoenix
    "OTEL_",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting (nor tracing endpoint) leaks in from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def brain() -> Brain:
    """The scripted model's behaviour; tests tweak its attributes."""
    return Brain()


@pytest.fixture
def llm(brain: Brain) -> Iterator[ScriptedOpenAI]:
    """A scripted OpenAI-compatible server on loopback playing ``brain``."""
    with ScriptedOpenAI(brain) as server:
        yield server


@pytest.fixture
def search() -> Iterator[FakeSearch]:
    """A SearxNG-compatible search endpoint on loopback."""
    with FakeSearch() as server:
        yield server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """This test's ASSISTANT_DATA_DIR."""
    return tmp_path / "data"


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Where the engine keeps its state: ``sqlite`` files in ``data_dir``, or a fresh
    ``postgres`` database for the test. SQLite unless a test is marked
    ``tests.support.both_backends`` (then it runs once on each)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """``ASSISTANT_DATABASE_URL`` of this test (None on SQLite)."""
    return str(request.getfixturevalue("postgres_db")) if backend == "postgres" else None


@pytest.fixture
def settings(
    llm: ScriptedOpenAI, search: FakeSearch, data_dir: Path, database_url: str | None
) -> Settings:
    """Settings pointing at the local servers, with fast retries, on the test's backend."""
    on = {"database_url": database_url} if database_url else {}
    return local_settings(llm, search, data_dir, model_retries=1, model_timeout=10, **on)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[Engine]:
    """An open engine on the test's data directory."""
    async with Engine.open(settings) as opened:
        yield opened


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for running the ``assistant`` command as a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(
        OPENAI_BASE_URL=str(settings.openai_base_url),
        ASSISTANT_DATA_DIR=str(settings.data_dir),
        ASSISTANT_SEARCH_PROVIDER="searxng",
        SEARXNG_URL=str(settings.searxng_url),
        ASSISTANT_FETCH_ALLOW="127.0.0.1",
        ASSISTANT_SEARCH_RATE="1000",
        ASSISTANT_MODEL_RETRIES="1",
        PYTHONPATH=str(ROOT),
    )
    if settings.postgres_url:
        env["ASSISTANT_DATABASE_URL"] = settings.postgres_url
    return env


def assistant_command() -> list[str]:
    """How to run the CLI in a subprocess with this interpreter."""
    return [sys.executable, "-m", "assistant"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[TempPostgres]:
    """A throwaway PostgreSQL server for the session; as root on Debian, a missing
    ``postgresql-15`` is installed with apt-get first (skipped only if that is impossible)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        try:
            bin_dir = install_with_apt()
        except PostgresUnavailable as exc:
            pytest.skip(str(exc))
    with TempPostgres(bin_dir) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server: TempPostgres) -> str:
    """``postgresql://postgres@127.0.0.1:PORT/postgres`` of the session's server."""
    return postgres_server.url


@pytest.fixture
def postgres_db(postgres_server: TempPostgres) -> str:
    """The URL of a fresh, empty database for this test."""
    return postgres_server.create_database()


@pytest.fixture
def http_server() -> Iterator[CalculatorServer]:
    """A streamable-HTTP MCP server (``add``, bearer token ``TOKEN``) on loopback."""
    server = CalculatorServer()
    try:
        yield server
    finally:
        server.stop()
