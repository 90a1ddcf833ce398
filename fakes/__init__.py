"""Local stand-ins for the outside world: a scripted model server and a search endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from assistant.settings import Settings, load_settings
from fakes.openai_server import ScriptedOpenAI
from fakes.search_server import FakeSearch


def local_settings(
    llm: ScriptedOpenAI, search: FakeSearch, data_dir: Path, **overrides: Any
) -> Settings:
    """Settings pointing at the local servers (SearxNG protocol, no search rate limit; the
    pages the search links to, on loopback, may be read)."""
    values: dict[str, Any] = {
        "openai_base_url": llm.base_url,
        "data_dir": data_dir,
        "search_providers": "searxng",
        "searxng_url": search.url,
        "search_rate": 1000,
        "fetch_allow": "127.0.0.1",
    }
    return load_settings(**{**values, **overrides})
