"""The person's own files as sources: PDF, DOCX, Markdown, plain text and HTML.

``load_document`` turns an uploaded file's bytes into a ``Document`` (segments of text, with page
numbers for PDFs) or raises ``DocumentError`` with one line naming the file and the cause. The type
comes from the bytes first (a ``.pdf`` that is really HTML is read as HTML), the file name's
extension second, the declared MIME type last. Every file is treated as hostile: the size is
checked before anything is parsed, a DOCX's declared uncompressed size and entry count are bounded
before it is unzipped (zip bombs), PDFs are bounded in pages and reading time, and any parser
failure becomes a ``DocumentError``. Synchronous and CPU-bound: async callers use a worker thread.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import PurePath
from typing import Literal

from tools.extract import (
    ExtractError,
    Segment,
    decode_html,
    decode_text,
    html_text,
    is_pdf,
    looks_binary,
    looks_like_html,
    pdf_text,
    tidy,
)
from tools.text import size_text

__all__ = ["SUPPORTED", "Document", "DocumentError", "Segment", "detect_kind", "load_document"]

Kind = Literal["pdf", "docx", "markdown", "text", "html"]

SUPPORTED: dict[Kind, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pdf": ((".pdf",), ("application/pdf", "application/x-pdf")),
    "docx": (
        (".docx",),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",),
    ),
    "markdown": ((".md", ".markdown"), ("text/markdown", "text/x-markdown")),
    "text": ((".txt", ".text"), ("text/plain",)),
    "html": ((".html", ".htm", ".xhtml"), ("text/html", "application/xhtml+xml")),
}
"""Kind -> (file extensions, MIME types) that ``load_document`` reads."""

_HINT = "use PDF, DOCX, Markdown, text or HTML"
_ZIP_MAGIC = b"PK\x03\x04"
_DOCX_MAIN = "word/document.xml"
# Formats that are plainly something else, so their bytes are not mistaken for text.
_BINARY_MAGIC = (
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"\xd0\xcf\x11\xe0",  # OLE2: .doc, .xls, .ppt
    b"\x1f\x8b",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\x7fELF",
)


@dataclass(frozen=True)
class Document:
    """A file's text: PDF segments carry page numbers; other kinds have one page-less segment."""

    name: str
    kind: Kind
    segments: tuple[Segment, ...]
    title: str = ""

    @property
    def text(self) -> str:
        """All the text; PDF pages separated by a blank line."""
        return "\n\n".join(seg.text for seg in self.segments)


class DocumentError(Exception):
    """A file could not be read; ``str()`` is one line naming the file and the cause."""


def _by_name(name: str, mime: str | None) -> Kind | None:
    """The kind the extension names, else the one the MIME type names."""
    suffix = PurePath(name).suffix.lower()
    base = (mime or "").split(";")[0].strip().lower()
    for kind, (suffixes, _) in SUPPORTED.items():
        if suffix in suffixes:
            return kind
    for kind, (_, mimes) in SUPPORTED.items():
        if base in mimes:
            return kind
    return None


def detect_kind(data: bytes, name: str, mime: str | None = None) -> Kind:
    """The kind of a file: by its bytes first, its name second, its MIME type last."""
    if is_pdf(data):
        return "pdf"
    claimed = _by_name(name, mime)
    if data.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if _DOCX_MAIN in archive.namelist():
                    return "docx"
        except (zipfile.BadZipFile, OSError, ValueError):
            pass
        if claimed == "docx":
            raise DocumentError(f"{name} is damaged or not really a DOCX file")
        raise DocumentError(f"{name}: unsupported file type (a ZIP archive); {_HINT}")
    if looks_like_html(data):
        return "html"
    if claimed in ("pdf", "docx"):  # their bytes would have said so above
        raise DocumentError(f"{name} is damaged or not really a {claimed.upper()} file")
    if claimed is None or data.startswith(_BINARY_MAGIC) or looks_binary(data):
        raise DocumentError(f"{name}: unsupported file type; {_HINT}")
    return claimed


def _check_zip(data: bytes, name: str, max_unzipped: int, max_entries: int = 2000) -> None:
    """Refuse a DOCX whose entries would unpack to more than ``max_unzipped`` bytes.

    The declared sizes are a safe bound: Python's zipfile stops reading an entry at its declared
    size (and fails its CRC check if the data goes on), so a lying header cannot unpack more.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise DocumentError(f"{name} is damaged or not really a DOCX file") from None
    if len(entries) > max_entries:
        raise DocumentError(f"{name} has too many parts ({len(entries)}) for a DOCX file")
    total = sum(entry.file_size for entry in entries)
    if total > max_unzipped:
        raise DocumentError(
            f"{name} unpacks to {size_text(total)}, "
            f"over the {size_text(max_unzipped)} limit (a zip bomb?)"
        )


def _docx_text(data: bytes, name: str) -> str:
    """Paragraphs and table rows of a DOCX body, in document order."""
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    cells = dict.fromkeys(c.text.strip() for c in row.cells)  # merged cells repeat
                    lines.append(" | ".join(c for c in cells if c))
            else:
                lines.append(block.text)
    except Exception as exc:  # hostile input: python-docx and lxml may raise almost anything
        raise DocumentError(f"{name} is damaged or unreadable ({type(exc).__name__})") from None
    return tidy("\n".join(lines))


def load_document(
    data: bytes,
    name: str,
    mime: str | None = None,
    *,
    max_bytes: int,
    max_pages: int = 500,
    max_unzipped: int = 100 * 1024 * 1024,
    timeout: float = 30.0,
) -> Document:
    """Read an uploaded file; raise ``DocumentError`` if it cannot be read.

    Args:
        data: the file's bytes.
        name: its file name (shown in messages; its extension is a type hint).
        mime: the MIME type the browser declared, if any (the weakest hint).
        max_bytes: largest file accepted.
        max_pages: most PDF pages accepted.
        max_unzipped: most bytes a DOCX may unpack to.
        timeout: seconds a PDF may take to read (checked between pages).
    """
    name = PurePath(name.replace("\\", "/")).name or "file"
    if len(data) > max_bytes:
        raise DocumentError(
            f"{name} is too large: {size_text(len(data))}, limit {size_text(max_bytes)}"
        )
    if not data.strip():
        raise DocumentError(f"{name} is empty")
    kind = detect_kind(data, name, mime)
    title = ""
    try:
        if kind == "pdf":
            title, segments = pdf_text(data, max_pages=max_pages, timeout=timeout)
            return Document(name, kind, segments, title)
        if kind == "docx":
            _check_zip(data, name, max_unzipped)
            text = _docx_text(data, name)
        elif kind == "html":
            title, text = html_text(decode_html(data))
        else:
            text = tidy(decode_text(data))
    except ExtractError as exc:
        raise DocumentError(f"{name} {exc}") from None
    if not text:
        raise DocumentError(f"{name} has no readable text")
    return Document(name, kind, (Segment(None, text),), title)
