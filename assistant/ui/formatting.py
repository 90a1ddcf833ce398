"""Markdown for the chat: plans, approval requests, worker results, the report.

Pure functions of the engine's data, so they are tested without a server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_SOURCE_LINE = re.compile(r"^\[(\d+)\] (.*) — (https?://\S+)$")


def escape(text: str) -> str:
    """``text`` safe inside Markdown link text and emphasis."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", " ".join(str(text).split()))


def plural(count: int, word: str) -> str:
    """``1 section``, ``3 sections``, ``2 web searches``."""
    if count == 1:
        return f"{count} {word}"
    return f"{count} {word}{'es' if word.endswith(('s', 'sh', 'ch', 'x')) else 's'}"


def plan_markdown(args: Mapping[str, Any]) -> str:
    """A research plan (the ``research`` approval's arguments), section by section."""
    sections: Sequence[Mapping[str, Any]] = args.get("sections") or []
    queries = sum(len(s.get("queries") or []) for s in sections)
    summary = f"{plural(len(sections), 'section')}, {plural(queries, 'web search')}"
    topic = args.get("topic")
    lines = [
        f"### Research plan: {escape(args.get('title') or topic or 'untitled')}",
        "",
        f"Topic: *{escape(topic)}* · {summary}" if topic else summary.capitalize(),
        "",
    ]
    for number, section in enumerate(sections, 1):
        name, description = (
            escape(section.get("name") or ""),
            escape(section.get("description") or ""),
        )
        searches = ", ".join(f"`{q}`" for q in section.get("queries") or [])
        lines.append(f"{number}. **{name}** — {description}  ")
        lines.append(f"   Searches: {searches}")
    return "\n".join(lines).rstrip() + "\n"


def tool_request_markdown(name: str, args: Mapping[str, Any]) -> str:
    """An ordinary tool call waiting for approval."""
    arguments = json.dumps(dict(args), indent=2, ensure_ascii=False)
    return f"The assistant wants to run **{escape(name)}** with:\n\n```json\n{arguments}\n```"


def sources_markdown(sources: Sequence[Mapping[str, str]]) -> str:
    """A bulleted list of links."""
    return "\n".join(
        f"- [{escape(s.get('title') or s['url'])}]({s['url']})" for s in sources if s.get("url")
    )


def progress(written: int, total: int) -> str:
    """Live progress of the research workers."""
    return f"{written} of {plural(total, 'section')} written"


def report_for_chat(markdown: str) -> str:
    """The report with its ``## Sources`` lines turned into a numbered list of links.

    The saved ``.md`` keeps the engine's plain ``[n] Title — URL`` lines; in the chat a
    list of links reads better (single newlines would otherwise run together).
    """
    head, marker, tail = markdown.partition("## Sources")
    if not marker:
        return markdown
    lines = []
    for line in tail.splitlines():
        found = _SOURCE_LINE.match(line.strip())
        if found:
            number, title, url = found.groups()
            lines.append(f"{number}. [{escape(title)}]({url})")
        else:
            lines.append(line)
    return head + marker + "\n".join(lines).rstrip() + "\n"


def brief(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut at ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
