"""Documents attached in the chat: research sources of that conversation, private to it.

Uploaded the way the page's attach button does it (``POST /project/file``, then the message
with its file references), against the real ``assistant ui`` server.
"""

from __future__ import annotations

import io

from pypdf import PdfReader

from fakes.brain import WORKER_PROMPT
from fakes.files import make_docx, make_pdf
from fakes.openai_server import ScriptedOpenAI
from fakes.search_server import FakeSearch
from tests.ui.conftest import UiServer
from tests.ui.test_chat import chat, get

PDF_TEXT = "Tidal range is the vertical difference between high water and low water on a coast."
DOCX_TEXT = "Neap tides come at the quarter moons, when the pulls of Sun and Moon partly cancel."
NOTES = b"# Notes\n\nSpring tides come at new and full moon, when the Sun and Moon align.\n"


async def test_attached_documents_are_researched_and_cited_by_name(
    server: UiServer, ui_llm: ScriptedOpenAI, ui_search: FakeSearch
) -> None:
    async with chat(server) as client:
        ids = []
        for name, data, mime in [
            ("tides.pdf", make_pdf([PDF_TEXT]), "application/pdf"),
            ("neap.docx", make_docx([DOCX_TEXT]), "application/octet-stream"),
            ("notes.md", NOTES, "text/markdown"),
        ]:
            response = await client.upload(name, data, mime)
            assert response.status_code == 200, response.text
            ids.append(response.json()["id"])
        calls = len(ui_llm.calls)
        await client.send("research tides", files=ids)
        note = await client.message_containing("Added as research sources", within=30)
        assert "- tides.pdf: 1 page" in note
        assert "- neap.docx: " in note and "- notes.md: " in note
        await client.click(await client.next_question(), "approve")
        report = await client.message_containing("## Sources", within=60)
        _, element = await client.wait_for(
            lambda event, data: event == "element" and data["name"] == "a-report.pdf"
        )

    told = ui_llm.calls[calls].request.last_user
    assert "(Attached documents, now sources for research: tides.pdf, neap.docx, notes.md)" in told
    prompts = [
        c.request.last_user
        for c in ui_llm.calls[calls:]
        if c.request.last_user.startswith(WORKER_PROMPT)
    ]
    assert prompts and all(PDF_TEXT in p and DOCX_TEXT in p for p in prompts)
    assert "1. tides.pdf, page 1" in report  # documents come first among the sources

    # The report downloads as a PDF, and only alice's.
    pdf_url = element["url"]
    pdf = await get(server, "alice", pdf_url)
    text = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "tides.pdf, page 1" in text
    assert (await get(server, "bob", pdf_url)).status_code == 404


async def test_an_unreadable_attachment_is_refused_with_the_reason(server: UiServer) -> None:
    async with chat(server) as client:
        bad = await client.upload("broken.pdf", b"%PDF-1.4 broken", "application/pdf")
        good = await client.upload("notes.txt", b"Plain notes about tides.", "text/plain")
        await client.turn("", files=[bad.json()["id"], good.json()["id"]])
        note = await client.message_containing("Not added", within=30)
    assert "- notes.txt: 24 characters" in note
    assert "- broken.pdf " in note
    assert "Accepted: PDF, DOCX, Markdown, text or HTML; up to 10 per conversation, 20 MB" in note


async def test_a_file_type_the_upload_does_not_accept_never_reaches_the_app(
    server: UiServer,
) -> None:
    async with chat(server) as client:
        response = await client.upload("photo.png", b"\x89PNG\r\n\x1a\n", "image/png")
    assert response.status_code == 400
