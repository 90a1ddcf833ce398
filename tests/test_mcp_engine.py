"""Tools from MCP servers in conversations: offered to the model, approved like research, run.

Real servers: ``mcp-server-time`` from PyPI over stdio (``make mcp-servers``), a streamable-HTTP
server built with the ``mcp`` SDK (``fakes/mcp_http_server.py``), and the small stdio server of
``fakes/mcp_stdio_server.py`` made to fail or hang. The model is the scripted server: "use TOOL
{json}" makes it call that tool.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from assistant import approvals
from assistant.engine import Engine
from assistant.errors import ConfigurationError
from assistant.events import ApprovalNeeded, Notice, Outcome, ToolFinished, ToolStarted
from fakes import local_settings
from fakes.mcp_http_server import TOKEN, CalculatorServer
from fakes.openai_server import ScriptedOpenAI
from fakes.search_server import FakeSearch
from tests.support import answer, chat, of, pending

ROOT = Path(__file__).resolve().parent.parent
TIME_SERVER = ROOT / ".venv-mcp" / "time" / "bin" / "mcp-server-time"
FAKE = [sys.executable, str(ROOT / "fakes" / "mcp_stdio_server.py")]
needs_time_server = pytest.mark.skipif(
    not TIME_SERVER.exists(), reason="mcp-server-time is not installed: run `make mcp-servers`"
)
NOW = 'use time__get_current_time {"timezone": "UTC"}'


def tool_results_seen_by_model(llm: ScriptedOpenAI) -> list[str]:
    """The contents of every tool message the model was sent, last request first."""
    for call in reversed(llm.calls):
        found = [str(m.get("content")) for m in call.request.messages if m.get("role") == "tool"]
        if found:
            return found
    return []


@pytest.fixture
def config(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    def write(servers: dict[str, Any]) -> Path:
        path = tmp_path / "mcp.json"
        path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
        return path

    return write


@pytest.fixture
def open_engine(llm: ScriptedOpenAI, search: FakeSearch, data_dir: Path) -> Callable[..., Any]:
    @asynccontextmanager
    async def make(path: Path, **overrides: Any) -> AsyncIterator[Engine]:
        settings = local_settings(llm, search, data_dir, mcp_config=path, **overrides)
        async with Engine.open(settings) as engine:
            yield engine

    return make


@needs_time_server
async def test_a_stdio_servers_tool_is_approved_then_run_and_its_result_reaches_the_model(
    config: Callable[..., Path], open_engine: Callable[..., Any], llm: ScriptedOpenAI
) -> None:
    path = config({"time": {"command": str(TIME_SERVER), "args": ["--local-timezone", "UTC"]}})
    async with open_engine(path) as engine:
        events = await chat(engine, "t-time", NOW)
        [asked] = of(ApprovalNeeded, events)
        request = asked.request
        assert request.title == "Run get_current_time (time)?"
        assert "the tool **get_current_time** of the MCP server **time**" in (
            request.action.description
        )
        assert request.action.args == {"timezone": "UTC"}
        assert set(request.allowed) == {"approve", "edit", "reject", "respond"}
        [started] = of(ToolStarted, events)
        assert started.label == "get_current_time (time)"
        assert not of(ToolFinished, events)

        done = await answer(engine, "t-time", asked.interrupt_id, approvals.approve())
    [finished] = of(ToolFinished, done)
    assert finished.outcome is Outcome.DONE
    assert '"timezone": "UTC"' in finished.content
    assert '"timezone": "UTC"' in tool_results_seen_by_model(llm)[0]


@needs_time_server
async def test_an_approval_of_an_mcp_tool_survives_a_restart_and_edits_reach_the_tool(
    config: Callable[..., Path], open_engine: Callable[..., Any]
) -> None:
    path = config({"time": {"command": str(TIME_SERVER), "args": ["--local-timezone", "UTC"]}})
    async with open_engine(path) as engine:
        [asked] = of(ApprovalNeeded, await chat(engine, "t-restart", NOW))
    async with open_engine(path) as engine:  # a new process: the server is started again
        [again] = await pending(engine, "t-restart")
        assert again.interrupt_id == asked.interrupt_id
        edited = approvals.edit("time__get_current_time", {"timezone": "Europe/Paris"})
        done = await answer(engine, "t-restart", again.interrupt_id, edited)
    [finished] = of(ToolFinished, done)
    assert '"timezone": "Europe/Paris"' in finished.content


async def test_a_streamable_http_servers_tool_is_run_after_approval(
    config: Callable[..., Path],
    open_engine: Callable[..., Any],
    http_server: CalculatorServer,
    llm: ScriptedOpenAI,
) -> None:
    path = config(
        {"calc": {"url": http_server.url, "headers": {"Authorization": f"Bearer {TOKEN}"}}}
    )
    async with open_engine(path) as engine:
        [asked] = of(
            ApprovalNeeded, await chat(engine, "t-calc", 'use calc__add {"a": 2, "b": 40}')
        )
        assert asked.request.title == "Run add (calc)?"
        done = await answer(engine, "t-calc", asked.interrupt_id, approvals.approve())
    [finished] = of(ToolFinished, done)
    assert finished.content == "42"
    assert tool_results_seen_by_model(llm) == ["42"]


async def test_reject_and_respond_run_nothing(
    config: Callable[..., Path], open_engine: Callable[..., Any], tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    path = config({"fake": {"command": FAKE[0], "args": [FAKE[1], "--log", str(log)]}})
    async with open_engine(path) as engine:
        [asked] = of(ApprovalNeeded, await chat(engine, "t-no", 'use fake__echo {"text": "hi"}'))
        rejected = await answer(engine, "t-no", asked.interrupt_id, approvals.reject("not now"))
        [result] = of(ToolFinished, rejected)
        assert result.outcome is Outcome.DECLINED
        [asked] = of(ApprovalNeeded, await chat(engine, "t-no", 'use fake__echo {"text": "hi"}'))
        said = await answer(engine, "t-no", asked.interrupt_id, approvals.respond("use 'ho'"))
        [result] = of(ToolFinished, said)
        assert result.outcome is Outcome.DECLINED and "use 'ho'" in result.content


async def test_the_operators_file_or_approve_none_lets_a_tool_run_without_asking(
    config: Callable[..., Path], open_engine: Callable[..., Any]
) -> None:
    path = config({"fake": {"command": FAKE[0], "args": [FAKE[1]], "approve": False}})
    async with open_engine(path) as engine:
        events = await chat(engine, "t-free", 'use fake__echo {"text": "hi"}')
    assert not of(ApprovalNeeded, events)
    assert [r.content for r in of(ToolFinished, events)] == ["fake: hi"]

    path = config({"fake": {"command": FAKE[0], "args": [FAKE[1]]}})
    async with open_engine(path, approve="none") as engine:
        events = await chat(engine, "t-none", 'use fake__echo {"text": "hi"}')
    assert not of(ApprovalNeeded, events)
    # A person's own choices for a conversation cannot lift the gate of an outside tool.
    async with open_engine(path) as engine:
        events = await chat(engine, "t-choice", 'use fake__echo {"text": "hi"}', approve=[])
    assert of(ApprovalNeeded, events)


async def test_a_server_that_cannot_start_is_a_note_not_a_failure(
    config: Callable[..., Path], open_engine: Callable[..., Any], llm: ScriptedOpenAI
) -> None:
    path = config(
        {
            "broken": {"command": FAKE[0], "args": [FAKE[1], "--exit", "no licence key"]},
            "fake": {"command": FAKE[0], "args": [FAKE[1]]},
        }
    )
    async with open_engine(path) as engine:
        events = await chat(engine, "t-broken", "hello")
        [note] = of(Notice, events)
        assert note.text.startswith("MCP server broken: could not start")
        assert "no licence key" in note.text
        tools = llm.calls[-1].request.tool_names
        assert "fake__echo" in tools and not any(t.startswith("broken__") for t in tools)
        system = [m for m in llm.calls[-1].request.messages if m.get("role") == "system"]
        assert any("- broken: could not start" in str(m.get("content")) for m in system)
        status = await engine.tool_status()
    assert [(s.name, s.state) for s in status.servers] == [
        ("broken", "failed"),
        ("fake", "connected"),
    ]


async def test_a_server_that_hangs_at_start_is_given_up_within_its_timeout(
    config: Callable[..., Path], open_engine: Callable[..., Any]
) -> None:
    path = config({"stuck": {"command": FAKE[0], "args": [FAKE[1], "--hang"]}})
    async with open_engine(path, mcp_start_timeout=1) as engine:
        events = await chat(engine, "t-stuck", "hello")
    [note] = of(Notice, events)
    assert "did not start within 1 s" in note.text
    assert events[-1].__class__.__name__ == "Answer"


async def test_a_hanging_call_fails_with_a_reason_the_model_reads(
    config: Callable[..., Path], open_engine: Callable[..., Any], llm: ScriptedOpenAI
) -> None:
    path = config({"fake": {"command": FAKE[0], "args": [FAKE[1]], "timeout": 1, "approve": False}})
    async with open_engine(path) as engine:
        events = await chat(engine, "t-hang", "use fake__hang {}")
    [result] = of(ToolFinished, events)
    assert result.outcome is Outcome.FAILED
    assert "did not answer within 1 s" in result.content
    assert "did not answer within 1 s" in tool_results_seen_by_model(llm)[0]


async def test_a_bad_config_file_stops_the_start_with_one_line(
    llm: ScriptedOpenAI, search: FakeSearch, data_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "mcp.json"
    path.write_text("{not json", encoding="utf-8")
    settings = local_settings(llm, search, data_dir, mcp_config=path)
    with pytest.raises(ConfigurationError, match=r"ASSISTANT_MCP_CONFIG: .*invalid JSON"):
        async with Engine.open(settings):
            pass
