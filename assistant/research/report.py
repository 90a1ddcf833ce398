"""The finished report: one Markdown document and the file name it is offered under."""

from __future__ import annotations

import re
import unicodedata

from assistant.research.citations import format_sources
from assistant.research.schemas import SectionResult, Source
from assistant.text import escape

REPORT = "report"
"""The role of a report's Markdown file among the conversation's files."""
EXPORT = "export"
"""The role of a report converted to another format."""
EXPORT_TYPES = {
    ".md": "text/markdown",
    ".html": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}


def export_key(report_key: str, fmt: str) -> str:
    """The file key of report ``report_key`` in format ``fmt`` (".pdf"): ``Engine.file``
    makes it on first request."""
    fmt = "." + fmt.lower().lstrip(".")
    return report_key if fmt == ".md" else report_key + fmt


def one_line(text: str) -> str:
    """A heading's text: one line, no Markdown heading marks."""
    return " ".join(text.replace("#", "").split())


def slug(title: str, limit: int = 60) -> str:
    """``"Ocean tides, explained!"`` -> ``"ocean-tides-explained"`` (ASCII, for file names)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:limit].strip("-")
    return text or "report"


def assemble(
    title: str,
    introduction: str,
    sections: list[SectionResult],
    texts: list[str],
    sources: list[Source],
    verdict: str = "",
) -> str:
    """``# title``, a note on missing sections, the introduction, the sections, the sources,
    and the verifier's ``verdict`` ("Checked 24 cited claims: 22 supported, 2 removed.")."""
    parts = [f"# {one_line(title)}"]
    missing = [s for s in sections if s["status"] == "failed"]
    if missing:
        parts.append(
            f"> **Note:** {len(missing)} of {len(sections)} sections could not be written; "
            "each says why below."
        )
    if introduction:
        parts.append(introduction)
    for section, text in zip(sections, texts, strict=True):
        parts.append(f"## {one_line(section['name'])}")
        parts.append(
            text
            if section["status"] == "ok"
            else f"> **This section is missing:** {section['error']}"
        )
    parts.append(format_sources(sources))
    if verdict:
        parts.append(f"*{escape(verdict)}*")
    return "\n\n".join(parts) + "\n"
