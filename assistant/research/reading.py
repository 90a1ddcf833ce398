"""What a section's writer reads: search results, the pages behind them, the person's documents.

``search_web`` runs a section's queries; ``read_sources`` fetches the pages (a page that cannot
be read falls back to its search snippet, and says why), adds the documents attached to the
conversation, keeps the passages most relevant to the section within its budget of source
text, and numbers what is left: one source per web page, one per page of a PDF (one per other
document). The worker cites those numbers and the verifier checks each claim against the very
excerpts the worker was given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby, pairwise

from assistant.research.schemas import Source
from assistant.text import brief
from tools.documents import Document
from tools.fetch import FetchError, Page, PageFetcher
from tools.passages import Passage, Segment, SourceText, select_passages
from tools.search import SearchError, SearchResult, SearchSession

log = logging.getLogger(__name__)

MAX_PAGES_PER_SECTION = 8
"""Search results a section reads (the first, in the order the searches returned them)."""
MAX_TITLE_CHARS = 200
GAP = "[…]"
"""Written between two excerpts of one source that are not next to each other."""
_DOCUMENT = "file:"


@dataclass(frozen=True)
class Found:
    """What a section's searches returned."""

    results: list[SearchResult]
    errors: list[str]
    via: list[str]
    """The providers that answered, in order (more than one when one fell back)."""


@dataclass(frozen=True)
class Reading:
    """The numbered sources a section is written from."""

    sources: list[Source]
    texts: dict[int, str]
    """Source number -> the excerpts the writer was given (what claims are checked against)."""
    read: int = 0
    """Web pages read in full."""
    fallbacks: list[str] = field(default_factory=list)
    """``"Title: why"`` for each page that could not be read (its snippet was used)."""

    def prompt(self) -> str:
        """The numbered sources as the writer's prompt lists them."""
        blocks = []
        for number, source in enumerate(self.sources, 1):
            origin = f"URL: {source['url']}" if source["url"] else "(from the person's document)"
            blocks.append(f"[{number}] {source['title']}\n{origin}\n{self.texts[number]}")
        return "\n\n".join(blocks)


async def search_web(search: SearchSession, queries: Sequence[str]) -> Found:
    """Run every query at once; results de-duplicated by URL, in the order they came."""
    outcomes = await asyncio.gather(
        *(search.search(query) for query in queries), return_exceptions=True
    )
    results: dict[str, SearchResult] = {}
    errors: list[str] = []
    for outcome in outcomes:
        if isinstance(outcome, SearchError):
            errors.append(str(outcome))
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            for item in outcome:
                results.setdefault(item.url.rstrip("/"), item)
    via = list(dict.fromkeys(r.via for r in results.values() if r.via))
    return Found(list(results.values()), errors, via)


async def read_sources(
    found: Sequence[SearchResult],
    documents: Sequence[Document],
    *,
    fetcher: PageFetcher | None,
    query: str,
    budget_tokens: int,
) -> Reading:
    """Read the pages of ``found`` (``fetcher`` None: snippets only) and pick, from them and
    ``documents``, the passages most relevant to ``query`` within ``budget_tokens``."""
    picked = list(found)[:MAX_PAGES_PER_SECTION]
    pages: dict[str, Page | FetchError] = {}
    if fetcher is not None and picked:
        pages = await fetcher.fetch_many(item.url for item in picked)
    texts: list[SourceText] = []
    titles: dict[str, str] = {}
    fallbacks: list[str] = []
    read = 0
    for index, document in enumerate(documents):
        key = f"{_DOCUMENT}{index}"
        texts.append(SourceText(key, document.segments))
        titles[key] = document.name
    for item in picked:
        page = pages.get(item.url)
        title = item.title.strip() or (page.title if isinstance(page, Page) else "") or item.url
        title = titles[item.url] = brief(title, MAX_TITLE_CHARS)
        if isinstance(page, Page) and page.text.strip():
            texts.append(SourceText(item.url, page.segments))
            read += 1
        else:
            if page is not None:
                why = str(page) if isinstance(page, FetchError) else "no readable text"
                log.info("reading %s failed (%s): using its snippet", item.url, why)
                fallbacks.append(f"{title}: {why}")
            texts.append(SourceText(item.url, (Segment(None, item.content),)))
    chosen = await asyncio.to_thread(select_passages, query, texts, budget_tokens)
    sources, excerpts = _numbered(chosen, titles)
    return Reading(sources, excerpts, read, fallbacks)


def _numbered(
    passages: Sequence[Passage], titles: dict[str, str]
) -> tuple[list[Source], dict[int, str]]:
    """One source per web page and per document page, in the order of ``passages``."""
    sources: list[Source] = []
    texts: dict[int, str] = {}
    for (source_id, page), group in groupby(passages, key=lambda p: (p.source_id, p.page)):
        excerpts = list(group)
        parts = [excerpts[0].text]
        for before, passage in pairwise(excerpts):
            adjacent = passage.index == before.index + 1
            parts.append(passage.text if adjacent else f"{GAP}\n{passage.text}")
        if source_id.startswith(_DOCUMENT):
            name = titles[source_id]
            sources.append(Source(url="", title=name if page is None else f"{name}, page {page}"))
        else:
            sources.append(Source(url=source_id, title=titles[source_id]))
        texts[len(sources)] = "\n".join(parts)
    return sources, texts
