"""The trust promises as a person meets them in the browser: two windows, a reload, Stop,
a crashed server, deletion, and a server that refuses what it must.

Driven over Chainlit's own protocol (HTTP and socket.io) against the real server; model
calls are counted at the scripted model server.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import socketio

from fakes.brain import Brain
from fakes.chat_client import ChatClient, sign_in
from fakes.openai_server import ScriptedOpenAI
from tests.ui.conftest import UiServer, running
from tests.ui.windows import approving_one_plan_in_two_windows_runs_it_once, window, workers


async def saved_steps(server: UiServer, thread_id: str) -> list[dict[str, object]]:
    cookie = await sign_in(server.url, "alice", "secret1")
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        response = await http.get(f"/project/thread/{thread_id}")
    return list(response.json()["steps"]) if response.status_code == 200 else []


async def test_two_windows_approving_one_plan_run_the_research_once(
    server: UiServer, ui_llm: ScriptedOpenAI, ui_brain: Brain
) -> None:
    await approving_one_plan_in_two_windows_runs_it_once(server, server, ui_llm, ui_brain)


async def test_two_windows_sending_at_once_never_lose_a_message(
    server: UiServer, ui_llm: ScriptedOpenAI
) -> None:
    async with window(server) as first:
        await first.turn("hello")
        async with window(server, thread_id=first.thread_id) as second:
            await asyncio.sleep(0.5)
            ui_llm.latency = 0.5
            try:
                sent = await asyncio.gather(
                    first.send("first at once"), second.send("second at once")
                )
                await asyncio.sleep(2.5)
            finally:
                ui_llm.latency = 0.0
            notes = [
                m for c in (first, second) for m in c.messages() if "busy in another window" in m
            ]
            removed = {
                data["id"]
                for c in (first, second)
                for name, data in c.events
                if name == "delete_message"
            }
    assert len(notes) == 1
    assert len(removed & set(sent)) == 1  # the refused message was taken out of the chat
    kept_id = (set(sent) - removed).pop()
    kept = "first at once" if kept_id == sent[0] else "second at once"
    refused = "second at once" if kept == "first at once" else "first at once"
    steps = await saved_steps(server, first.thread_id)
    said = [s["output"] for s in steps if s["type"] == "user_message"]
    assert kept in said and refused not in said
    # the message in the history is the one the model saw, and the other reached no model
    assert any(c.request.last_user == kept for c in ui_llm.calls)
    assert not any(c.request.last_user == refused for c in ui_llm.calls)


async def test_a_reload_during_research_shows_no_question_again(
    server: UiServer, ui_brain: Brain
) -> None:
    ui_brain.section_delay = {"Part 2": 3.0}
    try:
        async with window(server) as first:
            await first.send("research tides")
            await first.click(await first.next_question(), "approve")
            await first.message_containing("1 of 3 done", within=30)
            async with window(server, thread_id=first.thread_id) as reloaded:
                await reloaded.message_containing("working in another window", within=10)
                assert not [
                    n for n, d in reloaded.events if n == "action" and d["name"] == "approval"
                ]
            await first.message_containing("## Sources", within=30)
        async with window(server, thread_id=first.thread_id) as later:
            await later.wait_for(lambda name, _: name == "resume_thread")
            await asyncio.sleep(1)
            assert not [n for n, d in later.events if n == "action"]  # no question, no Continue
    finally:
        ui_brain.section_delay = {}


async def test_after_a_crash_the_answered_plan_is_not_asked_and_continue_finishes(
    server: UiServer, ui_brain: Brain, ui_llm: ScriptedOpenAI
) -> None:
    cookie = await sign_in(server.url, "alice", "secret1")
    ui_brain.section_delay = {"Part 2": 8.0}
    try:
        client = await ChatClient.open(server.url, cookie)
        await client.send("research tides")
        asked = await client.next_question()
        stale_reject = asked.action("reject")
        await client.click(asked, "approve")
        await client.message_containing("1 of 3 done", within=30)
        thread_id = client.thread_id
        server.kill()  # kill -9 while sections are being written
        with contextlib.suppress(Exception):
            await client.close()
    finally:
        ui_brain.section_delay = {}
    server.start()
    before = len(ui_llm.calls)
    again = await ChatClient.open(server.url, cookie, thread_id)
    try:
        await again.message_containing("did not finish", within=20)
        assert not [d for n, d in again.events if n == "action" and d["name"] == "approval"]
        # a Reject button still showing in a stale window does nothing now
        await again.call_action(stale_reject)
        await again.message_containing("no longer open")
        _, resume = await again.wait_for(lambda n, d: n == "action" and d["name"] == "continue_run")
        await again.call_action(resume)
        report = await again.message_containing("## Sources", within=30)
    finally:
        await again.close()
    assert "## Part 2" in report
    # sections finished before the crash were not written again
    assert workers(ui_llm, before) <= 2
    assert not [c for c in ui_llm.calls[before:] if c.request.schema_name == "Plan"]


async def test_after_stop_the_next_message_is_answered_at_once(
    server: UiServer, ui_brain: Brain
) -> None:
    ui_brain.section_delay = {"Part 2": 5.0}
    try:
        async with window(server) as client:
            await client.send("research tides")
            await client.click(await client.next_question(), "approve")
            await client.message_containing("1 of 3 done", within=30)
            await client.stop()
            ui_brain.section_delay = {}
            await client.turn("hello")
            assert client.messages()[-1] == "Here is my answer."
    finally:
        ui_brain.section_delay = {}


def rows(path: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(sql, args).fetchall()


async def test_deleting_a_conversation_deletes_everything_and_nobody_inherits_it(
    server: UiServer, ui_llm: ScriptedOpenAI
) -> None:
    async with window(server) as client:
        await client.turn("my codename is KESTREL-NINE")
        await client.send("research tides")
        await client.click(await client.next_question(), "approve")
        await client.message_containing("## Sources", within=30)
        await client.message_containing("Done.", within=30)
    thread_id = client.thread_id
    await asyncio.sleep(1)  # Chainlit writes the history in the background
    cookie = await sign_in(server.url, "alice", "secret1")
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        deleted = await http.request("DELETE", "/project/thread", json={"threadId": thread_id})
    assert deleted.status_code == 200, deleted.text

    data = server.data_dir
    for table in ("checkpoints", "writes"):
        assert (
            rows(
                data / "checkpoints.sqlite", f"SELECT 1 FROM {table} WHERE thread_id = ?", thread_id
            )
            == []
        )
    for table in ("sections", "files", "decisions", "leases"):
        assert (
            rows(data / "assistant.sqlite", f"SELECT 1 FROM {table} WHERE thread_id = ?", thread_id)
            == []
        )
    assert (
        rows(data / "chainlit.sqlite", 'SELECT 1 FROM steps WHERE "threadId" = ?', thread_id) == []
    )
    assert (
        rows(data / "chainlit.sqlite", 'SELECT 1 FROM elements WHERE "threadId" = ?', thread_id)
        == []
    )
    for path in data.rglob("*"):
        if path.is_file():
            assert b"KESTREL-NINE" not in path.read_bytes(), f"{path.name} still holds it"

    # another account, and the same one, using that id get nothing of the old conversation
    before = len(ui_llm.calls)
    for user in ("bob", "alice"):
        async with window(server, user, thread_id=thread_id) as intruder:
            intruder.thread_id = thread_id
            await intruder.send("what was the codename?")
            refused = await intruder.message_containing("was not sent", within=15)
            assert "No conversation" in refused
    assert not any("KESTREL" in str(c.request.messages) for c in ui_llm.calls[before:])


# --- the server refuses what it must -------------------------------------------------------


async def test_requests_from_another_site_are_refused(server: UiServer) -> None:
    cookie = await sign_in(server.url, "alice", "secret1")
    evil = "http://127.0.0.1:1"  # a page on another port of the same machine
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        own = await http.post(
            "/project/threads",
            json={"pagination": {"first": 5}, "filter": {}},
            headers={"Origin": server.url},
        )
        foreign = await http.post(
            "/project/threads",
            json={"pagination": {"first": 5}, "filter": {}},
            headers={"Origin": evil},
        )
    assert own.status_code == 200
    assert foreign.status_code == 403
    assert "access-control-allow-origin" not in foreign.headers
    sio = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(
            server.url,
            socketio_path="/ws/socket.io",
            headers={"Cookie": cookie, "Origin": evil},
            auth={"sessionId": "s", "clientType": "webapp", "threadId": "", "userEnv": "{}"},
            transports=["websocket"],
            wait_timeout=5,
        )


async def test_pages_carry_security_headers(server: UiServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        page = await http.get("/")
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data: blob:" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_the_sign_in_cookie_is_secure_behind_https(server: UiServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        plain = await http.post("/login", data={"username": "bob", "password": "secret2"})
        proxied = await http.post(
            "/login",
            data={"username": "bob", "password": "secret2"},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert "secure" not in plain.headers["set-cookie"].lower()
    assert "secure" in proxied.headers["set-cookie"].lower()


async def test_logging_out_ends_the_session_on_the_server(server: UiServer) -> None:
    cookie = await sign_in(server.url, "alice", "secret1")
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        assert (await http.get("/user")).status_code == 200
        assert (await http.post("/logout")).status_code == 200
    # the copied token no longer works, over HTTP or the socket
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        assert (await http.get("/user")).status_code == 401
    with pytest.raises(socketio.exceptions.ConnectionError):
        await ChatClient.open(server.url, cookie)


@pytest.fixture(scope="module")
def guarded(ui_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """A server of its own: its sign-in failures and accounts change during the tests."""
    env = {**ui_env, "ASSISTANT_USERS": "alice:secret1,carol:secret3"}
    with running(env, tmp_path_factory.mktemp("guarded")) as started:
        yield started


async def test_repeated_failed_sign_ins_are_throttled(guarded: UiServer) -> None:
    async with httpx.AsyncClient(base_url=guarded.url) as http:
        for _ in range(5):
            wrong = await http.post("/login", data={"username": "alice", "password": "nope"})
            assert wrong.status_code == 401
        blocked = await http.post("/login", data={"username": "alice", "password": "secret1"})
        other = await http.post("/login", data={"username": "carol", "password": "secret3"})
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.json()["detail"]
    assert int(blocked.headers["retry-after"]) > 0
    assert other.status_code == 200  # another account from the same address still signs in


async def test_a_removed_account_cannot_use_its_token(guarded: UiServer) -> None:
    cookie = await sign_in(guarded.url, "carol", "secret3")
    guarded.stop()
    guarded.env["ASSISTANT_USERS"] = "alice:secret1"
    guarded.start()
    async with httpx.AsyncClient(base_url=guarded.url, headers={"Cookie": cookie}) as http:
        assert (await http.get("/user")).status_code == 401
