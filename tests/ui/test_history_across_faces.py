"""One history for the terminal and the browser (local single-user mode).

A conversation started with ``assistant chat`` is in the browser's sidebar and reopens
with its messages and report; a conversation started in the browser goes on with
``assistant chat --thread ID``, and its new turns show in the browser too. The browser
here is the real UI server, read through its HTTP API and socket (what the page reads).
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.history import ChatHistory, ensure_history_schema
from assistant.storage import LOCAL_OWNER, SqliteDatabase
from assistant.ui.auth import LOCAL_USER
from fakes.brain import Brain
from fakes.chat_client import ChatClient
from tests.conftest import assistant_command
from tests.ui.conftest import UiServer, running


@pytest.fixture(scope="module")
def local_server(
    ui_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiServer]:
    """The chat UI with no ASSISTANT_USERS: everyone is the local user, as in the CLI."""
    with running(ui_env, tmp_path_factory.mktemp("faces")) as started:
        yield started


def cli(
    server: UiServer, env: dict[str, str], args: list[str], stdin: str
) -> subprocess.CompletedProcess[str]:
    """The ``assistant`` command on the server's data directory."""
    return subprocess.run(
        [*assistant_command(), *args],
        input=stdin,
        env={**env, "ASSISTANT_DATA_DIR": str(server.data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=server.data_dir.parent,
    )


@pytest.fixture
async def browser(local_server: UiServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in as the local user, as the page is."""
    async with httpx.AsyncClient(base_url=local_server.url) as http:
        signed_in = await http.post("/auth/header")
        http.headers["Cookie"] = f"access_token={signed_in.cookies['access_token']}"
        yield http


async def sidebar(http: httpx.AsyncClient) -> dict[str, str]:
    """The conversations the browser's sidebar lists: id -> name."""
    listed = await http.post("/project/threads", json={"pagination": {"first": 50}, "filter": {}})
    assert listed.status_code == 200, listed.text
    return {thread["id"]: thread["name"] for thread in listed.json()["data"]}


async def messages(http: httpx.AsyncClient, thread_id: str) -> list[tuple[str, str]]:
    """What reopening the conversation shows: (type, text) of each message, in order."""
    found = await http.get(f"/project/thread/{thread_id}")
    assert found.status_code == 200, found.text
    return [
        (step["type"], step["output"])
        for step in found.json()["steps"]
        if step["type"] in ("user_message", "assistant_message")
    ]


def test_the_terminal_and_the_browser_are_the_same_local_person() -> None:
    assert LOCAL_OWNER == LOCAL_USER


async def test_a_terminal_conversation_is_in_the_browsers_history(
    local_server: UiServer, ui_env: dict[str, str], browser: httpx.AsyncClient, ui_brain: Brain
) -> None:
    thread = str(uuid.uuid4())
    result = cli(
        local_server,
        ui_env,
        ["chat", "--thread", thread],
        "hello from the terminal\nresearch tides\na\n",
    )
    assert result.returncode == 0, result.stderr

    assert (await sidebar(browser))[thread] == "hello from the terminal"
    shown = await messages(browser, thread)
    assert shown[:2] == [
        ("user_message", "hello from the terminal"),
        ("assistant_message", ui_brain.answer),
    ]
    assert shown[2] == ("user_message", "research tides")
    report = shown[3][1]
    assert shown[3][0] == "assistant_message" and report.startswith("# A Report")
    assert "1. [" in report.split("## Sources", 1)[1]  # the sources as links, as the UI shows
    assert shown[4][0] == "assistant_message" and shown[4][1].startswith("Done.")

    elements = (await browser.get(f"/project/thread/{thread}")).json()["elements"]
    names = sorted(element["name"] for element in elements)
    assert names == ["a-report.docx", "a-report.md", "a-report.pdf"]
    markdown = next(e for e in elements if e["name"] == "a-report.md")
    download = await browser.get(markdown["url"])
    assert download.status_code == 200 and download.text.startswith("# A Report")

    # Reopened in the browser, the conversation goes on there.
    cookie = browser.headers["Cookie"]
    client = await ChatClient.open(local_server.url, cookie, thread_id=thread)
    try:
        await client.turn("calculate 2+3")
        assert "5" in client.messages()[-1]
    finally:
        await client.close()
    after = await messages(browser, thread)
    assert after[:5] == shown and after[5] == ("user_message", "calculate 2+3")
    assert after[-1][0] == "assistant_message" and "2+3 = 5" in after[-1][1]


async def test_a_browser_conversation_goes_on_in_the_terminal(
    local_server: UiServer, ui_env: dict[str, str], browser: httpx.AsyncClient
) -> None:
    client = await ChatClient.open(local_server.url, browser.headers["Cookie"])
    try:
        await client.turn("hello from the browser")
    finally:
        await client.close()
    thread = client.thread_id

    listed = cli(local_server, ui_env, ["threads"], "")
    assert thread in listed.stdout and "hello from the browser" in listed.stdout

    result = cli(local_server, ui_env, ["chat", "--thread", thread], "calculate 6*7\n")
    assert result.returncode == 0, result.stderr
    assert "42" in result.stdout

    assert (await sidebar(browser))[thread] == "hello from the browser"  # name kept
    shown = await messages(browser, thread)
    assert shown[0] == ("user_message", "hello from the browser")
    assert shown[-2] == ("user_message", "calculate 6*7")
    assert shown[-1][0] == "assistant_message" and "42" in shown[-1][1]


async def test_the_history_rows_the_terminal_writes_are_read_by_the_ui_data_layer(
    tmp_path: Path,
) -> None:
    """The same rows through Chainlit's own reading path, without a server."""
    from chainlit.types import Pagination, ThreadFilter

    from assistant.ui.datalayer import build_data_layer

    path = tmp_path / "chainlit.sqlite"
    db = await SqliteDatabase.open(path)
    try:
        await ensure_history_schema(db)
        history = ChatHistory(db)
        await history.open_thread("t1", identifier="local", name="first words " + "x" * 200)
        user = await history.add_message("t1", "user_message", "first words", author="local")
        answer = await history.add_message("t1", "assistant_message", "an answer", author="A")
        await history.add_files("t1", answer, [("run/report.md", "report.md", "text/markdown")])
        await history.open_thread("t1", identifier="someone-else", name="renamed")  # no effect
        assert await history.user_id("local") == await history.user_id("local")
    finally:
        await db.close()

    def no_writes() -> ChatHistory:
        raise AssertionError("reading the history must not write it")

    layer: Any = build_data_layer(path, storage=_NoStorage(), history=no_writes)
    try:
        persisted = await layer.get_user("local")
        page = await layer.list_threads(Pagination(first=10), ThreadFilter(userId=persisted.id))
        assert [thread["id"] for thread in page.data] == ["t1"]
        thread = await layer.get_thread("t1")
        assert thread["name"].startswith("first words x") and len(thread["name"]) <= 80
        assert thread["userIdentifier"] == "local"
        assert [(s["id"], s["type"], s["output"]) for s in thread["steps"]] == [
            (user, "user_message", "first words"),
            (answer, "assistant_message", "an answer"),
        ]
        (element,) = thread["elements"]
        assert (element["forId"], element["objectKey"], element["url"]) == (
            answer,
            "run/report.md",
            "/read/run/report.md",
        )
        assert await layer.get_thread_author("t1") == "local"
    finally:
        await layer.engine.dispose()


class _NoStorage:
    """A storage client that only names read URLs."""

    async def get_read_url(self, object_key: str) -> str:
        return f"/read/{object_key}"
