"""Started without a model key: the page works and says plainly what is missing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakes.chat_client import ChatClient, sign_in
from fakes.openai_server import ScriptedOpenAI
from tests.ui.conftest import USERS, UiServer, running


@pytest.fixture(scope="module")
def server(ui_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """The chat UI with neither OPENAI_API_KEY nor OPENAI_BASE_URL."""
    env = {k: v for k, v in ui_env.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    with running({**env, "ASSISTANT_USERS": USERS}, tmp_path_factory.mktemp("nokey")) as started:
        yield started


async def test_a_missing_api_key_is_a_readable_message(
    server: UiServer, ui_llm: ScriptedOpenAI
) -> None:
    calls_before = len(ui_llm.calls)
    client = await ChatClient.open(server.url, await sign_in(server.url, "alice", "secret1"))
    try:
        await client.turn("hello")
        warning = await client.message_containing("⚠️")
    finally:
        await client.close()
    assert "OPENAI_API_KEY is not set" in warning
    assert "Traceback" not in warning
    assert len(ui_llm.calls) == calls_before
