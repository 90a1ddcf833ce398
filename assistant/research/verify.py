"""Claim verification: every cited sentence is checked against the source it cites.

``citations.py`` makes sure a citation points to a source the search returned; this module
checks that the source says what the sentence claims. One model call per section judges
every (claim, cited source) pair and must quote the supporting words; code then confirms
that each quote really is in that source, so the verifier cannot invent support. A claim
with no confirmed support is removed or visibly flagged; a claim supported by some of its
citations keeps those and loses the others.

The model is injected as ``ask(schema, prompt)``: in production
``lambda schema, prompt: models.structured(schema, prompt, name)``, in tests a fake.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from assistant import prompts
from assistant.errors import describe

Mode = Literal["remove", "mark", "off"]
Ask = Callable[[type[BaseModel], str], Awaitable[BaseModel]]

MARKER = " ⚠️ *(unverified)*"
"""Appended to a kept but unverified sentence: reads well in Markdown, HTML, PDF and DOCX."""
MAX_SOURCE_CHARS = 8000
"""Each source's text is cut to this length in the prompt (quotes are checked in full)."""
MIN_QUOTE_CHARS = 8
MIN_QUOTE_WORDS = 2
SHORT_SENTENCE = 80

_CITATION = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\](?!\()")
_CITATIONS_AFTER = re.compile(r"(?:[ \t]*\[\d+(?:\s*[,;]\s*\d+)*\](?!\())+")
_CLOSERS = "\"'”’»)*_"
_BLOCK_START = re.compile(r"[ \t]*(?:>[ \t]*)*(?:[-*+][ \t]+|\d{1,9}[.)][ \t]+)?")
_HEADING = re.compile(r"[ \t]{0,3}#{1,6}(?:[ \t]|$)")
_NEW_BLOCK = re.compile(r"[ \t]*(?:>|[-*+][ \t]|\d{1,9}[.)][ \t]|#{1,6}[ \t]|```|~~~)")
_ABBREVIATIONS = frozenset({
    "e.g", "i.e", "cf", "vs", "viz", "al", "approx", "ca", "c", "mr", "mrs", "ms", "dr", "prof",
    "sr", "jr", "st", "fig", "figs", "eq", "vol", "pp", "p", "ed", "eds", "inc", "ltd", "co",
    "corp", "dept", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "u.s", "u.k", "u.n", "e.u", "a.m", "p.m", "ph.d",
})  # fmt: skip
"""Words whose dot does not end a sentence, even before a capital ("e.g. Paris")."""
_ELLIPSIS = re.compile(r"\[?(?:\.\s*\.\s*\.|…)\]?")
_FOLD = str.maketrans(
    {"‘": "'", "’": "'", "‚": "'", "‛": "'", "“": '"', "”": '"', "„": '"', "«": '"', "»": '"',
     "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "−": "-"}
)  # fmt: skip


@dataclass(frozen=True)
class Claim:
    """A sentence that cites sources: ``text == section[start:end]``."""

    id: int
    text: str
    citations: tuple[int, ...]
    start: int
    end: int


@dataclass(frozen=True)
class Finding:
    """A claim or citation that was not supported, and why."""

    sentence: str
    """The sentence, shortened."""
    citations: tuple[int, ...]
    """The unsupported citations."""
    reason: str
    """One line a person understands: "source [3] does not mention the 1998 figure"."""
    whole_sentence: bool
    """True: the sentence was removed (or flagged); False: only these citations were dropped."""

    def __str__(self) -> str:
        cited = "".join(f"[{n}]" for n in self.citations)
        what = "" if self.whole_sentence else "citation dropped: "
        return f'"{self.sentence}" {cited} {what}{self.reason}'


@dataclass(frozen=True)
class Verified:
    """A section after verification."""

    text: str
    checked: int
    """Cited claims in the section."""
    supported: int
    """Claims with at least one citation confirmed by a real quote."""
    removed: tuple[Finding, ...] = ()
    """Sentences removed, and citations dropped from supported sentences."""
    marked: tuple[Finding, ...] = ()
    """Sentences kept but flagged as unverified (mode "mark")."""
    unavailable: str | None = None
    """Why verification could not run; the text is then unchanged."""
    mode: Mode = "remove"

    def record(self) -> dict[str, Any]:
        """The figures and findings as plain data (saved with the section; no text)."""
        return {
            "mode": self.mode,
            "checked": self.checked,
            "supported": self.supported,
            "removed": [_finding_record(f) for f in self.removed],
            "marked": [_finding_record(f) for f in self.marked],
            "unavailable": self.unavailable,
        }

    @classmethod
    def from_record(cls, data: Mapping[str, Any], text: str = "") -> Verified:
        """Back from ``record()`` (saved data is checked: it may come from an older version)."""
        mode = data.get("mode")
        return cls(
            text,
            checked=int(data.get("checked") or 0),
            supported=int(data.get("supported") or 0),
            removed=tuple(_finding(f) for f in data.get("removed") or ()),
            marked=tuple(_finding(f) for f in data.get("marked") or ()),
            unavailable=data.get("unavailable") or None,
            mode=mode if mode in ("remove", "mark", "off") else "remove",
        )


def _finding_record(finding: Finding) -> dict[str, Any]:
    return {
        "sentence": finding.sentence,
        "citations": list(finding.citations),
        "reason": finding.reason,
        "whole_sentence": finding.whole_sentence,
    }


def _finding(data: Mapping[str, Any]) -> Finding:
    return Finding(
        str(data.get("sentence", "")),
        tuple(int(n) for n in data.get("citations") or ()),
        str(data.get("reason", "")),
        bool(data.get("whole_sentence", True)),
    )


class _NoVerdicts(Exception):
    """The verifier answered, but about none of the claims it was asked about."""


class CitationVerdict(BaseModel):
    """The verifier's judgement of one cited source for one claim."""

    claim: int = Field(description="The claim's number, as given in the list of claims.")
    source: int = Field(description="The number of the cited source this verdict is about.")
    supported: bool = Field(description="True only if this source states what the claim says.")
    quote: str = Field(
        description="If supported: the supporting words copied exactly from the source. "
        "Empty otherwise."
    )
    reason: str = Field(
        description="If not supported: one short line for a reader, such as 'source [3] does "
        "not mention the 1998 figure'. Empty otherwise."
    )


class SectionVerdicts(BaseModel):
    """The verifier's structured output: one verdict per claim and cited source."""

    verdicts: list[CitationVerdict] = Field(
        description="One verdict for every claim and every source that claim cites."
    )


# --- claims ------------------------------------------------------------------------------------


def extract_claims(text: str) -> list[Claim]:
    """Every sentence of ``text`` that cites at least one source, in order."""
    claims: list[Claim] = []
    for start, end in _sentences(text):
        numbers = _cited(text[start:end])
        if numbers:
            claims.append(Claim(len(claims) + 1, text[start:end], numbers, start, end))
    return claims


def _cited(sentence: str) -> tuple[int, ...]:
    numbers: list[int] = []
    for match in _CITATION.finditer(sentence):
        for part in re.split(r"\s*[,;]\s*", match.group(1)):
            if int(part) not in numbers:
                numbers.append(int(part))
    return tuple(numbers)


def _sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text``; a sentence never crosses a block boundary."""
    spans: list[tuple[int, int]] = []
    for start, end in _blocks(text):
        spans.extend(_split_block(text, start, end))
    return spans


def _blocks(text: str) -> list[tuple[int, int]]:
    """Paragraphs, list items, quote lines and headings, without their Markdown markers.

    Code fences are skipped: nothing in them is a claim.
    """
    blocks: list[tuple[int, int]] = []
    joinable = False  # whether the next line may continue the current block
    fenced = False
    position = 0
    for line in text.splitlines(keepends=True):
        body_end = position + len(line.rstrip("\r\n"))
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            fenced, joinable = not fenced, False
        elif fenced or not stripped or _HEADING.match(line):
            joinable = False  # headings are titles, not claims
        elif joinable and not _NEW_BLOCK.match(line):
            blocks[-1] = (blocks[-1][0], body_end)
        else:
            marker = _BLOCK_START.match(line)
            blocks.append((position + (marker.end() if marker else 0), body_end))
            joinable = True
        position += len(line)
    return [(start, end) for start, end in blocks if start < end]


def _split_block(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    sentence_start = start
    i = start
    while i < end:
        if text[i] not in ".!?…":
            i += 1
            continue
        stop = i
        while stop < end and text[stop] in ".!?…":
            stop += 1
        if text[i] == "." and stop == i + 1 and not _may_end_sentence(text, sentence_start, i):
            i = stop
            continue
        while stop < end and text[stop] in _CLOSERS:
            stop += 1
        if match := _CITATIONS_AFTER.match(text, stop, end):
            stop = match.end()
        following = text[stop:end]
        if stop == end or (following[:1].isspace() and not following.lstrip()[:1].islower()):
            spans.append((sentence_start, stop))
            sentence_start = stop + len(following) - len(following.lstrip())
            i = sentence_start
        else:
            i = stop
    if sentence_start < end and text[sentence_start:end].strip():
        spans.append((sentence_start, len(text[:end].rstrip())))
    return spans


def _may_end_sentence(text: str, start: int, dot: int) -> bool:
    """False for the dot of "e.g.", "Dr.", "J." or "3." inside a number like "3.5"."""
    if dot + 1 < len(text) and text[dot + 1].isdigit():
        return False  # a decimal point
    word_match = re.search(r"[\w.]*$", text[start:dot])
    word = word_match.group(0) if word_match else ""
    if len(word) == 1 and word.isupper():
        return False  # an initial: "J. Smith"
    return word.lower().strip(".") not in _ABBREVIATIONS


# --- verification ------------------------------------------------------------------------------


async def verify_section(
    text: str, sources: Mapping[int, str], ask: Ask, *, mode: Mode = "remove"
) -> Verified:
    """Check every cited claim of ``text`` against ``sources`` (number -> source text).

    One ``ask`` call for the whole section. ``mode`` "remove" drops unsupported sentences,
    "mark" keeps them flagged with :data:`MARKER`, "off" makes no call and changes nothing.
    If the call fails or its answer is malformed, the text is returned unchanged with
    ``unavailable`` saying why.
    """
    if mode == "off":
        return Verified(text, checked=0, supported=0, mode=mode)
    claims = extract_claims(text)
    if not claims:
        return Verified(text, checked=0, supported=0, mode=mode)
    askable = [c for c in claims if any(_has_text(sources, n) for n in c.citations)]
    verdicts: dict[tuple[int, int], list[CitationVerdict]] = {}
    if askable:
        try:
            answer = await ask(SectionVerdicts, _prompt(askable, sources))
            verdicts = _index(_validated(answer), {c.id for c in askable})
        except ValidationError as exc:
            return _unavailable(
                text, len(claims), mode, f"its answer was malformed ({_first(exc)})"
            )
        except _NoVerdicts:
            why = "its answer had no verdict for any claim"
            return _unavailable(text, len(claims), mode, why)
        except Exception as exc:  # the verifier failing must not lose the section
            return _unavailable(text, len(claims), mode, f"the verifier failed: {describe(exc)}")
    return _apply(text, claims, sources, verdicts, mode)


def _has_text(sources: Mapping[int, str], number: int) -> bool:
    return bool((sources.get(number) or "").strip())


def _prompt(claims: Sequence[Claim], sources: Mapping[int, str]) -> str:
    listed = "\n".join(
        f"Claim {c.id} (cites {', '.join(f'[{n}]' for n in c.citations)}): "
        f"{' '.join(c.text.split())}"
        for c in claims
    )
    cited = sorted({n for c in claims for n in c.citations if _has_text(sources, n)})
    texts = "\n\n".join(f"Source [{n}]:\n{sources[n].strip()[:MAX_SOURCE_CHARS]}" for n in cited)
    return prompts.VERIFIER.format(claims=listed, sources=texts)


def _validated(answer: object) -> SectionVerdicts:
    if isinstance(answer, SectionVerdicts):
        return answer
    if isinstance(answer, BaseModel):
        answer = answer.model_dump()
    return SectionVerdicts.model_validate(answer)


def _index(answer: SectionVerdicts, ids: set[int]) -> dict[tuple[int, int], list[CitationVerdict]]:
    verdicts: dict[tuple[int, int], list[CitationVerdict]] = {}
    for verdict in answer.verdicts:
        if verdict.claim in ids:
            verdicts.setdefault((verdict.claim, verdict.source), []).append(verdict)
    if not verdicts:
        raise _NoVerdicts
    return verdicts


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "answer"
    return f"{where}: {error['msg']}"


def _unavailable(text: str, checked: int, mode: Mode, why: str) -> Verified:
    return Verified(text, checked=checked, supported=0, unavailable=why, mode=mode)


def _judge(
    claim: Claim,
    number: int,
    sources: Mapping[int, str],
    verdicts: dict[tuple[int, int], list[CitationVerdict]],
) -> str | None:
    """None if citation ``number`` supports ``claim`` with a real quote, else the reason."""
    if number not in sources:
        return f"source [{number}] was not among the section's sources"
    if not _has_text(sources, number):
        return f"source [{number}] has no text to check against"
    given = verdicts.get((claim.id, number))
    if not given:
        return f"the verifier gave no verdict for source [{number}]"
    reasons = []
    for verdict in given:
        if not verdict.supported:
            reasons.append(_one_line(verdict.reason) or f"source [{number}] does not support it")
        elif not verdict.quote.strip():
            reasons.append(f"no supporting words were quoted from source [{number}]")
        elif not quote_in_source(verdict.quote, sources[number]):
            reasons.append(f"the words quoted as support are not in source [{number}]")
        else:
            return None
    return reasons[0]


def _apply(
    text: str,
    claims: list[Claim],
    sources: Mapping[int, str],
    verdicts: dict[tuple[int, int], list[CitationVerdict]],
    mode: Mode,
) -> Verified:
    removed: list[Finding] = []
    marked: list[Finding] = []
    supported = 0
    for claim in reversed(claims):  # from the end, so earlier spans stay valid
        judged = {n: _judge(claim, n, sources, verdicts) for n in claim.citations}
        bad = tuple(n for n, reason in judged.items() if reason is not None)
        reasons = "; ".join(dict.fromkeys(r for r in judged.values() if r is not None))
        if len(bad) < len(claim.citations):
            supported += 1
            if bad:
                kept = _drop_citations(claim.text, set(bad))
                text = text[: claim.start] + kept + text[claim.end :]
                removed.append(Finding(_shorten(claim.text), bad, reasons, whole_sentence=False))
        elif mode == "mark":
            text = text[: claim.end] + MARKER + text[claim.end :]
            marked.append(Finding(_shorten(claim.text), bad, reasons, whole_sentence=True))
        else:
            text = _remove_span(text, claim.start, claim.end)
            removed.append(Finding(_shorten(claim.text), bad, reasons, whole_sentence=True))
    if any(finding.whole_sentence for finding in removed):
        text = _tidy_blank_lines(text)
    return Verified(
        text,
        checked=len(claims),
        supported=supported,
        removed=tuple(reversed(removed)),
        marked=tuple(reversed(marked)),
        mode=mode,
    )


def _drop_citations(sentence: str, bad: set[int]) -> str:
    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
        kept = [n for n in numbers if n not in bad]
        return f"[{', '.join(str(n) for n in kept)}]" if kept else ""

    cleaned = _CITATION.sub(keep, sentence)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    return re.sub(r"[ \t]{2,}", " ", cleaned).rstrip()


def _remove_span(text: str, start: int, end: int) -> str:
    after = end
    while after < len(text) and text[after] in " \t":
        after += 1
    before = start
    if after == end or after == len(text) or text[after] == "\n":
        while before > 0 and text[before - 1] in " \t":
            before -= 1
    text = text[:before] + text[after:]
    # A list item or quote line left with nothing but its marker goes too.
    line_start = text.rfind("\n", 0, before) + 1
    line_end = text.find("\n", before)
    line_end = len(text) if line_end < 0 else line_end
    if re.fullmatch(r"[ \t]*(?:>[ \t]*)*(?:[-*+]|\d{1,9}[.)])?[ \t]*", text[line_start:line_end]):
        text = text[:line_start] + text[min(line_end + 1, len(text)) :]
    return text


def _tidy_blank_lines(text: str) -> str:
    return re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", text).strip()


def _shorten(sentence: str) -> str:
    flat = re.sub(r" ([.,;:!?])", r"\1", " ".join(_CITATION.sub("", sentence).split()))
    return flat if len(flat) <= SHORT_SENTENCE else flat[: SHORT_SENTENCE - 1].rstrip() + "…"


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- quotes ------------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Text for quote matching: case, quotes, dashes, punctuation and spacing folded."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    # Punctuation becomes a space, except the point or comma inside a number ("3.5").
    text = re.sub(r"(?<!\d)[.,]|[.,](?!\d)|[^\w.,]", " ", text)
    return " ".join(text.split())


def quote_in_source(quote: str, source: str) -> bool:
    """Whether ``quote`` really occurs in ``source``.

    Tolerates differences of case, whitespace, quote marks, dashes and punctuation, and an
    ellipsis ("...", "…", "[…]") between passages, which must then occur in order. A quote
    shorter than two words or eight characters proves nothing and is refused.
    """
    fragments = [normalise(part) for part in _ELLIPSIS.split(quote)]
    fragments = [part for part in fragments if part]
    words = sum(len(part.split()) for part in fragments)
    if words < MIN_QUOTE_WORDS or sum(len(part) for part in fragments) < MIN_QUOTE_CHARS:
        return False
    haystack = f" {normalise(source)} "
    position = 0
    for part in fragments:
        found = haystack.find(f" {part} ", position)
        if found < 0:
            return False
        position = found + len(part) + 1
    return True


# --- the report's closing line -------------------------------------------------------------------


def summary_line(results: Iterable[Verified]) -> str:
    """The report's closing line, e.g. "Checked 24 cited claims: 22 supported, 2 removed."."""
    results = list(results)
    done = [r for r in results if r.unavailable is None and r.mode != "off"]
    missing = [r for r in results if r.unavailable is not None]
    if results and all(r.mode == "off" for r in results):
        return "Cited claims were not checked against their sources."
    checked = sum(r.checked for r in done)
    supported = sum(r.supported for r in done)
    dropped = sum(1 for r in done for f in r.removed if not f.whole_sentence)
    if checked:
        line = f"Checked {checked} cited claim{'s' if checked != 1 else ''}: {supported} supported"
        if any(r.mode == "mark" for r in done):
            flagged = sum(1 for r in done for f in r.marked if f.whole_sentence)
            line += f", {flagged} flagged as unverified"
        else:
            gone = sum(1 for r in done for f in r.removed if f.whole_sentence)
            line += f", {gone} removed"
        if dropped:
            line += f"; {dropped} unsupported citation{'s' if dropped != 1 else ''} dropped"
        line += "."
    elif done or not missing:
        line = "No cited claims to check."
    else:
        line = ""
    if missing:
        count = len(missing)
        line += (
            f" Verification was unavailable for {count} section{'s' if count != 1 else ''} "
            f"({missing[0].unavailable})."
        )
    return line.strip()
