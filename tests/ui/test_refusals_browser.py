"""A message that is not sent, in headless Chromium: the page says so where the person is
looking, and the server goes on answering."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from fakes.ui_server import UiServer
from tests.ui.browsing import TIMEOUT_MS, needs_chromium, send, sign_in

pytestmark = needs_chromium

ANSWER = "Here is my answer."


async def test_a_window_on_a_conversation_deleted_elsewhere_says_its_message_was_not_sent(
    server: UiServer, page: Page, browser: Browser
) -> None:
    """The refusal used to be sent under the message it takes out, and the page hid it
    with the message: what was typed vanished without a word. The refused run also
    stopped its memory read half-way, which left the memory store inside a transaction:
    every conversation of the server failed after it."""
    await sign_in(page, server.url, "alice", "secret1")
    await send(page, "hello")
    await expect(page.get_by_text(ANSWER)).to_be_visible()
    await page.wait_for_url("**/thread/*")
    thread_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    # another window of the same person deletes it, as the sidebar does
    deleted = await page.request.delete(
        f"{server.url}/project/thread", data={"threadId": thread_id}
    )
    assert deleted.status == 200, await deleted.text()

    for text in ("are you there?", "hello?"):
        await send(page, text)
        await expect(page.get_by_text(f"Your message was not sent: {text}")).to_be_visible()
    await expect(page.get_by_text(f"No conversation {thread_id} was found for you.")).to_have_count(
        2
    )
    await expect(
        page.locator("[data-step-type=user_message]", has_text="are you there?")
    ).to_have_count(0)

    context = await browser.new_context()
    other = await context.new_page()
    other.set_default_timeout(TIMEOUT_MS)
    try:
        await sign_in(other, server.url, "alice", "secret1")
        await send(other, "what is the capital of France?")
        await expect(other.get_by_text(ANSWER)).to_be_visible()
        await expect(other.get_by_text("Unexpected error")).to_have_count(0)
    finally:
        await context.close()
