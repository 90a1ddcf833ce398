"""Citation checking: every ``[n]`` must resolve to a source the search really returned.

Workers cite their own numbered sources; ``merge_sections`` renumbers them globally in
order of first citation. Citations to numbers that were never given and URLs that no search
returned are removed and reported, never shown as sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from assistant.research.schemas import SectionResult, Source, source_key
from assistant.text import escape, link_target

CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_MD_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_URL = re.compile(r"<?https?://[^\s<>()\[\]\"']+>?")


def numbers(match: re.Match[str]) -> list[int]:
    return [int(part) for part in re.split(r"\s*[,;]\s*", match.group(1))]


def clean_citations(text: str, sources: Sequence[Source]) -> tuple[str, list[str]]:
    """Remove citations and URLs in ``text`` that ``sources`` do not back.

    Returns the cleaned text and a description of each removal.
    """
    removed: list[str] = []
    allowed = {source["url"].rstrip("/") for source in sources if source["url"]}

    def link(match: re.Match[str]) -> str:
        if match.group(2).rstrip("/") in allowed:
            return match.group(0)
        removed.append(f"link to unretrieved URL {match.group(2)}")
        return match.group(1)

    def url(match: re.Match[str]) -> str:
        raw = match.group(0)
        found = raw.strip("<>").rstrip(".,;:")
        if found.rstrip("/") in allowed:
            return raw
        removed.append(f"unretrieved URL {found}")
        return raw.strip("<>")[len(found) :]  # keep the sentence's own punctuation

    def citation(match: re.Match[str]) -> str:
        kept = []
        for number in numbers(match):
            if 1 <= number <= len(sources):
                kept.append(number)
            else:
                removed.append(f"citation [{number}] with no such source")
        return "".join(f"[{n}]" for n in kept)

    text = _MD_LINK.sub(link, text)
    text = _URL.sub(url, _protect_links(text))
    text = _unprotect_links(text)
    text = CITATION.sub(citation, text)
    return _tidy(text), removed


_LINK_MARK = "\x00"


def _protect_links(text: str) -> str:
    # Kept Markdown links must not be seen again as bare URLs.
    return _MD_LINK.sub(lambda m: f"[{m.group(1)}]({_LINK_MARK}{m.group(2)})", text)


def _unprotect_links(text: str) -> str:
    return text.replace(f"({_LINK_MARK}", "(")


def _tidy(text: str) -> str:
    text = re.sub(r"\(\s*\)", "", text)
    text = re.sub(r"[ \t]+([.,;:])", r"\1", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    return text.strip()


def merge_sections(sections: Iterable[SectionResult]) -> tuple[list[str], list[Source]]:
    """Renumber citations across sections in order of first citation.

    Returns each section's text with global numbers, and the global source list in that
    order (each cited source once, keyed by URL).
    """
    order: dict[str, int] = {}
    sources: list[Source] = []
    texts: list[str] = []
    for section in sections:
        local = section["sources"]

        def renumber(match: re.Match[str], local: Sequence[Source] = local) -> str:
            out = []
            for number in numbers(match):
                if not 1 <= number <= len(local):
                    continue
                source = local[number - 1]
                key = source_key(source)
                if key not in order:
                    order[key] = len(sources) + 1
                    sources.append(source)
                if f"[{order[key]}]" not in out:
                    out.append(f"[{order[key]}]")
            return "".join(out)

        texts.append(CITATION.sub(renumber, section["text"]) if section["status"] == "ok" else "")
    return texts, sources


def format_sources(sources: Sequence[Source]) -> str:
    """The ``## Sources`` section: ``[n] Title — URL`` per web page and ``[n] file name,
    page p`` per page of a document, one per line."""
    lines = [
        f"[{n}] {escape(source['title'] or source['url'])} — {link_target(source['url'])}"
        if source["url"]
        else f"[{n}] {escape(source['title'])}"
        for n, source in enumerate(sources, 1)
    ]
    return "## Sources\n\n" + ("\n\n".join(lines) if lines else "No sources were cited.")
