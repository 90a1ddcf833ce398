"""Two ``assistant ui`` processes on one PostgreSQL database serve the same people and
conversations: a conversation, a question, a sign-in, a report and a deletion started on
one process are picked up on the other, one run per thread holds across them, and a
process killed mid-run leaves its thread to the other.

Both processes share ``ASSISTANT_DATABASE_URL`` and ``CHAINLIT_AUTH_SECRET`` and nothing
else (each has its own data directory). Model calls are counted at the scripted model
server both use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from assistant.settings import load_settings
from fakes.brain import Brain
from fakes.chat_client import ChatClient, sign_in
from fakes.openai_server import ScriptedOpenAI
from fakes.postgres import TempPostgres, free_port
from fakes.ui_server import UiServer
from tests.support import query, stored_bytes
from tests.ui.conftest import USERS
from tests.ui.windows import approving_one_plan_in_two_windows_runs_it_once, window, workers

Pair = tuple[UiServer, UiServer]


@pytest.fixture(scope="module")
def shared_db(postgres_server: TempPostgres) -> str:
    """The database both processes use."""
    return postgres_server.create_database()


@pytest.fixture(scope="module")
def pair(
    ui_env: dict[str, str], shared_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    """Two servers on one database, started side by side."""
    env = {
        **ui_env,
        "ASSISTANT_USERS": USERS,
        "ASSISTANT_DATABASE_URL": shared_db,
        "CHAINLIT_AUTH_SECRET": secrets.token_urlsafe(48),
        "ASSISTANT_LEASE_SECONDS": "5",  # a killed process's runs are free again soon
    }
    servers = []
    for name in ("one", "two"):
        base = tmp_path_factory.mktemp(name)
        own = {**env, "ASSISTANT_DATA_DIR": str(base / "data"), "HOME": str(base / "home")}
        servers.append(UiServer(own, base / "data", base / "server.log"))
    try:
        with ThreadPoolExecutor(2) as starting:
            list(starting.map(UiServer.start, servers))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def servers(pair: Pair) -> Iterator[Pair]:
    """The two servers (one a test killed is started again afterwards)."""
    yield pair
    for server in pair:
        if server.proc is None or server.proc.poll() is not None:
            server.start()


async def test_a_conversation_started_on_one_process_continues_on_the_other(
    servers: Pair, ui_llm: ScriptedOpenAI, ui_brain: Brain
) -> None:
    one, two = servers
    async with window(one) as first:
        await first.turn("my name is Ada")
    await asyncio.sleep(1)  # Chainlit writes the history in the background
    async with window(two, thread_id=first.thread_id) as second:
        _, resumed = await second.wait_for(lambda name, _: name == "resume_thread")
        said = [s["output"] for s in resumed["steps"] if s["type"] == "user_message"]
        assert said == ["my name is Ada"]
        await second.turn("what is my name?")
        assert second.messages()[-1] == ui_brain.answer
    # the agent's memory came along: the second process sent the first message too
    assert "my name is Ada" in str(ui_llm.calls[-1].request.messages)


async def saved_elements(server: UiServer, cookie: str, thread_id: str) -> list[dict[str, str]]:
    """The thread's attachments as the history on ``server`` lists them (after a reload)."""
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        for _ in range(50):  # the attachments' rows are written in the background
            thread = (await http.get(f"/project/thread/{thread_id}")).json()
            if len(thread["elements"]) >= 3:  # the report as Markdown, PDF and Word
                break
            await asyncio.sleep(0.1)
    return list(thread["elements"])


async def test_a_plan_asked_on_one_process_is_approved_on_the_other_and_the_report_downloads_on_the_first(  # noqa: E501
    servers: Pair, ui_llm: ScriptedOpenAI, ui_brain: Brain
) -> None:
    one, two = servers
    async with window(one) as first:
        await first.send("research tides")
        asked = await first.next_question()
    async with window(two, thread_id=first.thread_id) as second:
        again = await second.next_question()
        assert again.interrupt_id == asked.interrupt_id
        before = len(ui_llm.calls)
        await second.click(again, "approve")
        await second.message_containing("## Sources", within=30)
        await second.message_containing("Done.", within=30)
    assert workers(ui_llm, before) == ui_brain.sections
    assert not [c for c in ui_llm.calls[before:] if c.request.schema_name == "Plan"]
    # reopened on the first process: the report is attached, and downloads from there
    cookie = await sign_in(one.url, "alice", "secret1")
    saved = {e["name"]: e for e in await saved_elements(one, cookie, first.thread_id)}
    assert set(saved) == {"a-report.md", "a-report.pdf", "a-report.docx"}
    async with httpx.AsyncClient(base_url=one.url, headers={"Cookie": cookie}) as http:
        download = await http.get(saved["a-report.md"]["url"])
        pdf = await http.get(saved["a-report.pdf"]["url"])  # made by this process, on demand
    assert download.status_code == 200
    assert download.text.startswith("# A Report")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


async def test_two_windows_on_two_processes_approving_one_plan_run_the_research_once(
    servers: Pair, ui_llm: ScriptedOpenAI, ui_brain: Brain
) -> None:
    await approving_one_plan_in_two_windows_runs_it_once(*servers, ui_llm, ui_brain)


