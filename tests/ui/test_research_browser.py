"""The research experience in headless Chromium, as a person meets it: the plan, its form,
progress where the person is looking, the report, another account's address, sign-in.

With ``UPDATE_SCREENSHOT=1`` each stage is kept under ``docs/screens/`` for the README.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from assistant.ui.conversation import PLACEHOLDERS
from fakes.brain import Brain
from fakes.ui_server import UiServer
from tests.ui.browsing import TIMEOUT_MS, needs_chromium, seen, shot, sign_in
from tests.ui.conftest import running

pytestmark = needs_chromium

VIEWPORT = {"width": 1280, "height": 800}
TOPIC = "Research how ocean tides work"


async def ask_for_research(page: Page, server: UiServer) -> None:
    """Sign in as alice and ask for research; wait for the plan's question."""
    await sign_in(page, server.url, "alice", "secret1")
    await page.fill("#chat-input", TOPIC)
    await page.click("#chat-submit")
    await expect(page.get_by_role("button", name="Approve")).to_be_visible()


def board(page: Page) -> Locator:
    """The live progress message."""
    return page.locator("[data-step-type=system_message]", has_text="Researching:")


async def test_after_approve_progress_and_then_the_report_are_where_the_person_looks(
    server: UiServer, page: Page, ui_brain: Brain, tmp_path: Path
) -> None:
    await ask_for_research(page, server)
    question = page.locator("[data-step-type=system_message]", has_text="Research plan")
    await expect(question.get_by_text("Part 3", exact=True)).to_be_visible()
    chat_box = page.locator("#chat-input")
    await expect(chat_box).to_have_attribute("placeholder", PLACEHOLDERS["question"])
    await expect(page.locator("svg.lucide-thumbs-up")).to_have_count(0)  # not on a question
    await shot(page, tmp_path / "plan.png", "screens/1-plan.png")
    # the plan is shown once: the step above says where it is, in a person's words
    await page.locator("[id='step-Research']").click()
    await expect(page.locator("[id='step-Plan']")).to_have_text("Plan")
    await page.locator("[id='step-Plan']").click()
    brief = page.get_by_text("3 sections, 3 web searches: see the plan below.")
    await expect(brief).to_be_visible()
    await page.locator("[id='step-Research']").click()

    ui_brain.section_delay = {"Part 2": 4.0, "Part 3": 4.0}
    try:
        await page.get_by_role("button", name="Approve").click()
        progress = board(page)
        await expect(progress).to_contain_text("1 of 3 done")
        samples = []
        deadline = time.monotonic() + 15
        report = page.get_by_role("heading", name="A Report", level=1)
        while time.monotonic() < deadline and "3 of 3 done" not in await progress.inner_text():
            in_view = await seen(progress)
            if await report.count():  # the run ended meanwhile: the report has the view now
                break
            samples.append(in_view)
            if len(samples) == 3:
                await shot(page, tmp_path / "progress.png", "screens/3-progress.png")
            await asyncio.sleep(0.4)
    finally:
        ui_brain.section_delay = {}
    assert len(samples) >= 3, "the sections finished before the page could be looked at"
    assert all(samples), f"the progress message left the view while sections ran: {samples}"
    await expect(chat_box).to_have_attribute("placeholder", "Type your message here...")

    title = page.get_by_role("heading", name="A Report", level=1)
    await expect(page.get_by_role("heading", name="Sources")).to_be_visible()
    await expect(page.get_by_text("Done. The report")).to_be_attached()
    await asyncio.sleep(1)  # anything still arriving must not move the report away
    assert await seen(title), "the finished report is not in view"
    await expect(page.locator("svg.lucide-thumbs-up")).to_have_count(0)
    await shot(page, tmp_path / "report.png", "screens/4-report.png")


