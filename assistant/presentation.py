"""How every face names the engine's things for a person: one copy, shared.

The chat UI (``assistant.ui``) and the terminal (``assistant.cli``, ``assistant.terminal``)
draw the same events; the words for a progress item's state, the elapsed-time format and
the report as chat Markdown live here so the faces never drift apart. Pure functions of
the engine's data: nothing here imports a UI library.
"""

from __future__ import annotations

import re

from assistant.events import State
from assistant.text import link_target, safe_markdown

ICONS: dict[State, str] = {
    State.WAITING: "⏳",
    State.RUNNING: "⏳",
    State.SEARCHING: "🔎",
    State.READING: "📖",
    State.WRITING: "✍️",
    State.CHECKING: "🧪",
    State.DONE: "✅",
    State.KEPT: "♻️",
    State.FAILED: "⚠️",
    State.DECLINED: "🚫",
    State.STOPPED: "⏹️",
}
"""The browser's icon for each state (emoji)."""

WORDS: dict[State, str] = {
    State.WAITING: "waiting",
    State.RUNNING: "working",
    State.SEARCHING: "searching",
    State.READING: "reading pages",
    State.WRITING: "writing",
    State.CHECKING: "checking claims",
    State.DONE: "done",
    State.KEPT: "kept from before",
    State.FAILED: "failed",
    State.DECLINED: "declined",
    State.STOPPED: "stopped",
}
"""What a person reads for each state, in every face."""

ENDED = frozenset({State.DONE, State.KEPT, State.FAILED, State.DECLINED})
"""States that stay as they are when a run is stopped (the others become ``STOPPED``)."""

_SOURCE_LINE = re.compile(r"^\[(\d+)\] (.*) — (https?://\S+)$")
_DOCUMENT_LINE = re.compile(r"^\[(\d+)\] (.+)$")
"""A source line of a document (no URL): ``[n] notes.pdf, page 2``."""


def elapsed(seconds: float) -> str:
    """``0:42``, ``12:05``."""
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def shown_state(state: State, *, stopped: bool = False) -> State:
    """The state to show: a run that was stopped shows its unfinished items as stopped."""
    return State.STOPPED if stopped and state not in ENDED else state


def report_for_chat(markdown: str) -> str:
    """The report as the chat shows it: safe, each ``[n]`` a link to its source, and the
    ``## Sources`` lines a numbered list of links.

    The stored ``.md`` keeps the engine's plain ``[n] Title — URL`` lines; in the chat a
    list of links reads better (single newlines would otherwise run together).
    """
    head, marker, tail = markdown.partition("## Sources")
    if not marker:
        return safe_markdown(markdown)
    urls: dict[str, str] = {}
    lines = []
    for line in tail.splitlines():
        found = _SOURCE_LINE.match(line.strip())
        document = _DOCUMENT_LINE.match(line.strip())
        if found:
            number, title, url = found.groups()
            urls[number] = url
            lines.append(f"{number}. [{title}]({link_target(url)})")
        elif document:
            lines.append(f"{document.group(1)}. {document.group(2)}")
        else:
            lines.append(line)

    def cite(match: re.Match[str]) -> str:
        url = urls.get(match.group(1))
        return f"[\\[{match.group(1)}\\]]({link_target(url)})" if url else match.group(0)

    body = re.sub(r"(?<!\\)\[(\d+)\](?![(:])", cite, head)
    return safe_markdown(body) + marker + "\n".join(lines).rstrip() + "\n"
