"""The finished report: one Markdown document and the file name it is offered under."""

from __future__ import annotations

import re
import unicodedata

from assistant.research.citations import format_sources
from assistant.research.schemas import SectionResult, Source


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
) -> str:
    """``# title``, a note on missing sections, the introduction, the sections, the sources."""
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
    return "\n\n".join(parts) + "\n"
