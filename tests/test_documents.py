"""The person's own files: each supported kind, type detection, and hostile files."""

from __future__ import annotations

import io
import struct
import time
import zipfile

import docx
import pytest

from fakes.files import make_pdf
from tools.documents import SUPPORTED, DocumentError, load_document
from tools.extract import html_text

MB = 1024 * 1024
LIMIT = 20 * MB


def make_docx() -> bytes:
    """A DOCX with a heading, two paragraphs and a table (python-docx)."""
    document = docx.Document()
    document.add_heading("Quarterly tide report", level=1)
    document.add_paragraph("Spring tides reached 4.2 metres at the harbour in March.")
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, [("Month", "Range"), ("March", "4.2 m")], strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    document.add_paragraph("Neap tides stayed below 2 metres.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def rezip(data: bytes, extra: dict[str, bytes]) -> bytes:
    """``data`` (a ZIP) with ``extra`` entries added."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            target.writestr(item, source.read(item.filename))
        for name, content in extra.items():
            target.writestr(name, content)
    return out.getvalue()


def load(data: bytes, name: str, mime: str | None = None, **kwargs: int) -> str:
    """The error message for a file that must not load."""
    with pytest.raises(DocumentError) as caught:
        load_document(data, name, mime, max_bytes=kwargs.pop("max_bytes", LIMIT), **kwargs)
    return str(caught.value)


def test_pdf_text_with_page_numbers() -> None:
    data = make_pdf(["First page about tides.", "", "Third page about the Moon."], "Tides")
    doc = load_document(data, "report.pdf", max_bytes=LIMIT)
    assert doc.kind == "pdf"
    assert doc.title == "Tides"
    assert [(s.page, s.text) for s in doc.segments] == [
        (1, "First page about tides."),
        (3, "Third page about the Moon."),
    ]


def test_docx_paragraphs_and_tables_in_order() -> None:
    doc = load_document(make_docx(), "report.docx", max_bytes=LIMIT)
    assert doc.kind == "docx"
    assert [s.page for s in doc.segments] == [None]
    assert doc.text.split("\n") == [
        "Quarterly tide report",
        "Spring tides reached 4.2 metres at the harbour in March.",
        "Month | Range",
        "March | 4.2 m",
        "Neap tides stayed below 2 metres.",
    ]


def test_markdown_is_read_as_text() -> None:
    data = b"# Tides\n\nThe *Moon* pulls the oceans.\n\n- spring\n- neap\n"
    doc = load_document(data, "notes.md", max_bytes=LIMIT)
    assert doc.kind == "markdown"
    assert doc.text == "# Tides\n\nThe *Moon* pulls the oceans.\n\n- spring\n- neap"


def test_plain_text_in_a_legacy_charset_is_decoded() -> None:
    data = "Les marées du Mont-Saint-Michel sont très fortes.\r\n".encode("cp1252")
    doc = load_document(data, "notes.txt", max_bytes=LIMIT)
    assert doc.kind == "text"
    assert doc.text == "Les marées du Mont-Saint-Michel sont très fortes."


def test_html_main_text_without_boilerplate() -> None:
    html = (
        b"<html><head><title>Tides</title></head><body><nav><a href='/'>Home</a>"
        b"<a href='/shop'>Shop our store</a></nav><article><h1>Tides</h1><p>The Moon raises two "
        b"bulges in the oceans, so most coasts see two high tides a day.</p><p>Spring tides come "
        b"at new and full moon, when the Sun and the Moon pull together.</p></article>"
        b"<footer>Copyright 2026 Example Corp</footer></body></html>"
    )
    doc = load_document(html, "saved.html", max_bytes=LIMIT)
    assert doc.kind == "html"
    assert "two high tides a day" in doc.text
    assert "Shop our store" not in doc.text
    assert "Copyright" not in doc.text


def test_a_pages_title_is_its_open_graph_title_else_its_title_element() -> None:
    body = (
        "<body><article><h1>Tides</h1><p>The Moon raises two bulges in the oceans, so most "
        "coasts see two high tides a day.</p></article></body></html>"
    )
    shared = "<html><head><title>Tides | Example News — Science</title>"
    og = '<meta property="og:title" content="  Tides, explained ">'
    title, text = html_text(shared + og + "</head>" + body)
    assert title == "Tides, explained" and "two high tides a day" in text
    title, _ = html_text(shared + "</head>" + body)
    assert title.startswith("Tides")


def test_the_bytes_decide_over_the_name() -> None:
    html = b"<!doctype html><html><body><article><p>Really a web page about tides.</p></article>"
    assert load_document(html, "paper.pdf", max_bytes=LIMIT).kind == "html"
    pdf = make_pdf(["Really a PDF."])
    assert load_document(pdf, "download.bin", "text/plain", max_bytes=LIMIT).kind == "pdf"


def test_the_mime_type_is_the_last_hint() -> None:
    doc = load_document(b"Tides twice a day.", "upload", "text/markdown", max_bytes=LIMIT)
    assert doc.kind == "markdown"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "report.xls"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "photo.png"),
        (b"a,b\n1,2\n", "table.csv"),
    ],
)
def test_unsupported_types_name_the_supported_ones(data: bytes, name: str) -> None:
    assert load(data, name) == (
        f"{name}: unsupported file type; use PDF, DOCX, Markdown, text or HTML"
    )


def test_a_zip_that_is_not_a_docx_is_unsupported() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    assert load(out.getvalue(), "sheet.xlsx").startswith("sheet.xlsx: unsupported file type")


def test_supported_lists_extensions_and_mime_types() -> None:
    assert ".docx" in SUPPORTED["docx"][0]
    assert "application/pdf" in SUPPORTED["pdf"][1]
    assert set(SUPPORTED) == {"pdf", "docx", "markdown", "text", "html"}


def test_a_corrupt_pdf_is_an_error_not_a_crash() -> None:
    good = make_pdf(["Some text."])
    for broken in (good[: len(good) // 2], b"%PDF-1.7\n" + bytes(range(256)) * 20):
        message = load(broken, "broken.pdf")
        assert message.startswith("broken.pdf ")
        assert "damaged" in message or "no extractable text" in message


def test_a_pdf_without_text_says_so() -> None:
    assert load(make_pdf(["", ""]), "scan.pdf") == (
        "scan.pdf has no extractable text (scanned images?)"
    )


def test_a_pdf_with_too_many_pages_is_refused() -> None:
    message = load(make_pdf(["page"] * 6), "book.pdf", max_pages=5)
    assert message == "book.pdf has 6 pages; the limit is 5"


def test_a_docx_zip_bomb_is_refused_before_unpacking() -> None:
    bomb = rezip(make_docx(), {"word/media/bomb.bin": bytes(50 * MB)})  # compresses 1000:1
    assert len(bomb) < MB
    start = time.monotonic()
    message = load(bomb, "bomb.docx", max_unzipped=10 * MB)
    assert message.startswith("bomb.docx unpacks to 50.")
    assert message.endswith(" MB, over the 10 MB limit (a zip bomb?)")
    assert time.monotonic() - start < 1


def test_a_docx_entry_lying_about_its_size_cannot_unpack_more() -> None:
    data = bytearray(make_docx())
    name = b"word/document.xml"
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = data.find(signature)  # the entry's local header, then its central directory record
        while data[at + name_at : at + name_at + len(name)] != name:
            at = data.find(signature, at + 1)
        struct.pack_into("<I", data, at + size_at, 100)  # claims 100 bytes unpacked
    message = load(bytes(data), "liar.docx")
    assert message == "liar.docx is damaged or unreadable (BadZipFile)"


def test_a_truncated_docx_is_an_error() -> None:
    data = make_docx()
    assert load(data[: len(data) // 2], "half.docx") == (
        "half.docx is damaged or not really a DOCX file"
    )


def test_an_oversized_file_is_refused_before_parsing() -> None:
    assert load(b"x" * (3 * MB), "big.txt", max_bytes=2 * MB) == (
        "big.txt is too large: 3 MB, limit 2 MB"
    )


def test_an_empty_file_is_an_error() -> None:
    assert load(b"  \n", "empty.txt") == "empty.txt is empty"


def test_a_path_in_the_name_is_reduced_to_the_file_name() -> None:
    doc = load_document(b"tides", "C:\\Users\\me\\notes.txt", max_bytes=LIMIT)
    assert doc.name == "notes.txt"
