"""Driving the chat UI in headless Chromium: Debian's ``/usr/bin/chromium`` through PyPI's
``playwright`` (no browser download).

Screenshots go to the test's temporary directory; with ``UPDATE_SCREENSHOT=1`` the ones a
test names for the docs are copied under ``docs/`` as well, so an ordinary test run leaves
the work tree clean.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright

from fakes.ui_server import ROOT

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000
DOCS = ROOT / "docs"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"
)


async def launch() -> AsyncIterator[Browser]:
    """Headless Chromium, closed at the end (the body of a ``browser`` fixture)."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


async def sign_in(page: Page, base_url: str, user: str, password: str) -> None:
    """Fill the login form."""
    await page.goto(base_url)
    await page.fill("#email", user)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#chat-input", timeout=TIMEOUT_MS)


async def send(page: Page, text: str) -> None:
    """Type ``text`` in the composer and send it."""
    await page.fill("#chat-input", text)
    await page.click("#chat-submit")


async def shot(page: Page, path: Path, docs: str | None = None) -> None:
    """A screenshot with CSS animations finished (steps open with an animation); with
    ``UPDATE_SCREENSHOT=1`` also kept as ``docs/<docs>``."""
    await page.screenshot(path=path, animations="disabled")
    if docs and os.environ.get("UPDATE_SCREENSHOT"):
        target = DOCS / docs
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


async def seen(locator: Locator) -> bool:
    """Whether the element is wholly inside the visible part of the chat (the messages'
    scrolling area, or the window when it is not in one): the person sees it without
    scrolling."""
    return bool(
        await locator.evaluate(
            """element => {
                let area = element.parentElement;
                while (area && !["auto", "scroll"].includes(getComputedStyle(area).overflowY)) {
                    area = area.parentElement;
                }
                const box = area ? area.getBoundingClientRect()
                                 : {top: 0, bottom: window.innerHeight};
                const rect = element.getBoundingClientRect();
                return rect.height > 0 && rect.top >= box.top - 1 && rect.bottom <= box.bottom + 1;
            }"""
        )
    )
