"""Without ASSISTANT_USERS: one local user, signed in automatically, with a history."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright, expect

from fakes.chat_client import ChatClient
from tests.ui.browsing import CHROMIUM, FLAGS
from tests.ui.conftest import UiServer, running


@pytest.fixture(scope="module")
def server(ui_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    """The chat UI with no ASSISTANT_USERS."""
    with running(ui_env, tmp_path_factory.mktemp("local")) as started:
        yield started


async def test_the_local_user_is_signed_in_without_a_password(server: UiServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        config = (await http.get("/auth/config")).json()
        assert config["headerAuth"] is True
        assert config["passwordAuth"] is False
        signed_in = await http.post("/auth/header")
        assert signed_in.status_code == 200
        cookie = f"access_token={signed_in.cookies['access_token']}"
    client = await ChatClient.open(server.url, cookie)
    try:
        await client.turn("hello")
        assert client.messages()[-1] == "Here is my answer."
    finally:
        await client.close()
    async with httpx.AsyncClient(base_url=server.url, headers={"Cookie": cookie}) as http:
        me = (await http.get("/user")).json()
        listed = await http.post(
            "/project/threads", json={"pagination": {"first": 20}, "filter": {}}
        )
    assert me["identifier"] == "local"
    assert client.thread_id in {thread["id"] for thread in listed.json()["data"]}
    assert (Path(server.data_dir) / "auth_secret").stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium")
async def test_the_page_opens_on_the_chat_with_no_login_screen(server: UiServer) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = await browser.new_page()
            await page.goto(server.url)
            await expect(page.locator("#chat-input")).to_be_visible(timeout=20_000)
            assert await page.locator("#password").count() == 0
        finally:
            await browser.close()


async def test_single_user_mode_answers_only_to_this_machines_names(server: UiServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        local = await http.get("/auth/config", headers={"Host": f"localhost:{server.port}"})
        rebound = await http.get("/auth/config", headers={"Host": f"evil.example:{server.port}"})
        by_address = await http.post("/auth/header", headers={"Host": f"10.1.2.3:{server.port}"})
    assert local.status_code == 200
    assert rebound.status_code == 421  # a DNS-rebound page cannot reach the local assistant
    assert by_address.status_code == 421
