"""Documents, downloads, memory and MCP tools in headless Chromium, as a person uses them.

With ``UPDATE_SCREENSHOT=1`` each stage is kept under ``docs/screens/`` for the README.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from fakes.files import make_docx, make_pdf
from fakes.ui_server import ROOT, UiServer
from tests.ui.browsing import needs_chromium, send, shot, sign_in
from tests.ui.conftest import USERS, running

pytestmark = needs_chromium

VIEWPORT = {"width": 1280, "height": 900}
FAKE_MCP = [sys.executable, str(ROOT / "fakes" / "mcp_stdio_server.py")]


@pytest.fixture(scope="module")
def features_server(
    ui_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiServer]:
    """The UI with an MCP server configured, on a fresh data directory."""
    base = tmp_path_factory.mktemp("ui-features")
    config = base / "mcp.json"
    config.write_text(
        json.dumps({"mcpServers": {"notes": {"command": FAKE_MCP[0], "args": [FAKE_MCP[1]]}}})
    )
    env = {**ui_env, "ASSISTANT_USERS": USERS, "ASSISTANT_MCP_CONFIG": str(config)}
    with running(env, base) as server:
        yield server


async def test_documents_attached_in_the_chat_are_cited_and_the_report_downloads(
    features_server: UiServer, page: Page, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    (files / "tides.pdf").write_bytes(
        make_pdf(["Tidal range is the height between high water and low water on a coast."])
    )
    (files / "neap.docx").write_bytes(make_docx(["Neap tides come at the quarter moons."]))
    await sign_in(page, features_server.url, "alice", "secret1")
    # The upload goes to the window's session: wait until the socket has opened it (the
    # commands the server offers appear in the composer then).
    await expect(page.get_by_role("button", name="Tools")).to_be_visible()
    await page.set_input_files("#upload-button-input", [files / "tides.pdf", files / "neap.docx"])
    await expect(page.get_by_text("tides.pdf")).to_be_visible()
    await send(page, "Research ocean tides using my documents")
    await expect(page.get_by_text("Added as research sources:")).to_be_visible()
    await expect(page.get_by_text("tides.pdf: 1 page")).to_be_visible()
    await shot(page, tmp_path / "documents.png", "screens/7-documents.png")

    await page.get_by_role("button", name="Approve").click()
    await expect(page.get_by_role("heading", name="Sources")).to_be_visible()
    await expect(page.get_by_text("tides.pdf, page 1").last).to_be_visible()
    await expect(page.get_by_text("Checked ", exact=False).last).to_be_visible()
    for name in ("a-report.md", "a-report.pdf", "a-report.docx"):
        await expect(page.get_by_text(name).last).to_be_visible()
    await shot(page, tmp_path / "report.png", "screens/8-report-documents.png")

    async with page.expect_download() as waiting:
        await page.get_by_text("a-report.pdf").last.click()
    download = await waiting.value
    saved = tmp_path / "downloaded.pdf"
    await download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")
    assert download.suggested_filename == "a-report.pdf"


async def test_a_memory_is_kept_undoable_listed_and_carried_to_a_new_chat(
    features_server: UiServer, page: Page, tmp_path: Path
) -> None:
    await sign_in(page, features_server.url, "bob", "secret2")
    await send(page, "remember that I prefer reports in French, at most two pages")
    note = page.get_by_text("Remembered: I prefer reports in French, at most two pages")
    await expect(note).to_be_visible()
    await expect(page.get_by_role("button", name="Undo")).to_be_visible()
    await shot(page, tmp_path / "memory.png", "screens/9-memory.png")

    await page.goto(features_server.url)  # a new conversation
    await page.wait_for_selector("#chat-input")
    await send(page, "/memory")
    await expect(page.get_by_text("What I remember about you")).to_be_visible()
    listed = page.get_by_text("I prefer reports in French, at most two pages", exact=True)
    await expect(listed).to_be_visible()
    await expect(page.get_by_role("button", name="Forget 1")).to_be_visible()
    await shot(page, tmp_path / "memory-list.png", "screens/10-memory-list.png")
    await page.get_by_role("button", name="Forget all").click()
    await expect(page.get_by_text("Forgot 1 memory.")).to_be_visible()


async def test_an_mcp_tool_asks_for_approval_in_the_page_then_runs(
    features_server: UiServer, page: Page, tmp_path: Path
) -> None:
    await sign_in(page, features_server.url, "alice", "secret1")
    await send(page, 'use notes__echo {"text": "high tide at 14:05"}')
    question = page.locator("[data-step-type=system_message]", has_text="Run echo (notes)?")
    await expect(question).to_be_visible()
    await expect(question.get_by_text("MCP server")).to_be_visible()
    await shot(page, tmp_path / "mcp.png", "screens/11-mcp-approval.png")
    await page.get_by_role("button", name="Approve").click()
    await expect(page.get_by_text("Done. fake: high tide at 14:05")).to_be_visible()
    await send(page, "/tools")
    await expect(page.get_by_text("Built-in tools:")).to_be_visible()
    await shot(page, tmp_path / "tools.png", "screens/12-tools.png")
