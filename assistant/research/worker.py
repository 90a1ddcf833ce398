"""One section, start to finish: search, read, write, check every cited claim.

``write_section`` is what a research worker does inside its slot. It reports each stage
through ``step`` (the graph turns that into the board and the section's step) and returns
the section's result, failed with a reason a person understands when it cannot be written.
Nothing here raises for a failure of the outside world (search, pages, the model); only a
programming error or a cancellation escapes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant import prompts
from assistant.context import RunContext
from assistant.errors import describe
from assistant.events import State
from assistant.models import ModelFactory
from assistant.research.citations import clean_citations
from assistant.research.reading import MAX_PAGES_PER_SECTION, Found, read_sources, search_web
from assistant.research.schemas import SectionPlan, SectionResult, WorkerTask
from assistant.research.verify import Mode, Verified, verify_section
from assistant.text import plural
from tools.documents import Document
from tools.fetch import PageFetcher
from tools.search import SearchSession

log = logging.getLogger(__name__)

Step = Callable[[State, str], None]
"""``step(state, note)``: the section moved on (``note``: one line saying what it does)."""


@dataclass
class Sources:
    """Where a run's sections find their material (shared by the run's workers)."""

    search: SearchSession
    fetcher: PageFetcher | None
    documents: list[Document] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close the page reader (its connections, fetches still running)."""
        if self.fetcher is not None:
            await self.fetcher.aclose()


def query_of(section: SectionPlan) -> str:
    """What passages are ranked against: the section's name, brief and searches."""
    return " ".join([section.name, section.description, *section.queries])


def reading_note(pages: int, documents: int) -> str:
    """ "Reading 5 pages and 2 documents…"."""
    parts = [plural(n, word) for n, word in ((pages, "page"), (documents, "document")) if n]
    return "Reading " + " and ".join(parts) + "…" if parts else "Reading…"


async def write_section(
    task: WorkerTask,
    sources: Sources,
    models: ModelFactory,
    context: RunContext,
    step: Step,
) -> SectionResult:
    """Research and write section ``task``; the result says what was read and checked."""
    section = task["section"]
    web = task.get("web", True)

    def failed(reason: str, found: Found | None = None) -> SectionResult:
        log.warning("section %r failed: %s", section.name, reason)
        result = SectionResult(
            index=task["index"],
            name=section.name,
            status="failed",
            text="",
            sources=[],
            error=reason,
            removed=[],
        )
        if found is not None and found.via:
            result["via"] = found.via
        return result

    found = Found([], [], [])
    if web:
        step(State.SEARCHING, "Searching…")
        found = await search_web(sources.search, section.queries)
        if not found.results and not sources.documents:
            return failed(
                found.errors[0]
                if found.errors
                else "the web search returned no results for: " + "; ".join(section.queries)
            )
    pages = min(len(found.results), MAX_PAGES_PER_SECTION)
    step(State.READING, reading_note(pages, len(sources.documents)))
    reading = await read_sources(
        found.results,
        sources.documents,
        fetcher=sources.fetcher if web else None,
        query=query_of(section),
        budget_tokens=context.section_source_tokens,
    )
    if not reading.sources:
        return failed("none of its sources had any text to write from", found)
    step(State.WRITING, f"Writing from {plural(len(reading.sources), 'source')}…")
    prompt = prompts.WORKER.format(
        topic=task["topic"],
        name=section.name,
        description=section.description,
        sources=reading.prompt(),
    )
    try:
        reply = await models.whole(context.model).ainvoke(prompt)
    except Exception as exc:  # no interrupt below this point; any model failure is reported
        return failed(f"the model failed while writing it: {describe(exc)}", found)
    text, removed = clean_citations(str(reply.content), reading.sources)
    for removal in removed:
        log.warning("section %r: removed %s", section.name, removal)
    if not text:
        return failed("the model returned an empty section", found)
    mode: Mode = context.verify
    if mode != "off":
        step(State.CHECKING, "Checking every cited claim against its source…")
    verified = await verify_section(
        text,
        reading.texts,
        lambda schema, prompt: models.structured(schema, prompt, context.model),
        mode=mode,
    )
    if not verified.text.strip():
        return failed("none of its claims was supported by the sources it cited", found)
    return SectionResult(
        index=task["index"],
        name=section.name,
        status="ok",
        text=verified.text,
        sources=reading.sources,
        error=None,
        removed=removed,
        read=reading.read,
        fallbacks=reading.fallbacks,
        via=found.via,
        documents=sum(1 for s in reading.sources if not s["url"]),
        verification=verified.record(),
    )


def verification_of(result: SectionResult) -> Verified | None:
    """The section's verification figures, if it was checked (sections saved by an older
    version were not)."""
    record = result.get("verification")
    return Verified.from_record(record) if record else None
