"""What a research run shows while it works: one live board and a nested step per piece.

The board lists every section with its state; it is rebuilt from what is saved when a run
continues after a stop or a crash, so sections finished before are counted, and named as
kept, instead of being forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from typing import Any

from assistant.events import Activity, Progress, ProgressItem, State
from assistant.research.schemas import Plan, SectionPlan, SectionResult, Source
from assistant.text import brief, escape, escape_code, link_target, plural

PLAN_KEY = "plan"
WRITING_KEY = "writing"


def section_key(index: int) -> str:
    """The activity key of section ``index``."""
    return f"section:{index}"


def section_title(index: int, total: int, name: str) -> str:
    """ "Section 2 of 5: Costs"."""
    return f"Section {index + 1} of {total}: {name}"


def plan_title(revision: int) -> str:
    """ "Plan", then "Plan, revision 2"..."""
    return "Plan" if revision <= 1 else f"Plan, revision {revision}"


def plan_brief(plan: Plan) -> str:
    """The plan step's text when the question below it shows the plan in full."""
    queries = sum(len(s.queries) for s in plan.sections)
    return (
        f"{plural(len(plan.sections), 'section')}, {plural(queries, 'web search')}: "
        "see the plan below."
    )


def plan_markdown(plan: Plan, topic: str, revision: int = 1) -> str:
    """The plan as a person reads it, section by section."""
    queries = sum(len(s.queries) for s in plan.sections)
    lines = [
        f"### {escape(plan.title)}",
        "",
        f"Topic: *{escape(topic)}* · {plural(len(plan.sections), 'section')}, "
        f"{plural(queries, 'web search')}" + (f" · revision {revision}" if revision > 1 else ""),
        "",
    ]
    for number, section in enumerate(plan.sections, 1):
        searches = ", ".join(f"`{escape_code(q)}`" for q in section.queries)
        lines.append(f"{number}. **{escape(section.name)}** — {escape(section.description)}  ")
        lines.append(f"   Searches: {searches}")
    return "\n".join(lines).rstrip() + "\n"


def section_text(section: SectionPlan, result: SectionResult | None = None, note: str = "") -> str:
    """A section step's text: its searches, then what came of them (what was read, which
    sources it was written from, what the check of its claims removed and why)."""
    text = "Searches: " + ", ".join(f"`{escape_code(q)}`" for q in section.queries)
    if result is not None:
        text += "\n\n" + "\n\n".join(_outcome(result))
    if note:
        text += f"\n\n{note}"
    return text


def _outcome(result: SectionResult) -> list[str]:
    parts = []
    read, fallbacks = result.get("read"), result.get("fallbacks") or []
    if read is not None or fallbacks:
        line = f"Read {plural(read or 0, 'page')} in full"
        if fallbacks:
            line += f"; {plural(len(fallbacks), 'page')} could not be read, so its search "
            line += "snippet was used instead:"
            line += "".join(f"\n- {escape(item)}" for item in fallbacks)
        parts.append(line if fallbacks else line + ".")
    if result.get("via"):
        parts.append("Search answered by " + ", then ".join(map(escape, result["via"])) + ".")
    if result["status"] != "ok":
        parts.append(f"Could not be written: {escape(result['error'] or 'unknown reason')}")
        return parts
    links = "\n".join(f"- {source_link(s)}" for s in result["sources"])
    parts.append(f"Written from {plural(len(result['sources']), 'source')}:\n\n{links}")
    if result["removed"]:
        removed = "\n".join(f"- {escape(item)}" for item in result["removed"])
        parts.append(f"Removed because no source backs it:\n\n{removed}")
    verified = result.get("verification")
    if verified:
        parts.append(_checked(verified))
    return parts


def source_link(source: Source) -> str:
    """A source as a Markdown list item's text: a link to the page, or the document's name."""
    if not source["url"]:
        return escape(source["title"])
    return f"[{escape(source['title'] or source['url'])}]({link_target(source['url'])})"


