"""Citation checking: only sources the search really returned may be cited or linked."""

from __future__ import annotations

import re
from typing import Literal

from assistant.research.citations import (
    clean_citations,
    format_sources,
    merge_sections,
)
from assistant.research.schemas import SectionResult, Source

A = Source(url="https://example.test/a", title="Source A")
B = Source(url="https://example.test/b", title="Source B")
C = Source(url="https://example.test/c", title="Source C")
D = Source(url="https://example.test/d", title="Source D")


def section(
    index: int,
    text: str,
    sources: list[Source],
    status: Literal["ok", "failed"] = "ok",
) -> SectionResult:
    return SectionResult(
        index=index,
        name=f"Section {index}",
        status=status,
        text=text,
        sources=sources,
        error=None if status == "ok" else "it broke",
        removed=[],
    )


# --- clean_citations ---------------------------------------------------------------------------


def test_out_of_range_citation_is_removed_and_reported() -> None:
    text, removed = clean_citations("Solar is cheap [1]. Wind is cheaper [9].", [A, B])

    assert text == "Solar is cheap [1]. Wind is cheaper."
    assert len(removed) == 1
    assert "[9]" in removed[0]


def test_zero_is_not_a_valid_citation() -> None:
    text, removed = clean_citations("A claim [0].", [A])

    assert text == "A claim."
    assert removed


def test_grouped_citation_is_split_into_separate_brackets() -> None:
    text, removed = clean_citations("Both agree [1, 2].", [A, B])

    assert text == "Both agree [1][2]."
    assert removed == []


def test_grouped_citation_keeps_only_valid_numbers() -> None:
    text, removed = clean_citations("Claim [2, 7].", [A, B])

    assert text == "Claim [2]."
    assert len(removed) == 1
    assert "[7]" in removed[0]


def test_markdown_link_to_unretrieved_url_keeps_text_and_drops_url() -> None:
    text, removed = clean_citations("Read [the study](https://evil.test/study) now [1].", [A])

    assert text == "Read the study now [1]."
    assert "evil.test" not in text
    assert len(removed) == 1
    assert "https://evil.test/study" in removed[0]


def test_markdown_link_to_retrieved_url_is_kept() -> None:
    original = "Read [the study](https://example.test/a) now [1]."

    text, removed = clean_citations(original, [A])

    assert text == original
    assert removed == []


def test_bare_unretrieved_url_is_removed() -> None:
    text, removed = clean_citations("See https://invented.example/page for more [1].", [A])

    assert "invented.example" not in text
    assert text == "See for more [1]."
    assert len(removed) == 1
    assert "https://invented.example/page" in removed[0]


def test_bare_unretrieved_url_in_parentheses_leaves_no_empty_parentheses() -> None:
    text, _ = clean_citations("A fact (https://evil.test/x) [1].", [A])

    assert "evil.test" not in text
    assert "(" not in text
    assert text.startswith("A fact")
    assert text.endswith("[1].")


def test_removed_url_in_parentheses_leaves_single_spaces() -> None:
    text, _ = clean_citations("A fact (https://evil.test/x) [1].", [A])

    assert text == "A fact [1]."


def test_removed_url_at_sentence_end_keeps_the_full_stop() -> None:
    text, _ = clean_citations("See https://evil.test/x. Next claim [1].", [A])

    assert text == "See. Next claim [1]."


def test_bare_retrieved_url_is_kept() -> None:
    text, removed = clean_citations("See https://example.test/b for details [2].", [A, B])

    assert text == "See https://example.test/b for details [2]."
    assert removed == []


def test_retrieved_url_matches_regardless_of_trailing_slash() -> None:
    text, removed = clean_citations("See https://example.test/a/ today.", [A])

    assert "https://example.test/a/" in text
    assert removed == []


def test_without_sources_every_citation_and_url_goes() -> None:
    text, removed = clean_citations("Intro [1] with https://example.test/a link.", [])

    assert text == "Intro with link."
    assert len(removed) == 2


# --- merge_sections ----------------------------------------------------------------------------


def test_merge_renumbers_globally_in_order_of_first_citation() -> None:
    first = section(0, "Later source first [2]. Then [1].", [A, B])
    second = section(1, "New one [1] and again [2].", [C, D])

    texts, sources = merge_sections([first, second])

    assert texts == ["Later source first [1]. Then [2].", "New one [3] and again [4]."]
    assert sources == [B, A, C, D]


def test_merge_lists_a_url_cited_by_two_sections_once() -> None:
    first = section(0, "Shared [1], own [2].", [A, B])
    second = section(1, "Own [1], shared [2].", [C, Source(url=A["url"], title="A again")])

    texts, sources = merge_sections([first, second])

    assert [s["url"] for s in sources] == [A["url"], B["url"], C["url"]]
    assert texts == ["Shared [1], own [2].", "Own [3], shared [1]."]


def test_merge_treats_trailing_slash_as_the_same_url() -> None:
    first = section(0, "One [1].", [A])
    second = section(1, "Same [1].", [Source(url=A["url"] + "/", title="A slash")])

    texts, sources = merge_sections([first, second])

    assert len(sources) == 1
    assert texts == ["One [1].", "Same [1]."]


def test_merge_leaves_out_sources_that_were_never_cited() -> None:
    texts, sources = merge_sections([section(0, "Only the second [2].", [A, B, C])])

    assert texts == ["Only the second [1]."]
    assert sources == [B]


def test_merge_collapses_a_repeated_number_in_one_group() -> None:
    shared_url = Source(url=A["url"], title="A again")

    texts, sources = merge_sections([section(0, "Both [1, 2].", [A, shared_url])])

    assert texts == ["Both [1]."]
    assert sources == [A]


def test_failed_section_contributes_no_text_and_no_sources() -> None:
    ok = section(0, "Fine [1].", [A])
    failed = section(1, "Should not appear [1].", [D], status="failed")
    after = section(2, "Also fine [1].", [C])

    texts, sources = merge_sections([ok, failed, after])

    assert texts == ["Fine [1].", "", "Also fine [2]."]
    assert sources == [A, C]


# --- format_sources ----------------------------------------------------------


def test_format_sources_lines() -> None:
    untitled = Source(url="https://example.test/untitled", title="")

    text = format_sources([A, B, untitled])

    # One paragraph per source, so Markdown viewers keep them on separate lines.
    assert text.split("\n\n") == [
        "## Sources",
        "[1] Source A — https://example.test/a",
        "[2] Source B — https://example.test/b",
        "[3] https://example.test/untitled — https://example.test/untitled",
    ]


def test_format_sources_when_nothing_was_cited() -> None:
    assert format_sources([]) == "## Sources\n\nNo sources were cited."


def test_source_titles_cannot_inject_markdown() -> None:
    hostile = Source(
        url="https://example.test/x", title="Click ](javascript:alert(1)) ![i](http://evil/p.png)"
    )

    text = format_sources([hostile])

    line = text.split("\n\n")[1]
    assert not re.search(r"(?<!\\)\]\(", line), "a link can still be formed from the title"
    assert not re.search(r"(?<!\\)!(?<!\\)\[", line), "an image can still be formed"
    assert line.endswith("— https://example.test/x")
