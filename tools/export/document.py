"""A report's Markdown parsed into a small, safe document tree that every format renders.

Parsing is CommonMark (markdown-it-py) with raw HTML off: ``<script>`` or ``<img>`` in the
text stay text. Everything hostile is settled here, once, before any renderer runs:

- links keep their target only for ``http``, ``https`` and ``mailto``; any other
  (``javascript:``, ``data:``, relative paths) becomes plain text;
- images become their alt text: nothing is ever loaded;
- bare ``http(s)`` URLs in the text become links (the Sources list writes them bare);
- a citation ``[n]`` becomes an internal link to entry ``[n]`` of the ``## Sources``
  section when that entry exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
SOURCES_HEADINGS = frozenset({"sources", "references"})

_CITATION = re.compile(r"\[(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\](?!\()")
_SOURCE_ENTRY = re.compile(r"\s*\[(\d{1,4})\](?=\s)")
_BARE_URL = re.compile(r"https?://[^\s<>\"'\[\]{}|\\^`]+")
_URL_TRAILING = ".,;:!?)'\""


@dataclass(frozen=True)
class Span:
    """A run of text with one style. ``href`` links out; ``anchor`` links inside."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    strike: bool = False
    href: str | None = None
    anchor: str | None = None
    is_break: bool = False
    """A hard line break (``text`` is a newline)."""
    is_soft_break: bool = False
    """A source line break, shown as a space (``text`` is a space)."""


BlockKind = Literal["heading", "paragraph", "bullets", "numbers", "quote", "code", "rule", "table"]


@dataclass
class Block:
    """One block: ``spans`` for text blocks, ``items`` for lists and quotes, ``rows`` for tables.

    A list has one entry in ``items`` per list item (each a list of blocks); a quote has
    exactly one. ``anchor`` names the block as a link target (``source-3``).
    """

    kind: BlockKind
    spans: list[Span] = field(default_factory=list)
    level: int = 0
    start: int = 1
    items: list[list[Block]] = field(default_factory=list)
    rows: list[list[list[Span]]] = field(default_factory=list)
    anchor: str | None = None


def source_anchor(number: int) -> str:
    """The link target of Sources entry ``[number]``."""
    return f"source-{number}"


def safe_href(href: str) -> str | None:
    """``href`` if it may be a link target in an exported file, else None."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in href):
        return None
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in SAFE_SCHEMES:
        return None
    if scheme != "mailto" and not parts.netloc:
        return None
    return href


def plain_text(spans: list[Span]) -> str:
    """The text of ``spans``, breaks as newlines."""
    return "".join("\n" if span.is_break else span.text for span in spans)


def parse(markdown: str, *, title: str) -> list[Block]:
    """Parse ``markdown`` into blocks; the report gets ``title`` as H1 if it has none."""
    parser = _Parser("commonmark", {"html": False}).enable(["table", "strikethrough"])
    blocks = _Builder(parser.parse(markdown)).blocks()
    if title.strip() and not (blocks and blocks[0].kind == "heading" and blocks[0].level == 1):
        blocks.insert(0, Block("heading", [Span(" ".join(title.split()))], level=1))
    entries = _mark_sources(blocks)
    _walk_spans(blocks, lambda spans, is_entry: _finish_spans(spans, entries, is_entry))
    return blocks


class _Parser(MarkdownIt):
    def validateLink(self, url: str) -> bool:  # markdown-it's name for the hook
        """Parse every link; ``safe_href`` decides later which stay links."""
        return True


class _Builder:
    """Turns markdown-it's flat token stream into nested blocks."""

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0

    def blocks(self, until: str | None = None) -> list[Block]:
        out: list[Block] = []
        while self.pos < len(self.tokens):
            token = self.tokens[self.pos]
            if until is not None and token.type == until:
                self.pos += 1
                return out
            self.pos += 1
            block = self._block(token)
            if block is not None:
                out.append(block)
        return out

    def _block(self, token: Token) -> Block | None:
        kind = token.type
        if kind == "heading_open":
            spans = self._inline()
            self.pos += 1  # heading_close
            return Block("heading", spans, level=int(token.tag[1:]))
        if kind == "paragraph_open":
            spans = self._inline()
            self.pos += 1  # paragraph_close
            return Block("paragraph", spans)
        if kind in ("bullet_list_open", "ordered_list_open"):
            close = kind.replace("_open", "_close")
            items: list[list[Block]] = []
            while self.tokens[self.pos].type != close:
                self.pos += 1  # list_item_open
                items.append(self.blocks(until="list_item_close"))
            self.pos += 1
            if kind == "bullet_list_open":
                return Block("bullets", items=items)
            start = token.attrGet("start")
            return Block("numbers", items=items, start=int(start) if start is not None else 1)
        if kind == "blockquote_open":
            return Block("quote", items=[self.blocks(until="blockquote_close")])
        if kind in ("fence", "code_block"):
            return Block("code", [Span(token.content.rstrip("\n"), code=True)])
        if kind == "hr":
            return Block("rule")
        if kind == "table_open":
            return self._table()
        return None  # closing tokens of structures handled above; html_block is off

    def _table(self) -> Block:
        rows: list[list[list[Span]]] = []
        while (token := self.tokens[self.pos]).type != "table_close":
            self.pos += 1
            if token.type == "tr_open":
                rows.append([])
            elif token.type == "inline":
                rows[-1].append(_spans(token.children or []))
        self.pos += 1
        return Block("table", rows=rows)

    def _inline(self) -> list[Span]:
        token = self.tokens[self.pos]
        self.pos += 1
        return _spans(token.children or []) if token.type == "inline" else []


