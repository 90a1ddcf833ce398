"""MCP tools: the config file, tool names, and real servers over stdio and streamable HTTP.

The stdio servers are real processes: ``mcp-server-time`` from PyPI in its own virtualenv
(``make mcp-servers`` installs it) and ``fakes/mcp_stdio_server.py`` for the failure cases.
The HTTP server is built here with the ``mcp`` SDK and served on loopback.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, ToolException

from fakes.mcp_http_server import CalculatorServer
from tools.mcp import MCPConfigError, MCPToolbox, ServerConfig, load_config, tool_name

ROOT = Path(__file__).resolve().parent.parent
TIME_SERVER = ROOT / ".venv-mcp" / "time" / "bin" / "mcp-server-time"
FAKE = [sys.executable, str(ROOT / "fakes" / "mcp_stdio_server.py")]
OPENAI_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

needs_time_server = pytest.mark.skipif(
    not TIME_SERVER.exists(), reason="mcp-server-time is not installed: run `make mcp-servers`"
)


def fake(*args: str, **options: Any) -> dict[str, Any]:
    """A config entry starting the fake stdio server with ``args``."""
    return {"command": FAKE[0], "args": [FAKE[1], *args], **options}


def write_config(tmp_path: Path, servers: dict[str, Any]) -> Path:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return path


@asynccontextmanager
async def started(
    tmp_path: Path, servers: dict[str, Any], **options: Any
) -> AsyncIterator[MCPToolbox]:
    """A started toolbox for ``servers`` (written to a config file first), closed afterwards."""
    options.setdefault("start_timeout", 20.0)  # generous: CI machines are slow and shared
    async with MCPToolbox(load_config(write_config(tmp_path, servers)), **options) as box:
        yield box


def by_name(box: MCPToolbox) -> dict[str, BaseTool]:
    return {tool.name: tool for tool in box.tools()}


def state(box: MCPToolbox, name: str) -> tuple[str, str | None]:
    status = next(s for s in box.status() if s.name == name)
    return status.state, status.error


def children() -> set[int]:
    """Live (or unreaped) child processes of this test process, from /proc."""
    me, found = os.getpid(), set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


async def elapsed(work: Awaitable[Any]) -> tuple[float, BaseException | None]:
    began = time.monotonic()
    try:
        await work
    except Exception as exc:
        return time.monotonic() - began, exc
    return time.monotonic() - began, None


# --- the config file ---


def test_config_reads_the_desktop_format(tmp_path: Path) -> None:
    servers = {
        "time": {"command": "mcp-server-time", "args": ["--local-timezone", "UTC"], "cwd": "srv"},
        "docs": {"url": "https://mcp.example.test/mcp", "headers": {"Authorization": "${TOKEN}"}},
        "typed": {"type": "http", "url": "http://127.0.0.1:1/mcp", "approve": False},
        "spelled": {"transport": "streamable_http", "url": "http://127.0.0.1:2/mcp"},
        "picky": {
            "command": "srv",
            "env": {"KEY": "${KEY:-fallback}", "PLAIN": "a$b"},
            "timeout": 5,
            "tools": ["echo"],
        },
        "off": {"command": "srv", "disabled": True},
    }
    configs = load_config(write_config(tmp_path, servers), environ={"TOKEN": "Bearer t0ken"})

    assert [c.name for c in configs] == ["time", "docs", "typed", "spelled", "picky"]
    time_cfg, docs, typed, spelled, picky = configs
    assert time_cfg == ServerConfig(
        "time",
        "stdio",
        command="mcp-server-time",
        args=("--local-timezone", "UTC"),
        cwd=str(tmp_path / "srv"),
    )
    assert (time_cfg.approve, time_cfg.timeout, time_cfg.tools, time_cfg.env) == (
        True,
        30.0,
        None,
        None,
    )
    assert (docs.transport, docs.headers) == ("streamable_http", {"Authorization": "Bearer t0ken"})
    assert (typed.transport, typed.approve) == ("streamable_http", False)
    assert spelled.transport == "streamable_http"
    assert picky.env == {"KEY": "fallback", "PLAIN": "a$b"}
    assert (picky.timeout, picky.tools) == (5.0, ("echo",))


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ('{\n  "mcpServers": {\n    "a": {"command": "x",}\n  }\n}', "invalid JSON at line 3"),
        ('["not", "an", "object"]', 'expected {"mcpServers"'),
        ({"a": {"args": ["x"]}}, "server 'a': has neither \"command\""),
        ({"a": {"command": "x", "url": "http://h/mcp"}}, 'has both "command" and "url"'),
        ({"a": {"command": "x", "args": "--flag"}}, "server 'a': \"args\" must be a list"),
        ({"a": {"command": "x", "args": [1]}}, '"args" must be a list of strings'),
        ({"a": {"command": "x", "approve": "yes"}}, '"approve" must be true or false'),
        ({"a": {"command": "x", "timeout": -1}}, '"timeout" must be a positive number'),
        ({"a": {"command": "x", "timeout": True}}, '"timeout" must be a number'),
        ({"a": {"command": "x", "env": {"PORT": 80}}}, '"env.PORT" must be a string'),
        ({"a": {"url": "http://h/mcp", "headers": {"X": "${NOPE}"}}}, "uses ${NOPE}, which is not"),
        ({"a": {"url": "http://h/sse", "transport": "sse"}}, "SSE transport is not supported"),
        ({"a": {"url": "ftp://h/mcp"}}, "must start with http:// or https://"),
        ({"a": {"command": "x", "type": "http"}}, "transport 'http' needs a url"),
        ({"a": "x"}, "server 'a': expected an object"),
    ],
)
def test_config_problems_are_one_line_naming_the_file(
    tmp_path: Path, content: Any, problem: str
) -> None:
    path = tmp_path / "mcp.json"
    if content is not None:
        text = content if isinstance(content, str) else json.dumps({"mcpServers": content})
        path.write_text(text, encoding="utf-8")

    with pytest.raises(MCPConfigError) as caught:
        load_config(path, environ={})

    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert problem in message
    assert "\n" not in message


def test_tool_names_follow_openai_rule_and_never_collide() -> None:
    assert tool_name("time", "get_current_time") == "time__get_current_time"
    assert tool_name("brave-search", "web-search") == "brave-search__web-search"
    pairs = [
        ("a__b", "c"),
        ("a", "b__c"),
        ("a.b", "c"),
        ("a_b", "c"),
        ("a_", "_c"),
        ("a", "__c"),
        ("my server", "tool/with.dots"),
        ("s" * 40, "t" * 40),
        ("s" * 40, "t" * 41),
        ("ünïcode", "ツール"),
    ]
    names = [tool_name(server, tool) for server, tool in pairs]
    assert all(OPENAI_NAME.match(name) for name in names), names
    assert len(set(names)) == len(names), names


# --- a real server from PyPI, over stdio ---


@pytest.fixture(scope="module")
async def time_box(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MCPToolbox]:
    if not TIME_SERVER.exists():
        pytest.skip("mcp-server-time is not installed: run `make mcp-servers`")
    servers = {"time": {"command": str(TIME_SERVER), "args": ["--local-timezone", "UTC"]}}
    async with started(tmp_path_factory.mktemp("time"), servers) as box:
        yield box


@needs_time_server
async def test_time_server_tools_are_listed_with_server_metadata(time_box: MCPToolbox) -> None:
    [status] = time_box.status()
    assert (status.name, status.transport, status.state, status.error) == (
        "time",
        "stdio",
        "connected",
        None,
    )
    assert set(status.tools) == {"time__get_current_time", "time__convert_time"}
    tool = by_name(time_box)["time__get_current_time"]
    assert tool.metadata is not None
    assert tool.metadata["mcp_server"] == "time"
    assert tool.metadata["approve"] is True
    assert "'time'" in tool.description
    assert "timezone" in tool.args


@needs_time_server
async def test_time_server_answers_through_the_langchain_tool(time_box: MCPToolbox) -> None:
    tool = by_name(time_box)["time__get_current_time"]

    text = await tool.ainvoke({"timezone": "Asia/Tokyo"})
    message = await tool.ainvoke(
        {"name": tool.name, "args": {"timezone": "Asia/Tokyo"}, "id": "call-1", "type": "tool_call"}
    )

    assert isinstance(text, str)
    answer = json.loads(text)
    assert answer["timezone"] == "Asia/Tokyo"
    assert answer["datetime"].endswith("+09:00")
    assert isinstance(message, ToolMessage)
    assert message.status == "success"
    assert isinstance(message.content, str) and "Asia/Tokyo" in message.content


@needs_time_server
async def test_a_tool_error_raises_tool_exception_with_the_servers_words(
    time_box: MCPToolbox,
) -> None:
    tool = by_name(time_box)["time__get_current_time"]

    with pytest.raises(ToolException, match="Invalid timezone"):
        await tool.ainvoke({"timezone": "Nowhere/Atlantis"})

    assert state(time_box, "time") == ("connected", None)


# --- a streamable-HTTP server built here ---


async def test_http_server_gets_the_configured_header(
    tmp_path: Path, http_server: CalculatorServer
) -> None:
    servers = {
        "calc": {"url": http_server.url, "headers": {"Authorization": "Bearer ${CALC_TOKEN}"}},
        "nokey": {"type": "http", "url": http_server.url},
    }
    path = write_config(tmp_path, servers)
    configs = load_config(path, environ={"CALC_TOKEN": "s3cret"})

    async with MCPToolbox(configs, start_timeout=20) as box:
        result = await by_name(box)["calc__add"].ainvoke({"a": 2, "b": 40})
        calc, nokey = box.status()

    assert result == "42"
    assert (calc.transport, calc.state, calc.tools) == (
        "streamable_http",
        "connected",
        ("calc__add",),
    )
    assert nokey.state == "failed"
    assert nokey.error is not None and "HTTP 401" in nokey.error


async def test_an_http_server_going_away_fails_the_call_with_a_reason(
    tmp_path: Path, http_server: CalculatorServer
) -> None:
    servers = {"calc": {"url": http_server.url, "headers": {"Authorization": "Bearer s3cret"}}}
    async with started(tmp_path, servers) as box:
        add = by_name(box)["calc__add"]
        assert await add.ainvoke({"a": 1, "b": 2}) == "3"
        await asyncio.to_thread(http_server.stop)

        took, error = await elapsed(add.ainvoke({"a": 1, "b": 2}))
        calc = state(box, "calc")
        await box.refresh()
        retried = state(box, "calc")

    assert isinstance(error, ToolException)
    assert str(error) == (
        f"The calc server failed while answering: cannot reach {http_server.url} "
        "(connection refused)."
    )
    assert took < 5
    assert calc == ("failed", f"cannot reach {http_server.url} (connection refused)")
    assert retried == (
        "failed",
        f"could not start: cannot reach {http_server.url} (connection refused)",
    )


# --- failures ---


async def test_broken_servers_fail_with_a_reason_and_the_others_work(tmp_path: Path) -> None:
    servers = {
        "missing": {"command": str(tmp_path / "no-such-server")},
        "dies": fake("--exit", "fatal: bad configuration"),
        "good": fake("--label", "good"),
    }
    async with started(tmp_path, servers) as box:
        missing, dies = state(box, "missing"), state(box, "dies")
        answer = await by_name(box)["good__echo"].ainvoke({"text": "hi"})

    assert all("\n" not in (s.error or "") for s in box.status())
    assert missing[0] == "failed" and missing[1] is not None
    assert "no-such-server" in missing[1] and "no such program" in missing[1]
    assert dies == (
        "failed",
        "could not start: it exited (last error output: fatal: bad configuration)",
    )
    assert answer == "good: hi"


async def test_a_server_hanging_at_start_fails_within_the_start_timeout(tmp_path: Path) -> None:
    began = time.monotonic()
    async with started(tmp_path, {"stuck": fake("--hang")}, start_timeout=1.5) as box:
        took = time.monotonic() - began
        stuck = state(box, "stuck")

    assert stuck == ("failed", "did not start within 1.5 s")
    assert took < 1.5 + 1.0
    assert box.tools() == []


async def test_a_hanging_call_times_out_and_refresh_reconnects(tmp_path: Path) -> None:
    async with started(tmp_path, {"slow": fake("--label", "slow", timeout=1)}) as box:
        tools = by_name(box)

        took, error = await elapsed(tools["slow__hang"].ainvoke({}))
        failed = state(box, "slow")
        _, meanwhile = await elapsed(tools["slow__echo"].ainvoke({"text": "hi"}))
        await box.refresh()
        again = await tools["slow__echo"].ainvoke({"text": "hi"})

    assert isinstance(error, ToolException)
    assert str(error) == "The slow server did not answer within 1 s."
    assert took < 2.5
    assert failed == ("failed", "did not answer a call to hang within 1 s")
    assert isinstance(meanwhile, ToolException)
    assert "not available right now" in str(meanwhile)
    assert state(box, "slow")[0] == "closed"
    assert again == "slow: hi"


async def test_a_server_crashing_mid_call_is_reported_and_restarted(tmp_path: Path) -> None:
    async with started(tmp_path, {"flaky": fake("--label", "flaky")}) as box:
        tools = by_name(box)

        took, error = await elapsed(tools["flaky__crash"].ainvoke({}))
        failed = state(box, "flaky")
        await box.refresh()
        restarted = state(box, "flaky")
        again = await tools["flaky__echo"].ainvoke({"text": "back"})

    assert isinstance(error, ToolException)
    assert str(error).startswith("The flaky server failed while answering: ")
    assert "crashing on purpose" in str(error)
    assert took < 5
    assert failed[0] == "failed"
    assert restarted == ("connected", None)
    assert again == "flaky: back"


async def test_a_server_killed_while_idle_is_marked_failed_and_restarted(tmp_path: Path) -> None:
    log = tmp_path / "starts.log"
    async with started(tmp_path, {"fake": fake("--log", str(log))}) as box:
        os.kill(int(log.read_text().split()[1]), signal.SIGKILL)
        for _ in range(100):  # the toolbox notices on its own, without a call
            if box.status()[0].state == "failed":
                break
            await asyncio.sleep(0.05)
        killed = state(box, "fake")
        await box.refresh()
        answer = await by_name(box)["fake__echo"].ainvoke({"text": "again"})

    assert killed == ("failed", "stopped unexpectedly")
    assert answer == "fake: again"
    assert len(log.read_text().splitlines()) == 2


async def test_a_server_that_cannot_start_is_retried_at_most_once_per_interval(
    tmp_path: Path,
) -> None:
    log = tmp_path / "starts.log"
    now = [1000.0]
    servers = {"dies": fake("--log", str(log), "--exit", "no")}

    async with started(tmp_path, servers, retry_interval=30, clock=lambda: now[0]) as box:
        await box.refresh()
        now[0] += 29
        await box.refresh()
        before = len(log.read_text().splitlines())
        now[0] += 2
        await box.refresh()
        after = len(log.read_text().splitlines())

    assert (before, after) == (1, 2)


async def test_two_servers_with_the_same_tool_names_stay_distinct(tmp_path: Path) -> None:
    servers = {"one": fake("--label", "one"), "two": fake("--label", "two")}
    async with started(tmp_path, servers) as box:
        listed = box.tools()
        tools = by_name(box)
        answers = [await tools[f"{n}__echo"].ainvoke({"text": "hi"}) for n in ("one", "two")]

    assert {"one__echo", "two__echo", "one__big", "two__big"} <= set(tools)
    assert len(listed) == len(tools) == 8
    assert answers == ["one: hi", "two: hi"]
    servers = [(tools[f"{n}__echo"].metadata or {}).get("mcp_server") for n in ("one", "two")]
    assert servers == ["one", "two"]


async def test_a_stdio_server_is_started_once_for_many_calls(tmp_path: Path) -> None:
    log = tmp_path / "starts.log"
    async with started(tmp_path, {"fake": fake("--log", str(log))}) as box:
        echo = by_name(box)["fake__echo"]
        answers = [await echo.ainvoke({"text": str(i)}) for i in range(10)]
        await box.refresh()

    assert answers == [f"fake: {i}" for i in range(10)]
    assert len(log.read_text().splitlines()) == 1


async def test_results_are_text_cut_at_the_limit_with_a_note(tmp_path: Path) -> None:
    async with started(tmp_path, {"fake": fake()}) as box:
        text = await by_name(box)["fake__big"].ainvoke({"size": 50_000})

    body, note = text.rsplit("\n", 1)
    assert body == "x" * 20_000
    assert (
        note == "[The result was cut here: it had 50,000 characters; the first 20,000 are shown.]"
    )


async def test_allow_list_and_approval_flag_come_from_the_config(tmp_path: Path) -> None:
    servers = {"fake": fake(tools=["echo", "absent"], approve=False)}
    async with started(tmp_path, servers) as box:
        tools = box.tools()

    assert [t.name for t in tools] == ["fake__echo"]
    assert tools[0].metadata == {"mcp_server": "fake", "mcp_tool": "echo", "approve": False}


async def test_aclose_leaves_no_child_process(tmp_path: Path) -> None:
    log = tmp_path / "starts.log"
    servers: dict[str, Any] = {
        "fake": fake("--log", str(log)),
        "stuck": fake("--log", str(log), "--hang"),  # still starting when the toolbox closes
    }
    if TIME_SERVER.exists():
        servers["time"] = {"command": str(TIME_SERVER)}
    before = children()
    box = MCPToolbox(load_config(write_config(tmp_path, servers)), start_timeout=60)
    starting = asyncio.create_task(box.start())
    for _ in range(400):  # up to 20 s for the others to connect
        if len(box.tools()) == 4 + 2 * ("time" in servers):
            break
        await asyncio.sleep(0.05)
    during = children() - before

    await box.aclose()
    await asyncio.wait_for(starting, 5)

    pids = {int(line.split()[1]) for line in log.read_text().splitlines()}
    assert len(pids) == 2
    assert len(during) == len(servers)
    assert children() - before == set()
    assert not any(alive(pid) for pid in pids)
    assert {s.state for s in box.status()} == {"closed"}
