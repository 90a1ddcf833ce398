"""Memory and MCP tools in the chat UI, over its socket protocol, on the real server.

A memory kept in one conversation is in the model's next request in another conversation of
the same person and in no one else's; ``/memory`` lists and forgets; Undo takes a kept memory
back. With ``ASSISTANT_MCP_CONFIG``, an MCP tool asks its approval like research does and
``/tools`` shows the servers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.chat_client import ChatClient
from fakes.openai_server import ScriptedOpenAI
from tests.ui.conftest import USERS, UiServer, running
from tests.ui.test_chat import chat

ROOT = Path(__file__).resolve().parents[2]
FAKE_MCP = [sys.executable, str(ROOT / "fakes" / "mcp_stdio_server.py")]


def system_text(llm: ScriptedOpenAI) -> str:
    """The system messages of the model's last request with tools (a supervisor call)."""
    call = [c for c in llm.calls if c.request.tools][-1]
    return "\n".join(
        str(m.get("content")) for m in call.request.messages if m.get("role") == "system"
    )


async def action(client: ChatClient, name: str, start: int = 0) -> dict[str, Any]:
    """The first button called ``name`` shown after event ``start``."""
    _, data = await client.wait_for(
        lambda event, data: event == "action" and data.get("name") == name, start=start
    )
    return dict(data)


async def test_a_memory_reaches_the_next_conversation_of_its_person_only(
    server: UiServer, ui_llm: ScriptedOpenAI
) -> None:
    fact = "I prefer reports in Catalan, at most one page"
    async with chat(server, "alice") as client:
        await client.turn(f"remember that {fact}")
        note = await client.message_containing("🧠 Remembered:")
        assert fact in note
        await action(client, "undo")  # the note offers to take it back
    async with chat(server, "alice") as again:
        await again.turn("hello")
    assert fact in system_text(ui_llm)
    async with chat(server, "bob") as bob:
        await bob.turn("hello")
        assert fact not in system_text(ui_llm)
        await bob.turn("/memory")
        assert "I remember nothing about you yet" in await bob.message_containing("remember")
    async with chat(server, "alice") as client:  # clean up for the other tests
        await client.turn("/memory")
        await client.call_action(await action(client, "forget_all_memories"))
        await client.message_containing("Forgot 1 memory.")


async def test_memory_lists_forgets_and_undo_takes_back(server: UiServer) -> None:
    async with chat(server, "alice") as client:
        await client.turn("remember that my name is Ada")
        await client.turn("remember that I work on tides")
        start = len(client.events)
        await client.turn("/memory")
        listing = await client.message_containing("What I remember about you", start=start)
        assert "1. I work on tides" in listing and "2. my name is Ada" in listing
        forget = await action(client, "forget_memory", start)
        assert forget["label"] == "Forget 1"
        await client.call_action(forget)
        await client.message_containing("Forgotten.")
        start = len(client.events)
        await client.turn("/memory")
        listing = await client.message_containing("What I remember about you", start=start)
        assert "I work on tides" not in listing and "my name is Ada" in listing

        start = len(client.events)
        await client.turn("remember that I like tea")
        undo = await action(client, "undo", start)
        await client.call_action(undo)
        await client.message_containing("Undone: I forgot it.")
        start = len(client.events)
        await client.turn("/memory")
        listing = await client.message_containing("What I remember about you", start=start)
        assert "tea" not in listing
        await client.call_action(await action(client, "forget_all_memories", start))
        await client.message_containing("Forgot 1 memory.")


@pytest.fixture(scope="module")
def mcp_server(
    ui_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiServer]:
    """The UI with one working MCP server and one that cannot start."""
    base = tmp_path_factory.mktemp("ui-mcp")
    config = base / "mcp.json"
    servers = {
        "fake": {"command": FAKE_MCP[0], "args": [FAKE_MCP[1]]},
        "broken": {"command": FAKE_MCP[0], "args": [FAKE_MCP[1], "--exit", "no licence"]},
    }
    config.write_text(json.dumps({"mcpServers": servers}))
    env = {**ui_env, "ASSISTANT_USERS": USERS, "ASSISTANT_MCP_CONFIG": str(config)}
    with running(env, base) as server:
        yield server


async def test_an_mcp_tool_asks_first_and_runs_after_approval(mcp_server: UiServer) -> None:
    async with chat(mcp_server, "alice") as client:
        await client.send('use fake__echo {"text": "hello tides"}')
        question = await client.next_question()
        asked = client.question_messages()[question.message_id]
        assert "Run echo (fake)?" in asked
        assert "the tool **echo** of the MCP server **fake**" in asked
        assert '"text": "hello tides"' in asked
        note = await client.message_containing("MCP server broken")
        assert "could not start" in note and "no licence" in note
        await client.click(question, "approve")
        await client.message_containing("Done. fake: hello tides", within=30)
        start = len(client.events)
        await client.turn("/tools")
        tools = await client.message_containing("Built-in tools", start=start)
    assert "**fake** (MCP, stdio): ✅ connected" in tools and "`fake__echo`" in tools
    assert "**broken** (MCP, stdio): ⚠️ unavailable: could not start" in tools
