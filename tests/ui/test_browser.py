"""End to end in headless Chromium: sign in, research, approve, reload, reopen from history.

Uses Debian's ``/usr/bin/chromium`` through PyPI's ``playwright`` (``browsing.py``).
Screenshots go to the test's temporary directory; with ``UPDATE_SCREENSHOT=1`` the last
one (the reopened thread with its research steps open) is copied to ``docs/screenshot.png``
for the README, so an ordinary test run leaves the work tree clean.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from playwright.async_api import Browser, expect

from fakes.brain import Brain
from fakes.search_server import FakeSearch
from fakes.ui_server import ROOT, UiServer
from tests.ui.browsing import TIMEOUT_MS, needs_chromium, shot, sign_in

pytestmark = needs_chromium


async def test_research_approve_reload_and_reopen_from_history(
    server: UiServer, browser: Browser, tmp_path: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 960})
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        await sign_in(page, server.url, "alice", "secret1")
        await page.fill("#chat-input", "Research how ocean tides work")
        await page.click("#chat-submit")

        approve = page.get_by_role("button", name="Approve")
        await expect(approve).to_be_visible()
        await expect(page.get_by_text("Research plan", exact=True)).to_be_visible()
        await expect(page.get_by_role("heading", name="A Report")).to_be_visible()
        await shot(page, tmp_path / "1-plan-approval.png")
        await approve.click()

        sources = page.get_by_role("heading", name="Sources")
        await expect(sources).to_be_visible()
        source = page.get_by_role("link", name="How Ocean Tides Work Aspect 1 — source 1")
        await expect(source).to_have_attribute(
            "href", re.compile(r"^http://127\.0\.0\.1:\d+/page/how-ocean-tides-work-aspect-1/1$")
        )
        await expect(page.get_by_text("a-report.md")).to_be_visible()
        await expect(page.get_by_text("Done. The report")).to_be_visible()
        await shot(page, tmp_path / "2-report.png")
        thread_url = page.url

        await page.reload()
        await expect(page.get_by_role("heading", name="Sources")).to_be_visible()
        await shot(page, tmp_path / "3-reloaded.png")

        await page.goto(server.url)  # a new chat, then the old one from the history
        await expect(page.locator("#chat-input")).to_be_visible()
        await page.get_by_text("Research how ocean tides work").first.click()
        await expect(page.get_by_role("heading", name="Sources")).to_be_visible()
        assert page.url == thread_url
        research = page.locator("#step-Research")
        if await research.get_attribute("aria-expanded") != "true":
            await research.click()
        await page.get_by_text("Section 2 of 3: Part 2").click()
        await expect(page.get_by_text("Written from 3 sources:")).to_be_visible()
        await research.scroll_into_view_if_needed()
        await shot(page, tmp_path / "4-reopened-with-steps.png")
    finally:
        await context.close()
    if os.environ.get("UPDATE_SCREENSHOT"):
        shutil.copy(tmp_path / "4-reopened-with-steps.png", ROOT / "docs" / "screenshot.png")


async def test_answers_never_load_remote_images_or_run_links(
    server: UiServer, browser: Browser, ui_brain: Brain
) -> None:
    """A prompt-injected answer tries to send text out through an image and a link."""
    with FakeSearch() as collector:  # any loopback server that records requests
        leak = f"{collector.url}/search?q=stolen-words&format=json"
        ui_brain.answer = (
            f"Here you go ![chart]({leak}) and [more](javascript:alert(document.cookie)) "
            f'<img src="{leak}"> end.'
        )
        context = await browser.new_context()
        page = await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        try:
            await sign_in(page, server.url, "alice", "secret1")
            await page.fill("#chat-input", "hello")
            await page.click("#chat-submit")
            await expect(page.get_by_text("[image: chart]")).to_be_visible()
            await page.wait_for_timeout(1000)
            links = await page.locator("a[href^='javascript']").count()
        finally:
            ui_brain.answer = "Here is my answer."
            await context.close()
        assert collector.requests == []
        assert not [url for url in requested if url.startswith(collector.url)]
        assert links == 0
