"""Deep research end to end: pages read, claims proven, the person's documents, exports.

Against the scripted model server, the local search endpoint (which also serves the pages
its results link to) and, for awkward pages, a local web server: every fetch, extraction,
passage selection, verification and conversion here is the real code.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from docx import Document as DocxDocument
from pypdf import PdfReader

from assistant.attachments import Upload
from assistant.context import Choices
from assistant.engine import Engine, new_thread_id
from assistant.errors import InputError
from assistant.events import Activity, Document, Event, State
from assistant.research.report import export_key
from assistant.research.verify import MARKER
from assistant.storage import ThreadKind, ThreadNotFound
from fakes import local_settings
from fakes.brain import UNSUPPORTED, WORKER_PROMPT, Brain
from fakes.files import make_docx, make_pdf
from fakes.openai_server import ScriptedOpenAI
from fakes.search_server import FakeSearch
from fakes.web_server import ARTICLE_TEXT, BOILERPLATE, FakeWeb, Route
from tests.support import OWNER, collect, of

TOPIC = "ocean tides"
NO_REVIEW = Choices.of(approve=[])
PDF_PAGES = [
    "Tidal range is the vertical difference between high water and low water on a coast.",
    "The Bay of Fundy in Canada has the largest tidal range in the world, about sixteen metres.",
]
NOTES = b"# Field notes\n\nSpring tides come at new and full moon, when the Sun and Moon align.\n"
DOCX_TEXT = "Neap tides come at the quarter moons, when the pulls of Sun and Moon partly cancel."


# --- helpers ------------------------------------------------------------------------------


async def research(
    engine: Engine, thread: str | None = None, *, web: bool = True, topic: str = TOPIC
) -> tuple[str, list[Event]]:
    thread = thread or new_thread_id()
    events = await collect(engine.research(thread, topic, owner=OWNER, choices=NO_REVIEW, web=web))
    return thread, events


def report_of(events: list[Event]) -> Document:
    [document] = of(Document, events)
    return document


def sections_done(events: list[Event]) -> list[Activity]:
    """The final step of every section."""
    return [
        e
        for e in of(Activity, events)
        if e.title.startswith("Section ") and e.state in (State.DONE, State.FAILED)
    ]


def worker_prompts(llm: ScriptedOpenAI) -> list[str]:
    return [c.request.last_user for c in llm.calls if c.request.last_user.startswith(WORKER_PROMPT)]


def source_lines(markdown: str) -> list[str]:
    tail = markdown.split("\n## Sources\n", 1)[1]
    return [line for line in tail.splitlines() if line.startswith("[")]


@pytest.fixture
def web() -> Iterator[FakeWeb]:
    with FakeWeb(slow=30.0) as server:
        yield server


@pytest.fixture
def make_engine(llm: ScriptedOpenAI, search: FakeSearch, data_dir: Path) -> Callable[..., Any]:
    """An engine on the local servers with some settings changed."""

    def make(**overrides: Any) -> Any:
        return Engine.open(local_settings(llm, search, data_dir, **overrides))

    return make


def links_to(urls: list[str]) -> Callable[[str], list[dict[str, Any]]]:
    """Search results pointing at ``urls``, whatever the query."""

    def results(query: str) -> list[dict[str, Any]]:
        return [
            {"url": url, "title": f"Result {n}", "content": f"Snippet {n} about {query}."}
            for n, url in enumerate(urls, 1)
        ]

    return results


# --- reading the pages ----------------------------------------------------------------------


async def test_workers_write_from_the_pages_text_not_the_snippets(
    engine: Engine, llm: ScriptedOpenAI, search: FakeSearch
) -> None:
    _, events = await research(engine)

    prompts = worker_prompts(llm)
    assert len(prompts) == 3
    for prompt in prompts:
        assert "Field studies of ocean tides" in prompt  # only on the pages, not in snippets
        assert not any(junk in prompt for junk in BOILERPLATE)
    assert len(search.pages) == 9  # 3 sections x 3 results, each page read once
    for step in sections_done(events):
        assert "Read 3 pages in full." in step.text
        assert "Search answered by searxng." in step.text
    report = report_of(events).markdown
    assert "Field studies of ocean tides aspect 1 found" in report


async def test_sections_are_asked_for_in_one_piece_while_the_chat_answer_streams(
    engine: Engine, llm: ScriptedOpenAI
) -> None:
    """Nobody reads a section token by token: its call is not streamed (a chunk parsed and
    a callback per few characters, for eight sections at once on one event loop)."""
    await research(engine)
    workers = [c for c in llm.calls if c.request.last_user.startswith(WORKER_PROMPT)]
    assert len(workers) == 3 and not any(c.request.stream for c in workers)
    await collect(engine.chat(new_thread_id(), "hello", owner=OWNER))
    assert llm.calls[-1].request.stream  # the answer the person reads still streams


async def test_pages_spread_over_many_hosts_are_all_read(
    llm: ScriptedOpenAI, data_dir: Path
) -> None:
    """The bench's set-up: each result's page on a loopback address of its own, as results
    on the web come from many sites (the reader's per-host bound then applies as there)."""
    with FakeSearch(page_hosts=9) as spread:
        settings = local_settings(llm, spread, data_dir, fetch_allow="127.0.0.0/8")
        async with Engine.open(settings) as engine:
            _, events = await research(engine)
    cited = source_lines(report_of(events).markdown)
    hosts = {re.search(r"https?://([^/:]+)", line).group(1) for line in cited}  # type: ignore[union-attr]
    assert len(spread.pages) == 9
    assert len(cited) >= 6 and len(hosts) == len(cited)
    assert hosts <= {f"127.0.0.{n}" for n in range(2, 11)}


async def test_a_page_read_by_one_run_is_not_fetched_again_by_the_next(
    engine: Engine, search: FakeSearch
) -> None:
    await research(engine)
    first = len(search.pages)
    await research(engine)
    assert len(search.pages) == first  # the engine's shared page cache


async def test_boilerplate_is_stripped_from_a_real_article(
    make_engine: Callable[..., Any], search: FakeSearch, llm: ScriptedOpenAI, web: FakeWeb
) -> None:
    search.results_for = links_to([f"{web.url}/article"])
    async with make_engine() as engine:
        _, events = await research(engine)
    prompt = worker_prompts(llm)[0]
    assert ARTICLE_TEXT[1] in prompt
    assert not any(junk in prompt for junk in BOILERPLATE)
    assert f"[1] Result 1\nURL: {web.url}/article" in prompt
    assert ARTICLE_TEXT[0][:-1] in report_of(events).markdown  # the writer's claim, kept


async def test_slow_and_huge_pages_fall_back_to_their_snippets_within_the_timeout(
    make_engine: Callable[..., Any], search: FakeSearch, llm: ScriptedOpenAI, web: FakeWeb
) -> None:
    search.results_for = links_to([f"{web.url}/article", f"{web.url}/slow", f"{web.url}/huge"])
    async with make_engine(fetch_timeout=1) as engine:
        started = time.monotonic()
        _, events = await research(engine)
        took = time.monotonic() - started
    # The slow page would answer after 30 s: the run went on when its 1 s were up.
    assert took < 15
    step = sections_done(events)[0]
    assert "Read 1 page in full; 2 pages could not be read" in step.text
    assert "Result 2: timed out after 1 s" in step.text
    assert "Result 3: larger than 5 MB" in step.text
    prompt = worker_prompts(llm)[0]
    assert ARTICLE_TEXT[0] in prompt and "Snippet 2 about" in prompt and "filler" not in prompt


async def test_loopback_pages_are_refused_without_fetch_allow(
    make_engine: Callable[..., Any], search: FakeSearch, llm: ScriptedOpenAI
) -> None:
    async with make_engine(fetch_allow="") as engine:
        _, events = await research(engine)
    assert search.pages == []  # not one request reached the server
    step = sections_done(events)[0]
    assert "3 pages could not be read" in step.text
    assert "refused: 127.0.0.1 is a loopback address" in step.text
    for prompt in worker_prompts(llm):  # written from the snippets
        assert "Facts about ocean tides aspect" in prompt and "Field studies" not in prompt
    assert report_of(events).markdown.startswith("# ")


async def test_a_redirect_to_a_refused_address_is_not_followed(
    make_engine: Callable[..., Any], search: FakeSearch, web: FakeWeb
) -> None:
    # "localhost" is allowed by name; its redirect to 127.0.0.1 is a new, unallowed host.
    web.routes["/jump"] = Route(302, location="{base}/article")
    search.results_for = links_to([f"http://localhost:{web.port}/jump"])
    async with make_engine(fetch_allow="localhost") as engine:
        _, events = await research(engine)
    assert set(web.paths()) == {"/jump"}  # the article behind the redirect never was
    step = sections_done(events)[0]
    assert "Result 1: refused: 127.0.0.1 is a loopback address" in step.text


async def test_the_next_search_provider_answers_when_the_first_is_rate_limited(
    llm: ScriptedOpenAI, search: FakeSearch, data_dir: Path
) -> None:
    with FakeSearch() as backup:
        search.mode = "ratelimit"
        settings = local_settings(
            llm,
            search,
            data_dir,
            search_providers="searxng,tavily",
            tavily_url=backup.url,
            tavily_api_key="tvly-test",
        )
        async with Engine.open(settings) as engine:
            _, events = await research(engine)
    step = sections_done(events)[0]
    assert step.state is State.DONE
    assert "Search answered by tavily (searxng: rate-limited)." in step.text


# --- every claim checked against its source ----------------------------------------------------


async def test_the_unsupported_claim_is_removed_and_the_supported_ones_kept(
    engine: Engine, brain: Brain, llm: ScriptedOpenAI
) -> None:
    brain.unsupported_claim = True
    _, events = await research(engine)

    report = report_of(events).markdown
    assert UNSUPPORTED not in report
    body = report.split("## Sources")[0]
    # Each section: two claims from its first page and one from its second, all supported.
    assert body.count("Facts about ocean tides aspect") == 6
    assert body.count("Field studies of ocean tides aspect") == 3
    assert report.rstrip().endswith("*Checked 12 cited claims: 9 supported, 3 removed.*")
    for step in sections_done(events):
        assert f"- Removed: “{UNSUPPORTED}.” — source \\[1\\] does not say this" in step.text
    writing = [e for e in of(Activity, events) if e.title == "Writing the report"][-1]
    assert "Checked 12 cited claims: 9 supported, 3 removed." in writing.text
    assert writing.text.count(UNSUPPORTED) == 3
    verifier_calls = [c for c in llm.calls if c.request.schema_name == "SectionVerdicts"]
    assert len(verifier_calls) == 3  # one batched call per section


async def test_mark_mode_keeps_the_unsupported_claim_flagged(
    make_engine: Callable[..., Any], brain: Brain
) -> None:
    brain.unsupported_claim = True
    async with make_engine(verify="mark") as engine:
        _, events = await research(engine)
    report = report_of(events).markdown
    assert report.count(f"{UNSUPPORTED} [") == 3
    assert report.count(MARKER.strip()) == 3
    assert "*Checked 12 cited claims: 9 supported, 3 flagged as unverified.*" in report


async def test_verify_off_asks_no_verifier(
    make_engine: Callable[..., Any], brain: Brain, llm: ScriptedOpenAI
) -> None:
    brain.unsupported_claim = True
    async with make_engine(verify="off") as engine:
        _, events = await research(engine)
    assert not [c for c in llm.calls if c.request.schema_name == "SectionVerdicts"]
    report = report_of(events).markdown
    assert UNSUPPORTED in report
    assert "*Cited claims were not checked against their sources.*" in report


# --- the person's documents ---------------------------------------------------------------------


def documents() -> list[Upload]:
    return [
        Upload("tides.pdf", make_pdf(PDF_PAGES, "Tides"), "application/pdf"),
        Upload("notes.md", NOTES, "text/markdown"),
        Upload("neap.docx", make_docx([DOCX_TEXT], "Neap tides"), None),
    ]


async def test_documents_alone_are_the_sources_cited_by_name_and_page(
    engine: Engine, search: FakeSearch, llm: ScriptedOpenAI, brain: Brain
) -> None:
    brain.unsupported_claim = True
    thread = new_thread_id()
    added = await engine.add_documents(
        thread, documents(), owner=OWNER, kind=ThreadKind.RESEARCH, title=TOPIC
    )
    assert added[0].line() == "tides.pdf: 2 pages"
    assert re.fullmatch(r"notes\.md: \d+ characters", added[1].line())
    assert re.fullmatch(r"neap\.docx: \d+ characters", added[2].line())
    assert all(a.error is None for a in added)

    _, events = await research(engine, thread, web=False, topic="tidal range spring neap tides")

    assert search.requests == []  # no web search at all
    [planner] = [c.request.last_user for c in llm.calls if c.request.schema_name == "Plan"]
    assert "Only the person's documents are read" in planner
    assert "- tides.pdf\n- notes.md\n- neap.docx" in planner
    prompt = worker_prompts(llm)[0]
    assert "(from the person's document)" in prompt
    assert "[1] tides.pdf, page 1" in prompt
    for text in (PDF_PAGES[0], "Spring tides come at new and full moon", DOCX_TEXT):
        assert text in prompt
    report = report_of(events).markdown
    sources = source_lines(report)
    assert sources[0] == "[1] tides.pdf, page 1"
    assert all(" — http" not in line for line in sources)
    assert UNSUPPORTED not in report  # documents are verified like web pages
    assert "Tidal range is the vertical difference between high water and low water" in report


async def test_documents_and_the_web_together(engine: Engine, llm: ScriptedOpenAI) -> None:
    thread = new_thread_id()
    await engine.add_documents(thread, documents(), owner=OWNER, kind=ThreadKind.RESEARCH)
    await research(engine, thread)
    prompt = worker_prompts(llm)[0]
    assert "URL: http://127.0.0.1:" in prompt and "(from the person's document)" in prompt


async def test_research_without_the_web_needs_documents(engine: Engine) -> None:
    with pytest.raises(InputError, match="needs documents"):
        await research(engine, web=False)


async def test_unreadable_and_surplus_documents_are_refused_with_reasons(
    make_engine: Callable[..., Any],
) -> None:
    async with make_engine(max_documents=2) as engine:
        thread = new_thread_id()
        added = await engine.add_documents(
            thread,
            [
                Upload("fake.pdf", b"this is not a pdf at all", "application/pdf"),
                Upload("run.exe", b"MZ\x90\x00" + bytes(100), None),
                Upload("a.md", b"# A\n\nAlpha text.", None),
                Upload("a.md", b"# A again\n\nBeta text.", None),
                Upload("c.txt", b"Gamma text.", None),
            ],
            owner=OWNER,
        )
    lines = [a.line() for a in added]
    assert lines[0] == "fake.pdf is damaged or not really a PDF file"
    assert lines[1].startswith("run.exe: unsupported file type")
    assert [a.name for a in added if a.error is None] == ["a.md", "a (2).md"]
    assert lines[4] == "c.txt: not added, this conversation already has 2 documents (the limit)"


async def test_documents_are_their_owners_and_go_with_the_conversation(engine: Engine) -> None:
    thread = new_thread_id()
    await engine.add_documents(thread, documents(), owner=OWNER)
    with pytest.raises(ThreadNotFound):
        await engine.add_documents(thread, documents()[:1], owner="mallory")
    assert await engine.attachments.names(thread, "mallory") == []
    assert len(await engine.storage.files.keys_of(thread)) == 6  # original + text of each

    await engine.delete(thread, owner=OWNER)
    assert await engine.storage.files.keys_of(thread) == []


# --- export -----------------------------------------------------------------------------------


ACCENTED = "Marées et Ωκεανός: été à Fundy"


async def test_the_report_exports_to_pdf_and_word_with_headings_and_sources(
    engine: Engine, brain: Brain
) -> None:
    brain.plan_title = ACCENTED
    _, events = await research(engine)
    document = report_of(events)
    assert [f.name for f in document.files] == [
        "marees-et-ete-a-fundy.md",
        "marees-et-ete-a-fundy.pdf",
        "marees-et-ete-a-fundy.docx",
    ]
    markdown_key = document.files[0].key

    pdf = await engine.file(export_key(markdown_key, ".pdf"), owner=OWNER)
    assert pdf is not None and pdf.mime == "application/pdf"
    text = " ".join((page.extract_text() or "") for page in PdfReader(io.BytesIO(pdf.data)).pages)
    flat = re.sub(r"\s+", " ", text)
    for expected in (ACCENTED, "Part 1", "Part 2", "Part 3", "Sources", "Checked 9 cited claims"):
        assert expected in flat, expected

    docx = await engine.file(export_key(markdown_key, ".docx"), owner=OWNER)
    assert docx is not None
    word = DocxDocument(io.BytesIO(docx.data))
    headings = [p.text for p in word.paragraphs if p.style.name.startswith(("Heading", "Title"))]
    assert headings[0] == ACCENTED
    assert {"Part 1", "Part 2", "Part 3", "Sources"} <= set(headings)
    assert any(p.text.startswith("[1] ") for p in word.paragraphs)

    again = await engine.file(export_key(markdown_key, ".pdf"), owner=OWNER)
    assert again is not None and again.data == pdf.data  # made once, then kept
    assert await engine.file(export_key(markdown_key, ".pdf"), owner="mallory") is None
