"""Passages, not pages: the parts of many sources that matter to a question, within a budget.

``split_passages`` cuts a source's text into passages of about ``words`` words along paragraph
(then sentence, then word) boundaries, each remembering its source and PDF page.
``select_passages`` ranks the passages of all sources against a query with BM25 (bm25s) and keeps
the best that fit a token budget: each source's best passage first (every source gets a fair
chance), then the rest by score. The result is grouped by source, in the order the sources were
given, and in document order within each source, so a prompt built from it reads naturally.
Deterministic: equal scores fall back to position.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tools.extract import Segment

__all__ = [
    "Passage",
    "Segment",
    "SourceText",
    "bm25_scores",
    "estimate_tokens",
    "select_passages",
    "split_passages",
]

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_PUNCTUATION = str.maketrans(dict.fromkeys(string.punctuation + "“”‘’«»„‚‹›—–…·•¡¿", " "))


@dataclass(frozen=True)
class SourceText:
    """A source's extracted text: ``id`` is what citations use (a URL, a file name)."""

    id: str
    segments: Sequence[Segment]


@dataclass(frozen=True)
class Passage:
    """A few paragraphs of one source; ``index`` is its position in that source."""

    source_id: str
    page: int | None
    index: int
    text: str

    @property
    def tokens(self) -> int:
        """Estimated prompt tokens (about four characters each)."""
        return estimate_tokens(self.text)


def estimate_tokens(text: str) -> int:
    """A cheap token estimate: one per four characters, at least one for non-empty text."""
    return math.ceil(len(text) / 4)


def _pieces(line: str, words: int) -> Iterator[tuple[str, int]]:
    """A paragraph as ``(text, word count)`` pieces of at most ``words`` words: whole if it fits,
    else whole sentences, else runs of whole words. Whitespace runs become one space."""
    tokens = line.split()
    if len(tokens) <= words:
        if tokens:
            yield " ".join(tokens), len(tokens)
        return
    for sentence in _SENTENCE_END.split(" ".join(tokens)):
        tokens = sentence.split()
        for start in range(0, len(tokens), words):
            chunk = tokens[start : start + words]
            if chunk:
                yield " ".join(chunk), len(chunk)


def _group(pieces: Iterator[tuple[str, int]], words: int) -> list[str]:
    """Join consecutive pieces into passages of about ``words`` words (between half and one and
    a half times that), never splitting a piece."""
    low, high = words // 2, words + words // 2
    passages: list[tuple[list[str], int]] = []
    current: list[str] = []
    count = 0
    for text, n in pieces:
        if current and count + n > words and (count >= low or count + n > high):
            passages.append((current, count))
            current, count = [], 0
        current.append(text)
        count += n
    if current:
        if passages and count < low // 2 and passages[-1][1] + count <= high:
            passages[-1][0].extend(current)  # a short tail joins the passage before it
        else:
            passages.append((current, count))
    return ["\n".join(parts) for parts, _ in passages]


def split_passages(source_id: str, segments: Sequence[Segment], words: int = 160) -> list[Passage]:
    """Cut each segment (a PDF page, a whole page) into passages of about ``words`` words.

    Paragraphs (lines) stay whole when they fit; longer ones are cut between sentences, and a
    sentence longer than ``words`` between words. Passages never span two segments.
    """
    if words < 2:
        raise ValueError("words must be at least 2")
    out: list[Passage] = []
    for seg in segments:
        pieces = (piece for line in seg.text.split("\n") for piece in _pieces(line, words))
        for text in _group(pieces, words):
            out.append(Passage(source_id, seg.page, len(out), text))
    return out


def _words(text: str) -> list[str]:
    """Lower-cased words, punctuation removed (C-speed string methods, no per-word Python)."""
    return text.lower().translate(_PUNCTUATION).split()


def bm25_scores(query: str, texts: list[str]) -> list[float]:
    """BM25 (bm25s, Lucene variant) score of each text for ``query`` (English stop words and
    one-letter words dropped from the query).

    Only the query's terms matter to the scores, so each text is indexed as its query terms plus
    one shared placeholder for every other word: the texts keep their true lengths (BM25's length
    normalisation) while the index is as small as the query. Same scores as a full index.
    """
    import bm25s
    from bm25s.stopwords import STOPWORDS_EN

    stop = frozenset(STOPWORDS_EN)
    terms = [w for w in dict.fromkeys(_words(query)) if len(w) > 1 and w not in stop]
    if not terms:
        return [0.0] * len(texts)
    wanted = dict(zip(terms, range(1, len(terms) + 1), strict=True))
    corpus: list[list[int]] = []
    for text in texts:
        words = _words(text)
        ids = [0] * len(words)  # 0: any word that is not a query term
        at = 0
        for term in wanted.keys() & words:  # usually none or a few: count only those
            n = words.count(term)
            ids[at : at + n] = [wanted[term]] * n
            at += n
        corpus.append(ids)
    vocab = {"": 0, **wanted}
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenization.Tokenized(corpus, vocab), show_progress=False)
    return [float(s) for s in retriever.get_scores(list(wanted.values()))]


def select_passages(
    query: str,
    sources: Sequence[SourceText],
    budget_tokens: int,
    *,
    words: int = 160,
) -> list[Passage]:
    """The passages of ``sources`` most relevant to ``query`` that fit ``budget_tokens``.

    First each source's best passage, best sources first, while they fit; then the remaining
    passages that match the query at all, by score. Passages repeating one already chosen (the
    same text syndicated on two sites) are skipped. Returned grouped by source in the given order,
    in document order within a source.
    """
    passages = [p for s in sources for p in split_passages(s.id, s.segments, words)]
    if not passages or budget_tokens <= 0:
        return []
    scores = bm25_scores(query, [p.text for p in passages])
    order = {s.id: i for i, s in reversed(list(enumerate(sources)))}  # first occurrence wins

    def rank(i: int) -> tuple[float, int, int]:
        return (-scores[i], order[passages[i].source_id], passages[i].index)

    best: dict[str, int] = {}
    for i in sorted(range(len(passages)), key=rank):
        best.setdefault(passages[i].source_id, i)
    firsts = sorted(best.values(), key=rank)
    rest = [i for i in sorted(range(len(passages)), key=rank) if scores[i] > 0]

    chosen: list[int] = []
    seen: set[str] = set()
    left = budget_tokens
    for i in [*firsts, *rest]:
        key = " ".join(passages[i].text.casefold().split())
        cost = passages[i].tokens
        if key in seen or cost > left:
            continue
        seen.add(key)
        chosen.append(i)
        left -= cost
    chosen.sort(key=lambda i: (order[passages[i].source_id], passages[i].index))
    return [passages[i] for i in chosen]
