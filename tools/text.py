"""One text helper shared by every package."""

from __future__ import annotations


def brief(text: object, limit: int = 300) -> str:
    """``text`` on one line, cut at ``limit`` characters with an ellipsis."""
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