def _checked(verified: dict[str, Any]) -> str:
    """What the claim check of one section found, with the reason for each finding."""
    if verified.get("mode") == "off":
        return "Cited claims were not checked (ASSISTANT_VERIFY=off)."
    if verified.get("unavailable"):
        return f"Cited claims could not be checked: {escape(verified['unavailable'])}."
    checked, supported = int(verified.get("checked", 0)), int(verified.get("supported", 0))
    line = f"Checked {plural(checked, 'cited claim')} against the sources: {supported} supported."
    lines = [line]
    for label, key in (("Removed", "removed"), ("Flagged as unverified", "marked")):
        for finding in verified.get(key) or []:
            cited = "".join(f"[{n}]" for n in finding.get("citations", []))
            what = label if finding.get("whole_sentence", True) else f"Citation {cited} dropped"
            lines.append(
                f"- {what}: “{escape(finding.get('sentence', ''))}” — "
                f"{escape(finding.get('reason', ''))}"
            )
    return "\n".join(lines)


def section_note(result: SectionResult) -> str:
    """A section's line on the board: its sources and removals, or why it failed."""
    if result["status"] != "ok":
        return brief(result["error"] or "", 80)
    note = plural(len(result["sources"]), "source")
    verified = result.get("verification") or {}
    claims = sum(1 for f in verified.get("removed") or [] if f.get("whole_sentence", True))
    flagged = len(verified.get("marked") or [])
    if result["removed"]:
        note += f", {plural(len(result['removed']), 'citation')} removed"
    if claims:
        note += f", {plural(claims, 'unsupported claim')} removed"
    if flagged:
        note += f", {plural(flagged, 'claim')} flagged"
    return note


def report_text(summary: str, verdict: str, sections: Sequence[SectionResult]) -> str:
    """The "Writing the report" step once done: the figures, then every claim the check
    removed or flagged, by section, with the reason."""
    lines = [summary]
    if verdict:
        lines.append(escape(verdict))
    for result in sections:
        verified = result.get("verification") or {}
        findings = [*(verified.get("removed") or []), *(verified.get("marked") or [])]
        if findings:
            lines.append(f"**{escape(result['name'])}**\n" + _checked(verified).split("\n", 1)[1])
    return "\n\n".join(lines)


class Board:
    """The live state of every section of one run."""

    def __init__(
        self, call_id: str, title: str, names: Sequence[str], kept: Collection[int] = ()
    ) -> None:
        """Sections in ``kept`` finished in an earlier, interrupted run."""
        self.call_id = call_id
        self.title = title
        self.started_at = time.time()
        self.items = [
            ProgressItem(name, State.KEPT if i in kept else State.WAITING)
            for i, name in enumerate(names)
        ]

    def set(self, index: int, state: State, note: str = "") -> Progress:
        """Change one section's state; the whole board, as an event."""
        if 0 <= index < len(self.items):
            self.items[index] = ProgressItem(self.items[index].label, state, note)
        return self.event()

    def event(self, note: str = "") -> Progress:
        """The board now."""
        return Progress(self.call_id, self.title, tuple(self.items), self.started_at, note)


def final_board(
    call_id: str, title: str, plan: Plan, results: Sequence[SectionResult], note: str
) -> Progress:
    """The board once every section has ended."""
    by_index = {r["index"]: r for r in results}
    last = max((r.get("attempt", 0.0) for r in results), default=0.0)
    items = []
    for i, section in enumerate(plan.sections):
        result = by_index.get(i)
        if result is None:
            items.append(ProgressItem(section.name, State.FAILED, "not written"))
        elif result["status"] == "ok":
            earlier = result.get("attempt", last) < last
            state = State.KEPT if result.get("kept") or earlier else State.DONE
            items.append(ProgressItem(section.name, state, section_note(result)))
        else:
            items.append(ProgressItem(section.name, State.FAILED, section_note(result)))
    return Progress(call_id, title, tuple(items), time.time(), note)


def activity(
    call_id: str, key: str, title: str, text: str, state: State = State.RUNNING
) -> Activity:
    """A nested step of the research run."""
    return Activity(call_id, key, title, text, state)
