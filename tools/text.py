"""Text helpers shared by every package: short lines for people."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator


def brief(text: object, limit: int = 300) -> str:
    """``text`` on one line, cut at ``limit`` characters with an ellipsis."""
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def size_text(n: int) -> str:
    """``5242880`` -> ``"5 MB"``, ``100000`` -> ``"97.7 KB"``, ``12`` -> ``"12 bytes"``."""
    if n >= 1 << 20:
        return f"{n / (1 << 20):.3g} MB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.3g} KB"
    return f"{n} bytes"


def network_cause(exc: BaseException) -> str | None:
    """The root cause of a failed connection in a few words ("connection refused", "host
    name not found", TLS), following ``__cause__``/``__context__``; None if none is known."""
    for cur in exception_chain(exc):
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, ssl.SSLCertVerificationError):
            return "its TLS certificate is not valid"
        if isinstance(cur, ssl.SSLError):
            return "TLS failed"
        if isinstance(cur, socket.gaierror):
            return "host name not found"
    return None


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what led to it: each one's ``__cause__``, else its ``__context__``, each
    exception once (langchain-openai 1.7 raises errors that are their own ``__cause__``:
    their ``__context__`` is followed instead)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        following = cur.__cause__
        cur = cur.__context__ if following is None or id(following) in seen else following