def _spans(children: list[Token]) -> list[Span]:
    spans: list[Span] = []
    style = {"bold": 0, "italic": 0, "strike": 0}
    links: list[str | None] = []
    for child in children:
        kind = child.type
        href = links[-1] if links else None
        if kind in ("text", "code_inline", "image"):
            text = child.content
            if kind == "image":  # the alt text, never the image
                text = "".join(c.content for c in child.children or []) or child.content
            spans.append(
                Span(
                    text,
                    bold=style["bold"] > 0,
                    italic=style["italic"] > 0,
                    strike=style["strike"] > 0,
                    code=kind == "code_inline",
                    href=href,
                )
            )
        elif kind == "softbreak":
            spans.append(Span(" ", href=href, is_soft_break=True))
        elif kind == "hardbreak":
            spans.append(Span("\n", is_break=True))
        elif kind in ("strong_open", "strong_close"):
            style["bold"] += 1 if kind.endswith("open") else -1
        elif kind in ("em_open", "em_close"):
            style["italic"] += 1 if kind.endswith("open") else -1
        elif kind in ("s_open", "s_close"):
            style["strike"] += 1 if kind.endswith("open") else -1
        elif kind == "link_open":
            links.append(safe_href(str(child.attrGet("href") or "")))
        elif kind == "link_close" and links:
            links.pop()
    return [span for span in spans if span.text or span.is_break]


def _mark_sources(blocks: list[Block]) -> set[int]:
    """Anchor each ``[n] …`` entry under a Sources heading; return the entry numbers.

    Entries are paragraphs (as the research graph writes them), lines of one paragraph, or
    list items. Only the first entry of a number becomes its link target.
    """
    entries: set[int] = set()

    def anchor(paragraph: Block) -> None:
        match = _SOURCE_ENTRY.match(plain_text(paragraph.spans) + " ")
        if match and int(match.group(1)) not in entries:
            paragraph.anchor = source_anchor(int(match.group(1)))
            entries.add(int(match.group(1)))

    inside = False
    index = 0
    while index < len(blocks):
        block = blocks[index]
        if block.kind == "heading":
            inside = plain_text(block.spans).strip().casefold() in SOURCES_HEADINGS
        elif inside and block.kind == "paragraph":
            split = _split_entries(block.spans)
            blocks[index : index + 1] = split
            for entry in split:
                anchor(entry)
            index += len(split) - 1
        elif inside and block.kind in ("bullets", "numbers"):
            for item in block.items:
                if item and item[0].kind == "paragraph":
                    anchor(item[0])
        index += 1
    return entries


def _split_entries(spans: list[Span]) -> list[Block]:
    """One paragraph per ``[n]`` line when a Sources paragraph holds several lines."""
    lines: list[list[Span]] = [[]]
    for span in spans:
        if span.is_break or span.is_soft_break:
            lines.append([])
        else:
            lines[-1].append(span)
    if len(lines) > 1 and all(_SOURCE_ENTRY.match(plain_text(line) + " ") for line in lines):
        return [Block("paragraph", line) for line in lines]
    return [Block("paragraph", spans)]


def _walk_spans(blocks: list[Block], change: Callable[[list[Span], bool], list[Span]]) -> None:
    for block in blocks:
        if block.spans and block.kind != "code":
            block.spans = change(block.spans, block.anchor is not None)
        for item in block.items:
            _walk_spans(item, change)
        for row in block.rows:
            row[:] = [change(cell, False) for cell in row]


def _finish_spans(spans: list[Span], entries: set[int], is_entry: bool) -> list[Span]:
    """Link bare URLs and citations in plain (unlinked, non-code) text."""
    out: list[Span] = []
    for position, span in enumerate(spans):
        if span.href or span.code or span.is_break:
            out.append(span)
            continue
        if is_entry and position == 0 and (label := _SOURCE_ENTRY.match(span.text)):
            out.append(replace(span, text=label.group(0)))  # the entry's own [n]: its label
            span = replace(span, text=span.text[label.end() :])
        out.extend(_citations(_urls(span), entries))
    return out


def _urls(span: Span) -> list[Span]:
    out: list[Span] = []
    rest = 0
    for match in _BARE_URL.finditer(span.text):
        url = match.group(0).rstrip(_URL_TRAILING)
        if url.endswith("(") or len(url) <= len("https://"):
            continue
        start, end = match.start(), match.start() + len(url)
        if start > rest:
            out.append(replace(span, text=span.text[rest:start]))
        out.append(replace(span, text=url, href=safe_href(url)))
        rest = end
    if rest < len(span.text):
        out.append(replace(span, text=span.text[rest:]))
    return out


def _citations(spans: list[Span], entries: set[int]) -> list[Span]:
    out: list[Span] = []
    for span in spans:
        if span.href:
            out.append(span)
            continue
        rest = 0
        for match in _CITATION.finditer(span.text):
            numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
            if not any(n in entries for n in numbers):
                continue
            if match.start() > rest:
                out.append(replace(span, text=span.text[rest : match.start()]))
            out.extend(_citation_spans(span, match.group(0), numbers, entries))
            rest = match.end()
        if rest < len(span.text):
            out.append(replace(span, text=span.text[rest:]))
    return out


def _citation_spans(span: Span, written: str, numbers: list[int], entries: set[int]) -> list[Span]:
    if len(numbers) == 1:
        return [replace(span, text=written, anchor=source_anchor(numbers[0]))]
    out = [replace(span, text="[")]
    for i, number in enumerate(numbers):
        if i:
            out.append(replace(span, text=", "))
        anchor = source_anchor(number) if number in entries else None
        out.append(replace(span, text=str(number), anchor=anchor))
    out.append(replace(span, text="]"))
    return out
