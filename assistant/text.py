"""Small text helpers shared by the engine and its faces: one copy of each.

``safe_markdown`` is the filter every piece of Markdown from a model or a web page goes
through before a person sees it: images are never loaded (they become their alt text, so a
prompt-injected page cannot send data out through an image URL) and links keep only
http, https and mailto targets. Code spans and fenced code are left as they are.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

from tools.text import brief

__all__ = ["brief", "escape", "escape_code", "is_web_url", "link_target", "plural", "safe_markdown"]

SAFE_SCHEMES = ("http", "https", "mailto")

_FENCE = re.compile(r"(^|\n)(```|~~~)[^\n]*\n.*?(\n\2[ \t]*(?=\n|$)|$)", re.S)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_IMAGE = re.compile(r"!\[((?:[^\[\]\\]|\\.)*)\]\s*(\((?:[^()\\]|\\.|\([^()]*\))*\)|\[[^\]]*\])")
_LINK = re.compile(
    r"(?<!\!)\[((?:[^\[\]\\]|\\.|\[[^\]]*\])*)\]"
    r"\([ \t]*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:[ \t]+\"[^\"]*\")?[ \t]*\)"
)
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]{1,31}:[^>\s]*)>")
_REFERENCE = re.compile(r"^[ ]{0,3}\[[^\]]+\]:[ \t]*<?([^\s>]+)>?(?:[ \t]+.*)?$", re.M)
_HTML_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:[\s/][^>\n]*)?>")


def plural(count: int, word: str) -> str:
    """``1 section``, ``3 sections``, ``2 web searches``."""
    if count == 1:
        return f"{count} {word}"
    if word.endswith("y") and word[-2:-1] not in tuple("aeiou"):
        return f"{count} {word[:-1]}ies"
    return f"{count} {word}{'es' if word.endswith(('s', 'sh', 'ch', 'x')) else 's'}"


def escape(text: str) -> str:
    """``text`` on one line, safe inside Markdown emphasis and link text."""
    return re.sub(r"([\\`*_\[\]<>#|!])", r"\\\1", " ".join(str(text).split()))


def escape_code(text: str) -> str:
    """``text`` safe inside an inline code span."""
    return " ".join(str(text).split()).replace("`", "'")


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def link_target(url: str) -> str:
    """``url`` safe as a Markdown link target (spaces and brackets percent-encoded)."""
    return quote(url.strip(), safe=":/?#[]@!$&'*+,;=%~-._").replace("(", "%28").replace(")", "%29")


def _safe_target(url: str) -> bool:
    scheme = urlsplit(url.strip()).scheme.lower() if ":" in url else ""
    if not scheme:
        return url.startswith(("#", "/")) and not url.startswith("//")
    return scheme in SAFE_SCHEMES


def _clean_prose(text: str) -> str:
    def image(match: re.Match[str]) -> str:
        alt = match.group(1).strip()
        return f"[image: {alt}]" if alt else "[image]"

    def link(match: re.Match[str]) -> str:
        return match.group(0) if _safe_target(match.group(2)) else match.group(1)

    def autolink(match: re.Match[str]) -> str:
        return match.group(0) if _safe_target(match.group(1)) else match.group(1)

    def reference(match: re.Match[str]) -> str:
        return match.group(0) if _safe_target(match.group(1)) else ""

    text = _IMAGE.sub(image, text)
    text = _LINK.sub(link, text)
    text = _AUTOLINK.sub(autolink, text)
    text = _REFERENCE.sub(reference, text)
    return _HTML_TAG.sub(lambda m: m.group(0).replace("<", "&lt;"), text)


def safe_markdown(text: str) -> str:
    """``text`` with images unloaded and unsafe links made plain (code left untouched)."""
    out: list[str] = []
    position = 0
    for fence in _FENCE.finditer(text):
        out.append(_clean_spans(text[position : fence.start()]))
        out.append(fence.group(0))
        position = fence.end()
    out.append(_clean_spans(text[position:]))
    return "".join(out)


def _clean_spans(text: str) -> str:
    out: list[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(text):
        out.append(_clean_prose(text[position : span.start()]))
        out.append(span.group(0))
        position = span.end()
    out.append(_clean_prose(text[position:]))
    return "".join(out)
