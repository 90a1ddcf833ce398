"""A finished report as Markdown, HTML, PDF or Word.

    from tools.export import export_report, format_for
    data = await asyncio.to_thread(export_report, markdown, format_for(path), title=title)

Conversion is CPU-bound and synchronous (a 20-page report: about 1.5 s for PDF, 0.3 s for
DOCX, 25 ms for HTML; see ``docs/export.md``): async callers run it in a worker thread, as
above, never on the event loop.

The Markdown comes from a model and from web pages, so it is treated as hostile: raw HTML
is shown as text, only ``http``/``https``/``mailto`` links stay links, images become their
alt text, and the HTML and PDF load nothing from anywhere (``document.py``, ``to_pdf.py``).

Parts: ``document`` parses Markdown into a safe tree; ``to_html``, ``to_pdf`` (WeasyPrint,
from that HTML) and ``to_docx`` (python-docx) render it. ``tools`` is a leaf package:
nothing here imports ``assistant``.
"""

from __future__ import annotations

from os import PathLike
from pathlib import PurePath

FORMATS: tuple[str, ...] = (".md", ".html", ".pdf", ".docx")
"""The file suffixes a report can be exported to."""

MAX_MARKDOWN_CHARS = 2_000_000
"""A report longer than this (about 600 pages) is refused rather than typeset for minutes."""


class ExportError(ValueError):
    """The report cannot be exported as asked; the message says why in one line."""


def format_for(path: str | PathLike[str]) -> str:
    """The export format of ``path``, by its suffix: one of :data:`FORMATS`.

    Raises ``ExportError`` ("report.txt: unsupported format; use .md, .html, .pdf or
    .docx") for anything else.
    """
    name = PurePath(path).name or str(path)
    suffix = PurePath(name).suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"{name}: unsupported format; use {_choices()}")
    return suffix


def export_report(markdown: str, fmt: str, *, title: str) -> bytes:
    """The report ``markdown`` as a file of format ``fmt`` (``".pdf"`` or ``"pdf"``, ...).

    ``title`` becomes the document's title (HTML ``<title>``, PDF and DOCX metadata) and
    its first heading when the Markdown does not start with one. Blocking and CPU-bound:
    from async code, call it through ``asyncio.to_thread``.
    """
    suffix = "." + fmt.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ExportError(f"{fmt}: unsupported format; use {_choices()}")
    if len(markdown) > MAX_MARKDOWN_CHARS:
        raise ExportError(
            f"The report is too long to export ({len(markdown):,} characters; "
            f"the limit is {MAX_MARKDOWN_CHARS:,})."
        )
    if suffix == ".md":
        return _markdown_file(markdown, title).encode("utf-8")

    from tools.export import document, to_html

    blocks = document.parse(markdown, title=title)
    if suffix == ".docx":
        from tools.export import to_docx

        return to_docx.render(blocks, title=title)
    page = to_html.render(blocks, title=title)
    if suffix == ".html":
        return page.encode("utf-8")
    from tools.export import to_pdf

    try:
        return to_pdf.render(page)
    except OSError as exc:  # Pango missing: WeasyPrint cannot load its libraries
        raise ExportError(
            "PDF export needs Pango: apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
            f"libharfbuzz-subset0 fonts-dejavu-core ({exc})"
        ) from exc


def _markdown_file(markdown: str, title: str) -> str:
    """The Markdown as written, with Unix newlines and the title as H1 if it has none."""
    text = markdown.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if title.strip() and not text.lstrip().startswith("# "):
        text = f"# {' '.join(title.split())}\n\n{text}"
    return text + "\n"


def _choices() -> str:
    return ", ".join(FORMATS[:-1]) + " or " + FORMATS[-1]