async def test_editing_the_plan_in_its_form_gives_a_report_with_the_new_title(
    server: UiServer, page: Page, tmp_path: Path
) -> None:
    await ask_for_research(page, server)
    await page.get_by_role("button", name="Edit").click()
    form = page.locator(".args-editor")
    await expect(form).to_be_visible()
    await expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    await page.fill("#args-title", "Ocean tides explained")
    await page.get_by_role("button", name="Remove section 2").click()
    await expect(page.locator("[data-item^='sections.']")).to_have_count(2)
    await page.get_by_role("button", name="Add section").click()
    await page.get_by_role("button", name="Save and run").click()  # the new section is empty
    await expect(form.get_by_text("This cannot be empty.").first).to_be_visible()
    await page.fill("#args-sections-2-name", "Tidal power")
    await page.fill("#args-sections-2-description", "How tides make electricity.")
    await page.fill("#args-sections-2-queries-0", "tidal power stations")
    await page.get_by_role("button", name="Move section 3 up").click()
    await expect(page.locator("#args-sections-1-name")).to_have_value("Tidal power")
    await expect(form.locator(".args-editor-problem")).to_have_count(0)
    await page.set_viewport_size({"width": 1280, "height": 1440})  # the whole form in view
    await page.locator("#args-title").scroll_into_view_if_needed()
    await shot(page, tmp_path / "editor.png", "screens/2-editor.png")
    await page.set_viewport_size(VIEWPORT)

    await page.get_by_role("button", name="Save and run").click()
    report = page.get_by_role("heading", name="Ocean tides explained", level=1)
    await expect(report).to_be_visible()
    await expect(form).to_have_count(0)
    headings = page.locator(".message-content h2")
    await expect(headings.filter(has_text="Tidal power")).to_have_count(1)
    await expect(headings.filter(has_text="Part 2")).to_have_count(0)
    await expect(page.get_by_text("ocean-tides-explained.md")).to_be_visible()
    question = page.locator("[data-step-type=system_message]", has_text="Research plan")
    await expect(question).to_contain_text("Approved with your changes.")
    await expect(question).to_contain_text("Ocean tides explained")


async def test_another_accounts_conversation_is_not_found_with_a_way_back(
    server: UiServer, browser: Browser, page: Page, tmp_path: Path
) -> None:
    await sign_in(page, server.url, "alice", "secret1")
    await page.fill("#chat-input", "hello")
    await page.click("#chat-submit")
    await expect(page.get_by_text("Here is my answer.")).to_be_visible()
    await page.wait_for_url("**/thread/*")
    alices = page.url

    bobs = await browser.new_context(viewport=VIEWPORT)
    try:
        intruder = await bobs.new_page()
        intruder.set_default_timeout(TIMEOUT_MS)
        await sign_in(intruder, server.url, "bob", "secret2")
        answer = await intruder.goto(alices)
        assert answer is not None and answer.status == 404
        await expect(
            intruder.get_by_role("heading", name="This conversation can't be opened")
        ).to_be_visible()
        await expect(intruder.get_by_text("You are signed in as bob.")).to_be_visible()
        await expect(intruder.get_by_text("Here is my answer.")).to_have_count(0)
        await shot(intruder, tmp_path / "not-found.png", "screens/5-not-found.png")

        await intruder.get_by_role("link", name="Start a new chat").click()
        await expect(intruder.locator("#chat-input")).to_be_editable()
        await intruder.fill("#chat-input", "hello")
        await intruder.click("#chat-submit")
        await expect(intruder.get_by_text("Here is my answer.")).to_be_visible()
    finally:
        await bobs.close()


@pytest.fixture(scope="module")
def own_server(
    ui_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiServer]:
    """A server of its own: the failed sign-ins below throttle its accounts."""
    env = {**ui_env, "ASSISTANT_USERS": "alice:secret1"}
    with running(env, tmp_path_factory.mktemp("sign-in")) as started:
        yield started


async def test_a_wrong_password_shows_one_message_and_throttling_reads_well(
    own_server: UiServer, page: Page, tmp_path: Path
) -> None:
    await page.goto(own_server.url)
    await expect(page.get_by_label("User name")).to_be_visible()
    await expect(page.get_by_text("Email address")).to_have_count(0)
    await page.fill("#email", "alice")
    await page.fill("#password", "not her password")
    await page.click("button[type=submit]")
    alert = page.get_by_role("alert")
    await expect(alert).to_have_text("Wrong user name or password.")
    await asyncio.sleep(0.5)  # Chainlit's own pop-up would be up by now
    await expect(page.locator("[data-sonner-toast]:visible")).to_have_count(0)
    await expect(page.get_by_text("credentialssignin")).to_have_count(0)
    await shot(page, tmp_path / "wrong-password.png", "screens/6-sign-in.png")

    for _ in range(5):  # the fifth failure in a row throttles the account
        await page.click("button[type=submit]")
        await asyncio.sleep(0.3)
    await page.fill("#password", "secret1")
    await page.click("button[type=submit]")
    await expect(alert).to_have_text(
        "Too many failed sign-ins: wait a few minutes, then try again."
    )
    await expect(page.locator("[data-sonner-toast]:visible")).to_have_count(0)
