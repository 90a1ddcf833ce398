"""Claim verification: scripted verdicts, quotes checked in code, the section never lost."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from assistant import prompts
from assistant.research.verify import (
    MARKER,
    CitationVerdict,
    Finding,
    SectionVerdicts,
    Verified,
    extract_claims,
    normalise,
    quote_in_source,
    summary_line,
    verify_section,
)

SOURCES = {
    1: "The Bay of Fundy has the highest tides in the world, with a range of up to 16 metres.",
    2: "Spring tides happen when the Sun, Moon and Earth are aligned — at new and full moon.",
    3: "A 2019 survey of 40 gauges found that “mean sea level rose by 3.5 mm per year”.",
}


class FakeVerifier:
    """An ``ask`` that answers with scripted verdicts (or raises) and records its calls."""

    def __init__(self, *verdicts: tuple[int, int, bool, str], answer: Any = None) -> None:
        self.answer = answer
        if answer is None:
            self.answer = SectionVerdicts(
                verdicts=[
                    CitationVerdict(
                        claim=claim,
                        source=source,
                        supported=ok,
                        quote=words if ok else "",
                        reason="" if ok else words,
                    )
                    for claim, source, ok, words in verdicts
                ]
            )
        self.calls: list[tuple[type[BaseModel], str]] = []

    async def __call__(self, schema: type[BaseModel], prompt: str) -> BaseModel:
        self.calls.append((schema, prompt))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer  # type: ignore[no-any-return]


TWO_CLAIMS = "The Bay of Fundy has tides of up to 16 m [1]. Spring tides happen only in winter [2]."


# --- verdicts applied ----------------------------------------------------------------------------


async def test_unsupported_claim_is_removed_and_supported_one_kept() -> None:
    ask = FakeVerifier(
        (1, 1, True, "with a range of up to 16 metres"),
        (2, 2, False, "source [2] says nothing about winter"),
    )
    result = await verify_section(TWO_CLAIMS, SOURCES, ask)

    assert result.text == "The Bay of Fundy has tides of up to 16 m [1]."
    assert (result.checked, result.supported) == (2, 1)
    assert result.removed == (
        Finding(
            "Spring tides happen only in winter.",
            (2,),
            "source [2] says nothing about winter",
            whole_sentence=True,
        ),
    )
    assert result.marked == () and result.unavailable is None
    assert len(ask.calls) == 1  # one batched call for the section


async def test_mark_mode_keeps_the_unsupported_claim_flagged() -> None:
    ask = FakeVerifier(
        (1, 1, True, "with a range of up to 16 metres"),
        (2, 2, False, "source [2] says nothing about winter"),
    )
    result = await verify_section(TWO_CLAIMS, SOURCES, ask, mode="mark")

    assert result.text == TWO_CLAIMS + MARKER
    assert result.text.endswith("only in winter [2]. ⚠️ *(unverified)*")
    assert [f.reason for f in result.marked] == ["source [2] says nothing about winter"]
    assert result.removed == ()


async def test_support_claimed_with_a_quote_not_in_the_source_is_removed() -> None:
    ask = FakeVerifier(
        (1, 1, True, "with a range of up to 16 metres"),
        (2, 2, True, "spring tides only happen in winter"),  # invented
    )
    result = await verify_section(TWO_CLAIMS, SOURCES, ask)

    assert result.text == "The Bay of Fundy has tides of up to 16 m [1]."
    assert result.supported == 1
    assert result.removed[0].reason == "the words quoted as support are not in source [2]"


async def test_support_without_a_quote_is_not_support() -> None:
    ask = FakeVerifier((1, 1, True, "with a range of up to 16 metres"), (2, 2, True, "  "))
    result = await verify_section(TWO_CLAIMS, SOURCES, ask)
    assert result.removed[0].reason == "no supporting words were quoted from source [2]"


async def test_only_the_bad_citation_of_a_supported_sentence_is_dropped() -> None:
    text = "Fundy's range reaches 16 metres [1][2]. Tides align at full moon [1, 2]."
    ask = FakeVerifier(
        (1, 1, True, "a range of up to 16 metres"),
        (1, 2, False, "source [2] is about spring tides, not Fundy"),
        (2, 1, False, "source [1] does not mention the Moon"),
        (2, 2, True, "at new and full moon"),
    )
    result = await verify_section(text, SOURCES, ask)

    assert result.text == "Fundy's range reaches 16 metres [1]. Tides align at full moon [2]."
    assert (result.checked, result.supported) == (2, 2)
    assert [(f.citations, f.whole_sentence) for f in result.removed] == [
        ((2,), False),
        ((1,), False),
    ]


async def test_a_dropped_last_citation_leaves_clean_punctuation() -> None:
    text = "Fundy's range reaches 16 metres [1] [2]. Spring tides are aligned tides [2] [3]."
    ask = FakeVerifier(
        (1, 1, True, "a range of up to 16 metres"),
        (1, 2, False, "off topic"),
        (2, 2, True, "Spring tides happen when the Sun, Moon and Earth are aligned"),
        (2, 3, False, "off topic"),
    )
    result = await verify_section(text, SOURCES, ask)
    assert result.text == (
        "Fundy's range reaches 16 metres [1]. Spring tides are aligned tides [2]."
    )


async def test_citation_of_a_source_the_worker_never_had_is_unsupported() -> None:
    text = "Fundy's range reaches 16 metres [1]. Tides are older than the Moon [7]."
    ask = FakeVerifier((1, 1, True, "a range of up to 16 metres"))
    result = await verify_section(text, SOURCES, ask)

    assert result.text == "Fundy's range reaches 16 metres [1]."
    assert result.removed[0].reason == "source [7] was not among the section's sources"
    assert "[7]" not in ask.calls[0][1].split("Sources:")[1]


async def test_no_model_call_when_no_cited_source_has_text() -> None:
    ask = FakeVerifier()
    result = await verify_section("A claim [9].", SOURCES, ask)
    assert ask.calls == [] and result.text == "" and result.checked == 1


async def test_missing_verdict_means_unsupported() -> None:
    ask = FakeVerifier((1, 1, True, "a range of up to 16 metres"))
    result = await verify_section(TWO_CLAIMS, SOURCES, ask)
    assert result.text == "The Bay of Fundy has tides of up to 16 m [1]."
    assert result.removed[0].reason == "the verifier gave no verdict for source [2]"


async def test_removed_list_items_and_paragraphs_leave_no_empty_markers() -> None:
    text = (
        "Intro sentence with no citation.\n\n"
        "- Fundy has 16 m tides [1]\n"
        "- Tides only happen in winter [2]\n"
        "- Uncited item\n\n"
        "Winter tides are stronger [2].\n\n"
        "Closing paragraph."
    )
    ask = FakeVerifier(
        (1, 1, True, "a range of up to 16 metres"), (2, 2, False, "no"), (3, 2, False, "no")
    )
    result = await verify_section(text, SOURCES, ask)
    assert result.text == (
        "Intro sentence with no citation.\n\n"
        "- Fundy has 16 m tides [1]\n"
        "- Uncited item\n\n"
        "Closing paragraph."
    )


async def test_the_prompt_lists_claims_and_only_cited_sources() -> None:
    ask = FakeVerifier((1, 1, True, "a range of up to 16 metres"), (2, 2, False, "no"))
    await verify_section(TWO_CLAIMS, SOURCES, ask)
    schema, prompt = ask.calls[0]
    assert schema is SectionVerdicts
    assert prompt.startswith(prompts.VERIFIER.split("{claims}")[0])
    assert "Claim 1 (cites [1]): The Bay of Fundy has tides of up to 16 m [1]." in prompt
    assert "Claim 2 (cites [2]): Spring tides happen only in winter [2]." in prompt
    assert "Source [1]:\n" + SOURCES[1] in prompt and "Source [3]" not in prompt
    for field in CitationVerdict.model_fields.values():
        assert field.description  # the model sees what each field means


# --- failures keep the section -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ({"verdicts": [{"claim": "first", "source": 1}]}, "its answer was malformed"),
        ({"verdicts": "none"}, "its answer was malformed"),
        ("not json at all", "its answer was malformed"),
        (SectionVerdicts(verdicts=[]), "no verdict for any claim"),
        (
            SectionVerdicts(
                verdicts=[CitationVerdict(claim=9, source=1, supported=True, quote="", reason="")]
            ),
            "no verdict for any claim",
        ),
        (TimeoutError("slow"), "the verifier failed: An operation timed out"),
        (RuntimeError("boom"), "the verifier failed: Unexpected error: RuntimeError: boom"),
    ],
)
async def test_a_failed_verifier_leaves_the_section_unchanged(answer: Any, why: str) -> None:
    result = await verify_section(TWO_CLAIMS, SOURCES, FakeVerifier(answer=answer))
    assert result.text == TWO_CLAIMS
    assert result.unavailable is not None and why in result.unavailable
    assert result.removed == () and result.marked == ()


async def test_a_dict_shaped_answer_is_accepted() -> None:
    answer = {
        "verdicts": [
            {"claim": 1, "source": 1, "supported": True, "quote": "up to 16 metres", "reason": ""},
            {"claim": 2, "source": 2, "supported": False, "quote": "", "reason": "not winter"},
        ]
    }
    result = await verify_section(TWO_CLAIMS, SOURCES, FakeVerifier(answer=answer))
    assert result.text == "The Bay of Fundy has tides of up to 16 m [1]."


async def test_mode_off_makes_no_call_and_changes_nothing() -> None:
    ask = FakeVerifier(answer=RuntimeError("must not be called"))
    result = await verify_section(TWO_CLAIMS, SOURCES, ask, mode="off")
    assert ask.calls == []
    assert result == Verified(TWO_CLAIMS, checked=0, supported=0, mode="off")


async def test_a_section_without_citations_needs_no_call() -> None:
    ask = FakeVerifier(answer=RuntimeError("must not be called"))
    result = await verify_section("Nothing cited here. Nor here.", SOURCES, ask)
    assert ask.calls == [] and result.text == "Nothing cited here. Nor here."


# --- sentences ---------------------------------------------------------------------------------


def claims_of(text: str) -> list[tuple[str, tuple[int, ...]]]:
    found = extract_claims(text)
    for claim in found:
        assert text[claim.start : claim.end] == claim.text
    return [(claim.text, claim.citations) for claim in found]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Tides vary, e.g. in Brest the range is 8 m [1]. Uncited. Next [2].",
            [("Tides vary, e.g. in Brest the range is 8 m [1].", (1,)), ("Next [2].", (2,))],
        ),
        (
            "The range is 3.5 m on average [2][3]. It was 2.75 m in 1998 [1, 3].",
            [
                ("The range is 3.5 m on average [2][3].", (2, 3)),
                ("It was 2.75 m in 1998 [1, 3].", (1, 3)),
            ],
        ),
        (
            "See https://example.org/tides.v2/index.html for data [1]. More at www.x.org [2].",
            [
                ("See https://example.org/tides.v2/index.html for data [1].", (1,)),
                ("More at www.x.org [2].", (2,)),
            ],
        ),
        (
            "The gauge failed in March.[2] A new one was fitted. [3] Then it worked [1].",
            [
                ("The gauge failed in March.[2]", (2,)),
                ("A new one was fitted. [3]", (3,)),
                ("Then it worked [1].", (1,)),
            ],
        ),
        (
            "Dr. Smith et al. measured it [4]. J. Doe agreed (see Fig. 2) [1].",
            [
                ("Dr. Smith et al. measured it [4].", (4,)),
                ("J. Doe agreed (see Fig. 2) [1].", (1,)),
            ],
        ),
        (
            "- First item [1]\n- Second item. Its second sentence [2].\n"
            "1. Numbered [3]\n2) Other [1]",
            [
                ("First item [1]", (1,)),
                ("Its second sentence [2].", (2,)),
                ("Numbered [3]", (3,)),
                ("Other [1]", (1,)),
            ],
        ),
        (
            "A sentence that wraps\nonto a second line [1]. Is it? Yes [2]!\n\n> Quoted claim [3].",
            [
                ("A sentence that wraps\nonto a second line [1].", (1,)),
                ("Yes [2]!", (2,)),
                ("Quoted claim [3].", (3,)),
            ],
        ),
        (
            '**Bold claim.** [1] He said "it rose." [2] A [link](https://a.b) is no citation.',
            [("**Bold claim.** [1]", (1,)), ('He said "it rose." [2]', (2,))],
        ),
        (
            "## A heading [1]\n\n```\ncode [2]. more\n```\nText [3]",
            [("Text [3]", (3,))],
        ),
        ("Repeated [1] and again [1].", [("Repeated [1] and again [1].", (1,))]),
        ("No citations here. None at all.", []),
    ],
)
def test_sentence_splitting(text: str, expected: list[tuple[str, tuple[int, ...]]]) -> None:
    assert claims_of(text) == expected


def test_claims_are_numbered_in_order() -> None:
    assert [c.id for c in extract_claims("A [1]. B. C [2]. D [3].")] == [1, 2, 3]


# --- quotes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "quote",
    [
        "the highest tides in the world",
        "The  Highest\nTides in the World.",
        '"the highest tides in the world"',
        "Sun, Moon and Earth are aligned - at new and full moon",
        "Sun, Moon and Earth are aligned -- at new and full moon",
        "mean sea level rose by 3.5 mm per year",
        "A 2019 survey ... rose by 3.5 mm per year",
        "A 2019 survey […] 3.5 mm per year",
        "survey of 40 gauges found that 'mean sea level rose",
    ],
)
def test_real_quotes_are_found_with_tolerance(quote: str) -> None:
    assert quote_in_source(quote, SOURCES[1] + " " + SOURCES[2] + " " + SOURCES[3])


@pytest.mark.parametrize(
    "quote",
    [
        "the highest tides in Europe",
        "rose by 35 mm per year",  # a decimal point is not punctuation to ignore
        "rose by 3.5 mm per decade",
        "per year ... A 2019 survey",  # passages out of order
        "highest",  # too short to prove anything
        "the",
        "",
        "the high",  # a word cut in half is not the word
    ],
)
def test_invented_or_empty_quotes_are_refused(quote: str) -> None:
    assert not quote_in_source(quote, SOURCES[1] + " " + SOURCES[3])


def test_normalise_folds_case_quotes_dashes_and_space() -> None:
    assert normalise("“Ελληνικά”  — Straße\n3.5, 4") == "ελληνικά strasse 3.5 4"


# --- closing line ------------------------------------------------------------------------------


def finding(whole: bool) -> Finding:
    return Finding("s", (1,), "r", whole_sentence=whole)


def test_summary_line_remove_and_mark() -> None:
    results = [
        Verified("a", checked=20, supported=19, removed=(finding(True),)),
        Verified("b", checked=4, supported=3, removed=(finding(True),)),
    ]
    assert summary_line(results) == "Checked 24 cited claims: 22 supported, 2 removed."
    marked = [Verified("a", 24, 22, marked=(finding(True), finding(True)), mode="mark")]
    assert summary_line(marked) == "Checked 24 cited claims: 22 supported, 2 flagged as unverified."


def test_summary_line_mentions_dropped_citations_and_unavailable_sections() -> None:
    results = [
        Verified("a", checked=5, supported=5, removed=(finding(False),)),
        Verified("b", checked=3, supported=0, unavailable="the verifier failed: timeout"),
    ]
    assert summary_line(results) == (
        "Checked 5 cited claims: 5 supported, 0 removed; 1 unsupported citation dropped. "
        "Verification was unavailable for 1 section (the verifier failed: timeout)."
    )


def test_summary_line_edge_cases() -> None:
    assert summary_line([Verified("a", 1, 1)]) == "Checked 1 cited claim: 1 supported, 0 removed."
    assert summary_line([Verified("a", 0, 0)]) == "No cited claims to check."
    off = [Verified("a", 0, 0, mode="off")]
    assert summary_line(off) == "Cited claims were not checked against their sources."
