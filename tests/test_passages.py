"""Passages: splitting along paragraphs, BM25 ranking within a budget, fairness, speed."""

from __future__ import annotations

import random
import time

from tools.extract import Segment
from tools.passages import Passage, SourceText, estimate_tokens, select_passages, split_passages

TIDES = (
    "The Moon's gravity pulls the oceans into two bulges, and as the Earth turns beneath them "
    "each coast sees two high tides and two low tides roughly every day."
)
DISTRACTORS = (
    "Sourdough bread needs a lively starter, a long cold fermentation and a very hot oven.",
    "The committee postponed the vote on the new budget until after the summer recess.",
    "Marathon runners train by slowly increasing their weekly mileage over several months.",
    "Jazz musicians often improvise over the chord changes of well known standards.",
)


def filler(seed: int, words: int) -> str:
    """Deterministic text with no query terms in it."""
    rng = random.Random(seed)
    vocab = [f"lorem{i}" for i in range(300)]
    return " ".join(rng.choice(vocab) for _ in range(words)) + "."


def source(id: str, *paragraphs: str, page: int | None = None) -> SourceText:
    return SourceText(id, [Segment(page, "\n".join(paragraphs))])


def test_paragraphs_are_grouped_into_passages_of_about_the_target_size() -> None:
    paragraphs = [filler(i, 50) for i in range(12)]  # 600 words
    passages = split_passages("s", [Segment(None, "\n".join(paragraphs))], words=160)
    sizes = [len(p.text.split()) for p in passages]
    assert sum(sizes) == 600
    assert all(80 <= n <= 240 for n in sizes)
    assert [p.index for p in passages] == list(range(len(passages)))
    # paragraphs stay whole: every passage is a run of complete paragraphs
    for p in passages:
        assert all(line in paragraphs for line in p.text.split("\n"))


def test_a_long_paragraph_is_cut_between_sentences_and_never_mid_word() -> None:
    sentences = [f"Sentence {i} says something about tides and the Moon." for i in range(60)]
    passages = split_passages("s", [Segment(None, " ".join(sentences))], words=50)
    assert len(passages) > 5
    words = [w for p in passages for w in p.text.split()]
    assert words == " ".join(sentences).split()
    assert all(p.text.endswith(".") for p in passages)


def test_a_sentence_longer_than_a_passage_is_cut_between_words() -> None:
    words = [f"word{i}" for i in range(500)]
    passages = split_passages("s", [Segment(None, " ".join(words))], words=100)
    assert [w for p in passages for w in p.text.split()] == words
    assert max(len(p.text.split()) for p in passages) <= 150


def test_passages_keep_their_source_and_pdf_page() -> None:
    segments = [Segment(1, filler(1, 30)), Segment(2, filler(2, 30))]
    passages = split_passages("report.pdf", segments)
    assert [(p.source_id, p.page) for p in passages] == [("report.pdf", 1), ("report.pdf", 2)]


def test_the_relevant_passage_wins_among_distractors() -> None:
    sources = [source(f"d{i}", text) for i, text in enumerate(DISTRACTORS)]
    sources.insert(2, source("tides", TIDES))
    chosen = select_passages("why are there two high tides a day?", sources, budget_tokens=45)
    assert [p.source_id for p in chosen] == ["tides"]


def test_the_budget_is_respected() -> None:
    sources = [source(f"s{i}", *(filler(i * 10 + j, 60) for j in range(10))) for i in range(8)]
    sources[3] = source("s3", *(f"{filler(j, 40)} tides moon {j}" for j in range(10)))
    counts = []
    for budget in (20, 300, 1000, 3000):
        chosen = select_passages("moon tides", sources, budget_tokens=budget, words=60)
        assert sum(p.tokens for p in chosen) <= budget
        counts.append(len(chosen))
    assert counts[0] == 0  # no passage fits in 20 tokens: nothing, rather than a torn one
    assert 0 < counts[1] < counts[2] < counts[3]


def test_every_source_gets_its_best_passage_before_any_gets_a_second() -> None:
    strong = source("strong", *(f"Tides tides tides and the Moon, part {i}." for i in range(8)))
    weak = source("weak", filler(1, 40), "A single mention of tides here.", filler(2, 40))
    chosen = select_passages("tides moon", [strong, weak], budget_tokens=60, words=10)
    assert {p.source_id for p in chosen} == {"strong", "weak"}
    assert any("single mention" in p.text for p in chosen)


def test_result_is_grouped_by_source_in_document_order() -> None:
    a = source("a", *(f"{filler(i, 30)} tides" for i in range(6)))
    b = source("b", *(f"{filler(i + 50, 30)} tides moon" for i in range(6)))
    chosen = select_passages("tides moon", [a, b], budget_tokens=2000, words=30)
    keys = [(p.source_id, p.index) for p in chosen]
    assert keys == sorted(keys)
    assert chosen[0].source_id == "a"  # the caller's order, not the score order


def test_passages_that_do_not_match_are_left_out() -> None:
    chosen = select_passages(
        "tides", [source("x", TIDES, *DISTRACTORS)], budget_tokens=10_000, words=20
    )
    assert chosen and all("tides" in p.text for p in chosen)


def test_the_same_text_on_two_sites_is_taken_once() -> None:
    chosen = select_passages("tides", [source("a", TIDES), source("b", TIDES)], 10_000)
    assert len(chosen) == 1


def test_selection_is_deterministic() -> None:
    sources = [
        source(f"s{i}", *(f"{filler(i * 7 + j, 40)} tides" for j in range(5))) for i in range(5)
    ]
    runs = {tuple(select_passages("tides", sources, 500, words=40)) for _ in range(3)}
    assert len(runs) == 1


def test_nothing_to_rank_gives_nothing() -> None:
    assert select_passages("tides", [], 1000) == []
    assert select_passages("tides", [source("a", "")], 1000) == []
    assert select_passages("tides", [source("a", TIDES)], 0) == []


def test_token_estimate_is_about_four_characters_per_token() -> None:
    assert estimate_tokens("x" * 400) == 100
    assert Passage("s", None, 0, "abcde").tokens == 2


def test_ranking_50_pages_of_20_passages_is_fast() -> None:
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(5000)]
    vocab += ["moon", "tide", "tides", "ocean", "gravity", "spring", "neap", "bay"]

    def paragraph() -> str:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(40, 120))) + "."

    pages = [source(f"https://s{i}.test/", *(paragraph() for _ in range(40))) for i in range(50)]
    count = sum(len(split_passages(p.id, p.segments)) for p in pages)
    assert count >= 1000
    select_passages("warm up", pages[:1], 100)  # imports
    took = []
    for _ in range(5):
        start = time.process_time()  # CPU time: other processes on the machine do not count
        chosen = select_passages("why do spring tides follow the moon", pages, 4000)
        took.append(time.process_time() - start)
    assert chosen
    assert min(took) < 0.1, f"{count} passages ranked in {min(took) * 1000:.0f} ms"