async def test_a_process_killed_mid_research_leaves_its_thread_to_the_other(
    servers: Pair, ui_brain: Brain, ui_llm: ScriptedOpenAI
) -> None:
    one, two = servers
    cookie = await sign_in(one.url, "alice", "secret1")
    ui_brain.section_delay = {"Part 2": 8.0}
    try:
        client = await ChatClient.open(one.url, cookie)
        await client.send("research tides")
        await client.click(await client.next_question(), "approve")
        await client.message_containing("1 of 3 done", within=30)
        thread_id = client.thread_id
        one.kill()  # kill -9 while sections are being written
        with contextlib.suppress(Exception):
            await client.close()
    finally:
        ui_brain.section_delay = {}
    before = len(ui_llm.calls)
    async with window(two, thread_id=thread_id, cookie=cookie) as again:  # same sign-in
        await again.message_containing("did not finish", within=20)
        assert not [d for n, d in again.events if n == "action" and d["name"] == "approval"]
        _, resume = await again.wait_for(lambda n, d: n == "action" and d["name"] == "continue_run")
        await again.call_action(resume)
        report = await again.message_containing("## Sources", within=30)
    assert "## Part 2" in report
    assert workers(ui_llm, before) <= 2  # sections finished before the kill were kept
    assert not [c for c in ui_llm.calls[before:] if c.request.schema_name == "Plan"]


async def test_a_sign_in_on_one_process_works_on_the_other_until_logged_out_anywhere(
    servers: Pair,
) -> None:
    one, two = servers
    cookie = await sign_in(one.url, "bob", "secret2")
    for server in servers:
        async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
            assert (await http.get("/user")).status_code == 200
    client = await ChatClient.open(two.url, cookie)
    await client.close()
    async with httpx.AsyncClient(base_url=two.url, headers={"Cookie": cookie}) as http:
        assert (await http.post("/logout")).status_code == 200
    async with httpx.AsyncClient(base_url=one.url, headers={"Cookie": cookie}) as http:
        assert (await http.get("/user")).status_code == 401


async def test_a_conversation_deleted_on_one_process_is_gone_for_both(
    servers: Pair, shared_db: str, tmp_path: Path
) -> None:
    one, two = servers
    async with window(one) as client:
        await client.turn("my codename is OSPREY-TWO")
    await asyncio.sleep(1)
    cookie = await sign_in(two.url, "alice", "secret1")
    async with httpx.AsyncClient(base_url=two.url, headers={"Cookie": cookie}) as http:
        deleted = await http.request(
            "DELETE", "/project/thread", json={"threadId": client.thread_id}
        )
    assert deleted.status_code == 200, deleted.text
    async with httpx.AsyncClient(base_url=one.url, headers={"Cookie": cookie}) as http:
        assert (await http.get(f"/project/thread/{client.thread_id}")).status_code == 404
    settings = load_settings(database_url=shared_db, data_dir=tmp_path)
    assert (
        query(settings, "history", 'SELECT 1 FROM steps WHERE "threadId" = ?', client.thread_id)
        == []
    )
    for where, data in stored_bytes(settings).items():
        assert b"OSPREY-TWO" not in data, f"{where} still holds it"


# --- behind nginx ----------------------------------------------------------------------------

NGINX_SITE = Path(__file__).resolve().parents[2] / "docs" / "deploy" / "nginx.conf"


def nginx_binary() -> str | None:
    """Debian's nginx, if installed (``make test`` installs it when run as root)."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )


@pytest.fixture(scope="module")
def proxy(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """nginx with docs/deploy/nginx.conf in front of both servers; its base URL."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx; make test does it as root)")
    base = tmp_path_factory.mktemp("nginx")
    port = free_port()
    site = NGINX_SITE.read_text()
    ports = {"127.0.0.1:8001": pair[0].port, "127.0.0.1:8002": pair[1].port}
    for default, actual in ports.items():
        assert f"server {default};" in site
        site = site.replace(f"server {default};", f"server 127.0.0.1:{actual};")
    assert "    listen 80;\n" in site
    site = site.replace("    listen 80;\n", f"    listen 127.0.0.1:{port};\n")
    (base / "site.conf").write_text(site)
    temp = {name: base / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (base / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\nworker_processes 1;\npid {base}/nginx.pid;\n"
        f"error_log {base}/error.log;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n  access_log {base}/access.log;\n"
        + "".join(f"  {name}_temp_path {path};\n" for name, path in temp.items())
        + f"  include {base}/site.conf;\n}}\n"
    )
    nginx = subprocess.Popen(
        [binary, "-p", str(base), "-c", str(base / "nginx.conf"), "-e", str(base / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            if nginx.poll() is not None:
                raise RuntimeError(f"nginx exited: {nginx.stderr.read() if nginx.stderr else ''}")
            try:
                if httpx.get(f"{url}/auth/config", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not answer in 10 s")
            time.sleep(0.1)
        yield url
    finally:
        nginx.terminate()
        nginx.wait(10)


async def test_one_conversation_through_nginx_with_sticky_sessions(
    proxy: str, servers: Pair, ui_brain: Brain
) -> None:
    """Sign-in, the socket (a websocket through the proxy), a button click over HTTP that
    must reach the socket's process, the report download: all through nginx."""
    cookie = await sign_in(proxy, "alice", "secret1")
    async with window(proxy, cookie=cookie) as client:
        await client.send("research tides")
        await client.click(await client.next_question(), "approve")
        await client.message_containing("## Sources", within=30)
        _, attached = await client.wait_for(
            lambda name, data: name == "element" and data["name"].endswith(".md")
        )
    origin = {"Cookie": cookie, "Origin": proxy}  # the page's own origin, through the proxy
    async with httpx.AsyncClient(base_url=proxy, headers=origin) as http:
        download = await http.get(attached["url"])
        listed = await http.post(
            "/project/threads", json={"pagination": {"first": 5}, "filter": {}}
        )
    assert download.status_code == 200 and download.text.startswith("# A Report")
    assert listed.status_code == 200
    assert client.thread_id in [t["id"] for t in listed.json()["data"]]
