"""Text out of bytes: the extraction shared by web pages (``fetch``) and documents (``documents``).

HTML goes through trafilatura (main text only: navigation, headers, footers and cookie banners
are dropped), PDFs through pypdf (one ``Segment`` per page, with its number), plain text through
a charset-aware decoder. Every function here is synchronous and CPU-bound: async callers run it
in a worker thread. Failures raise ``ExtractError`` whose message is a short phrase the caller
puts after a subject ("the page: ...", "report.pdf: ...").
"""

from __future__ import annotations

import codecs
import io
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PDF_MAGIC = b"%PDF-"


@dataclass(frozen=True)
class Segment:
    """A stretch of extracted text; ``page`` is its 1-based PDF page number, else None."""

    page: int | None
    text: str


class ExtractError(Exception):
    """The bytes held no usable text; ``str()`` is a short phrase without a subject."""


def is_pdf(data: bytes) -> bool:
    """True if ``data`` starts like a PDF (readers accept the header within the first KB)."""
    return PDF_MAGIC in data[:1024]


def looks_like_html(data: bytes) -> bool:
    """A cheap sniff: does the start of ``data`` open an HTML document?"""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or (
        head.startswith((b"<!--", b"<?xml")) and b"<html" in data[:2048].lower()
    )


def _charset(name: str | None) -> str | None:
    """The codec's canonical name, or None if Python does not know it."""
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def _guess_charset(data: bytes) -> str | None:
    """UTF-8 if it decodes as such, else charset_normalizer's best guess. Among equally good
    guesses windows-1252 wins: short samples rarely tell single-byte code pages apart, and it is
    the most common undeclared legacy encoding (browsers fall back to it too)."""
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    sample = data if len(data) <= 20_000 else data[:10_000] + data[-10_000:]
    results = from_bytes(sample)
    best = results.best()
    if best is None:
        return None
    tied = (m for m in results if m.percent_chaos <= best.percent_chaos)
    if any("cp1252" in m.could_be_from_charset for m in tied):
        return "cp1252"
    return str(best.encoding)


def decode_text(data: bytes, charset: str | None = None) -> str:
    """Decode plain text: byte-order mark, then the declared charset, then UTF-8, then a guess."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(codec, errors="replace")
    codec = _charset(charset) or _guess_charset(data) or "utf-8"
    return data.decode(codec, errors="replace")


def looks_binary(data: bytes) -> bool:
    """NUL bytes near the start (and no UTF-16/32 byte-order mark): not a text file."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    return b"\x00" in data[:8192]


def decode_html(data: bytes, content_type: str | None = None) -> str:
    """Decode HTML as browsers do: BOM, then the HTTP charset, then ``<meta charset>``, then a
    guess (w3lib implements the precedence; charset_normalizer guesses undeclared encodings)."""
    from w3lib.encoding import html_to_unicode

    _, text = html_to_unicode(content_type, data, auto_detect_fun=_guess_charset)
    return text


def tidy(text: str) -> str:
    """Normalise line ends, strip trailing spaces and collapse runs of blank lines."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def html_text(html: str, url: str | None = None) -> tuple[str, str]:
    """``(title, main text)`` of an HTML document; raise ``ExtractError`` if it has none.

    The title is read on its own: trafilatura's metadata (``with_metadata``) also hunts for
    the page's date (htmldate), which took more than half of each page's extraction.
    """
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        raise ExtractError("no readable text")
    title = _title(tree)
    options = {"include_comments": False, "include_tables": True}
    doc = trafilatura.bare_extraction(tree, url=url, **options)  # type: ignore[arg-type]
    text = tidy(getattr(doc, "text", None) or "")
    if not text:  # short pages: trafilatura's precision-first defaults may drop everything
        doc = trafilatura.bare_extraction(html, url=url, favor_recall=True, **options)  # type: ignore[arg-type]
        text = tidy(getattr(doc, "text", None) or "")
    if not text:
        raise ExtractError("no readable text")
    return title, text


_TITLE_META = (
    '//meta[@property="og:title"]/@content',
    '//meta[@name="twitter:title"]/@content',
)


def _title(tree: Any) -> str:
    """The page's own title for it (Open Graph, then Twitter's card), else trafilatura's pick
    among ``<title>`` and the first headings."""
    from trafilatura.metadata import extract_title

    for xpath in _TITLE_META:
        for value in tree.xpath(xpath):
            if title := " ".join(str(value).split()):
                return title
    return " ".join(str(extract_title(tree) or "").split())


def cap_segments(segments: Iterable[Segment], max_chars: int) -> tuple[Segment, ...]:
    """Keep at most ``max_chars`` characters of text in all, cutting only between words."""
    out: list[Segment] = []
    left = max_chars
    for seg in segments:
        if left <= 0:
            break
        text = seg.text
        if len(text) > left:
            cut = text.rfind(" ", 0, left + 1)
            text = text[: cut if cut > 0 else left].rstrip()
        if text:
            out.append(Segment(seg.page, text))
        left -= len(text)
    return tuple(out)


def pdf_text(
    data: bytes,
    *,
    max_pages: int | None = None,
    max_chars: int | None = None,
    timeout: float | None = None,
) -> tuple[str, tuple[Segment, ...]]:
    """``(title, one Segment per page with text)`` of a PDF.

    More than ``max_pages`` pages raises; text beyond ``max_chars`` is not read (the remaining
    pages are skipped); reading longer than ``timeout`` seconds raises. A damaged, encrypted or
    hostile file raises ``ExtractError``: pypdf bounds decompression itself, this bounds pages
    and time, and any exception pypdf lets escape on malformed input is turned into the error.
    """
    import pypdf

    deadline = None if timeout is None else time.monotonic() + timeout
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed files warn loudly otherwise
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # many "protected" PDFs open with the empty password
            except Exception:  # e.g. AES without the optional cryptography package
                opened = None
            if not opened:
                raise ExtractError("is password-protected")
        count = len(reader.pages)
        if max_pages is not None and count > max_pages:
            raise ExtractError(f"has {count} pages; the limit is {max_pages}")
        segments: list[Segment] = []
        chars = 0
        for number, page in enumerate(reader.pages, 1):
            if deadline is not None and time.monotonic() > deadline:
                raise ExtractError(f"took longer than {timeout:g} s to read")
            text = tidy(page.extract_text() or "")
            if text:
                segments.append(Segment(number, text))
                chars += len(text)
            if max_chars is not None and chars >= max_chars:
                break
        title = ""
        meta = reader.metadata
        if meta is not None and meta.title:
            title = " ".join(str(meta.title).split())
    except ExtractError:
        raise
    except Exception as exc:  # hostile input: pypdf may raise almost anything
        raise ExtractError(f"is damaged or not a readable PDF ({type(exc).__name__})") from None
    if not segments:
        raise ExtractError("has no extractable text (scanned images?)")
    if max_chars is not None:
        return title, cap_segments(segments, max_chars)
    return title, tuple(segments)
