"""Markdown for the chat: the live progress board, notes on decisions (the words for
each state and the report as chat Markdown are shared with the terminal: ``presentation``).

Pure functions of the engine's data, so they are tested without a server. Everything a
model or a web page wrote passes through ``safe_markdown`` before it is shown.
"""

from __future__ import annotations

import json
import re
from typing import Any

from assistant.events import Progress
from assistant.presentation import ICONS, WORDS, elapsed, shown_state
from assistant.presentation import report_for_chat as report_for_chat
from assistant.text import escape, escape_code, plural


def board_markdown(board: Progress, now: float, *, stopped: bool = False) -> str:
    """The live progress of a long tool run, one line per item."""
    total = len(board.items)
    lines = [
        f"**{escape(board.title)}** · {board.finished} of {total} done · "
        f"{elapsed(now - board.started_at)}",
        "",
    ]
    for number, item in enumerate(board.items, 1):
        state = shown_state(item.state, stopped=stopped)
        note = f" — {escape(item.note)}" if item.note else ""
        lines.append(f"{number}. {ICONS[state]} **{escape(item.label)}** · {WORDS[state]}{note}")
    if board.note:
        lines += ["", escape(board.note)]
    return "\n".join(lines)


def decided(decision: str, by_feedback: str | None = None) -> str:
    """The line added under a question once it is answered."""
    return {
        "approve": "**Approved.**",
        "reject": "**Rejected.** Nothing was run.",
        "edit": "**Approved with your changes.**",
        "respond": f"**Sent back with your feedback:** {escape(by_feedback or '')}",
    }[decision]


def count(items: int, word: str) -> str:
    """``3 sections``."""
    return plural(items, word)


def args_markdown(args: dict[str, Any], schema: dict[str, Any] | None = None) -> str:
    """Edited arguments as a person reads them, one line per field; a list of objects as
    a numbered list (each led by its first text field). ``schema``: the form's schema
    (``editor.form_schema``), for the fields' names and order."""
    properties: dict[str, Any] = (schema or {}).get("properties") or {}
    keys = [k for k in properties if k in args] + [k for k in args if k not in properties]
    lines = []
    for key in keys:
        child = properties.get(key) or {}
        label = escape(_label(child, key))
        value = args[key]
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            item_schema = child.get("items") or {}
            lines.append(f"**{label}:**")
            lines += [f"{n}. {_object_line(v, item_schema)}" for n, v in enumerate(value, 1)]
        else:
            lines.append(f"**{label}:** {_value(value)}  ")
    return "\n".join(lines).rstrip()


def _label(schema: dict[str, Any], key: str) -> str:
    title = schema.get("title")
    if isinstance(title, str) and title and not re.match(r"^[A-Z][a-z]+[A-Z]", title):
        return title
    words = re.sub(r"([a-z])([A-Z])", r"\1 \2", key.replace("_", " ").replace("-", " "))
    return words[:1].upper() + words[1:]


def _object_line(value: dict[str, Any], schema: dict[str, Any]) -> str:
    properties: dict[str, Any] = schema.get("properties") or {}
    keys = [k for k in properties if k in value] + [k for k in value if k not in properties]
    parts: list[str] = []
    for key in keys:
        item = value[key]
        if not parts and isinstance(item, str):
            parts.append(f"**{escape(item)}**")
        elif isinstance(item, str) and key == keys[1]:
            parts.append(f"— {escape(item)}")
        else:
            parts.append(f"· {escape(_label(properties.get(key) or {}, key))}: {_value(item)}")
    return " ".join(parts)


def _value(value: Any, listed: bool = False) -> str:
    if isinstance(value, list):
        return ", ".join(_value(v, listed=True) for v in value) if value else "none"
    if isinstance(value, str):
        short = listed and len(value) <= 120 and "\n" not in value
        return f"`{escape_code(value)}`" if short else escape(value)
    if isinstance(value, bool | int | float) or value is None:
        return f"`{json.dumps(value)}`"
    return f"`{escape_code(json.dumps(value, ensure_ascii=False))}`"
