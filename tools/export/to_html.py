"""The document tree as one standalone, escaped HTML page (also the PDF's input).

Every piece of text and every attribute is escaped here; the tree holds no markup. The page
loads nothing: no script, no image, no stylesheet or font from outside, and a
Content-Security-Policy that forbids all of them in case a viewer ever finds one.
"""

from __future__ import annotations

from html import escape
from itertools import groupby

from tools.export.document import Block, Span

FONTS = '"DejaVu Sans", "Noto Sans", "Segoe UI", Calibri, Arial, sans-serif'
MONO = '"DejaVu Sans Mono", "Noto Sans Mono", Consolas, "Courier New", monospace'

CSS = f"""
html {{ font-family: {FONTS}; font-size: 11pt; line-height: 1.5; color: #1b1b1b; }}
body {{ max-width: 46em; margin: 2em auto; padding: 0 1em; }}
h1 {{ font-size: 1.8em; line-height: 1.25; margin: 0 0 .6em; }}
h2 {{ font-size: 1.35em; margin: 1.4em 0 .5em; }}
h3, h4, h5, h6 {{ font-size: 1.1em; margin: 1.2em 0 .4em; }}
a {{ color: #0b57a4; overflow-wrap: anywhere; }}
a.cite {{ text-decoration: none; }}
code, pre {{ font-family: {MONO}; font-size: .9em; }}
pre {{ white-space: pre-wrap; background: #f4f4f4; padding: .6em .8em; }}
blockquote {{ margin: 1em 0; padding: .1em 1em; border-left: 3px solid #c8c8c8; color: #444; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #c8c8c8; padding: .3em .6em; text-align: left; vertical-align: top; }}
hr {{ border: 0; border-top: 1px solid #c8c8c8; margin: 1.5em 0; }}
p.source {{ margin: .3em 0; overflow-wrap: anywhere; }}
@page {{ size: A4; margin: 2cm 2cm 2.2cm;
  @bottom-center {{ content: counter(page) " / " counter(pages); font-size: 9pt; color: #777; }} }}
@media print {{
  body {{ max-width: none; margin: 0; padding: 0; }}
  h2, h3 {{ break-after: avoid; }}
}}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def render(blocks: list[Block], *, title: str) -> str:
    """A complete HTML5 document for ``blocks``."""
    body = "\n".join(_block(block) for block in blocks)
    return (
        "<!DOCTYPE html>\n"
        '<html>\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(' '.join(title.split()))}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _block(block: Block) -> str:
    anchor = f' id="{escape(block.anchor)}"' if block.anchor else ""
    if block.kind == "heading":
        level = min(max(block.level, 1), 6)
        return f"<h{level}{anchor}>{_spans(block.spans)}</h{level}>"
    if block.kind == "paragraph":
        css = ' class="source"' if block.anchor else ""
        return f"<p{anchor}{css}>{_spans(block.spans)}</p>"
    if block.kind in ("bullets", "numbers"):
        items = "\n".join(f"<li{_item_anchor(item)}>{_item(item)}</li>" for item in block.items)
        if block.kind == "bullets":
            return f"<ul>\n{items}\n</ul>"
        start = f' start="{block.start}"' if block.start != 1 else ""
        return f"<ol{start}>\n{items}\n</ol>"
    if block.kind == "quote":
        inner = "\n".join(_block(child) for item in block.items for child in item)
        return f"<blockquote>\n{inner}\n</blockquote>"
    if block.kind == "code":
        return f"<pre><code>{escape(block.spans[0].text if block.spans else '')}</code></pre>"
    if block.kind == "rule":
        return "<hr>"
    return _table(block)


def _item_anchor(blocks: list[Block]) -> str:
    # A one-paragraph item is drawn without its <p>: the <li> carries the paragraph's id.
    anchor = blocks[0].anchor if len(blocks) == 1 and blocks[0].kind == "paragraph" else None
    return f' id="{escape(anchor)}"' if anchor else ""


def _item(blocks: list[Block]) -> str:
    # A tight list item is one paragraph: render it without <p> margins.
    if len(blocks) == 1 and blocks[0].kind == "paragraph":
        return _spans(blocks[0].spans)
    return "\n".join(_block(child) for child in blocks)


def _table(block: Block) -> str:
    rows = []
    for number, row in enumerate(block.rows):
        cell = "th" if number == 0 else "td"
        rows.append("<tr>" + "".join(f"<{cell}>{_spans(c)}</{cell}>" for c in row) + "</tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _spans(spans: list[Span]) -> str:
    out = []
    for (href, anchor), group in groupby(spans, key=lambda span: (span.href, span.anchor)):
        inner = "".join(_span(span) for span in group)
        if href:
            out.append(f'<a href="{escape(href)}" rel="noopener noreferrer nofollow">{inner}</a>')
        elif anchor:
            out.append(f'<a class="cite" href="#{escape(anchor)}">{inner}</a>')
        else:
            out.append(inner)
    return "".join(out)


def _span(span: Span) -> str:
    if span.is_break:
        return "<br>"
    text = escape(span.text)
    if span.code:
        text = f"<code>{text}</code>"
    if span.strike:
        text = f"<s>{text}</s>"
    if span.italic:
        text = f"<em>{text}</em>"
    if span.bold:
        text = f"<strong>{text}</strong>"
    return text
