"""The document tree as a Word file, built paragraph by paragraph with python-docx.

Styles come from python-docx's own template (Title, Heading 1-9, List Bullet/Number, Quote,
Table Grid); its theme fonts, Cambria for text and Calibri for headings, carry Latin and
Greek glyphs in Word, and LibreOffice substitutes their metric twins (Caladea, Carlito) or
DejaVu. Links are real hyperlinks; a citation ``[n]`` jumps to a bookmark on Sources
entry ``[n]``; each numbered list starts at its own first number.
"""

from __future__ import annotations

import io
from dataclasses import replace
from itertools import groupby
from typing import Any

from tools.export.document import Block, Span

LINK_COLOR = "0B57A4"
MONO_FONT = "Consolas"


def render(blocks: list[Block], *, title: str) -> bytes:
    """A .docx file for ``blocks``."""
    from docx import Document

    document = Document()
    document.core_properties.title = " ".join(title.split())
    writer = _Writer(document)
    for index, block in enumerate(blocks):
        writer.block(block, is_title=index == 0 and block.kind == "heading" and block.level == 1)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


class _Writer:
    def __init__(self, document: Any) -> None:
        self.document = document
        self.bookmarks = 0

    def block(
        self, block: Block, *, depth: int = 0, style: str | None = None, is_title: bool = False
    ) -> None:
        if block.kind == "heading":
            level = 0 if is_title else min(max(block.level, 1), 9)
            paragraph = self.document.add_heading("", level=level)
            self.spans(paragraph, block.spans)
        elif block.kind == "paragraph":
            paragraph = self.document.add_paragraph(style=style)
            self.spans(paragraph, block.spans)
            if block.anchor:
                self.bookmark(paragraph, block.anchor)
        elif block.kind in ("bullets", "numbers"):
            self.list_block(block, depth)
        elif block.kind == "quote":
            for item in block.items:
                for child in item:
                    self.block(child, depth=depth, style="Quote")
        elif block.kind == "code":
            self.code(block.spans[0].text if block.spans else "")
        elif block.kind == "rule":
            self.rule()
        else:
            self.table(block)

    def list_block(self, block: Block, depth: int) -> None:
        numbered = block.kind == "numbers"
        suffix = "" if depth == 0 else f" {min(depth + 1, 3)}"
        style = ("List Number" if numbered else "List Bullet") + suffix
        num_id = self.restart(style, block.start) if numbered else None
        for item in block.items:
            for position, child in enumerate(item):
                if position == 0 and child.kind == "paragraph":
                    paragraph = self.document.add_paragraph(style=style)
                    if num_id is not None:
                        _set_num(paragraph, num_id)
                    self.spans(paragraph, child.spans)
                    if child.anchor:
                        self.bookmark(paragraph, child.anchor)
                elif child.kind in ("bullets", "numbers"):
                    self.list_block(child, depth + 1)
                else:
                    continued = "List Continue" + ("" if depth == 0 else f" {min(depth + 1, 3)}")
                    self.block(child, depth=depth + 1, style=continued)

    def restart(self, style: str, start: int) -> int:
        """A new numbering instance for ``style`` that starts at ``start``."""
        numbering = self.document.part.numbering_part.element
        style_num = self.document.styles[style].element.pPr.numPr.numId.val
        abstract = numbering.num_having_numId(style_num).abstractNumId.val
        num = numbering.add_num(abstract)
        num.add_lvlOverride(ilvl=0).add_startOverride(start)
        return int(num.numId)

    def spans(self, paragraph: Any, spans: list[Span]) -> None:
        for (href, anchor), group in groupby(spans, key=lambda span: (span.href, span.anchor)):
            runs = [self.run(paragraph, span, linked=bool(href or anchor)) for span in group]
            if href or anchor:
                _hyperlink(paragraph, runs, href=href, anchor=anchor and _bookmark_name(anchor))

    def run(self, paragraph: Any, span: Span, *, linked: bool) -> Any:
        run = paragraph.add_run()
        if span.is_break:
            run.add_break()
            return run
        run.text = span.text
        if span.bold:
            run.bold = True
        if span.italic:
            run.italic = True
        if span.strike:
            run.font.strike = True
        if span.code:
            run.font.name = MONO_FONT
        if linked:
            from docx.shared import RGBColor

            run.font.color.rgb = RGBColor.from_string(LINK_COLOR)
            run.font.underline = span.href is not None
        return run

    def bookmark(self, paragraph: Any, anchor: str) -> None:
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        self.bookmarks += 1
        start, end = OxmlElement("w:bookmarkStart"), OxmlElement("w:bookmarkEnd")
        start.set(qn("w:id"), str(self.bookmarks))
        start.set(qn("w:name"), _bookmark_name(anchor))
        end.set(qn("w:id"), str(self.bookmarks))
        paragraph._p.insert(1 if paragraph._p.pPr is not None else 0, start)
        paragraph._p.append(end)

    def code(self, text: str) -> None:
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn
        from docx.shared import Pt

        paragraph = self.document.add_paragraph()
        for number, line in enumerate(text.split("\n")):
            run = paragraph.add_run(line)
            run.font.name = MONO_FONT
            run.font.size = Pt(9.5)
            if number:
                run._r.insert(run._r.index(run._r.find(qn("w:t"))), OxmlElement("w:br"))
        shading = OxmlElement("w:shd")
        shading.set(qn("w:val"), "clear")
        shading.set(qn("w:fill"), "F4F4F4")
        paragraph._p.get_or_add_pPr().append(shading)

    def rule(self) -> None:
        from docx.oxml import OxmlElement
        from docx.oxml.ns import qn

        paragraph = self.document.add_paragraph()
        borders, bottom = OxmlElement("w:pBdr"), OxmlElement("w:bottom")
        for name, value in (("val", "single"), ("sz", "6"), ("space", "1"), ("color", "C8C8C8")):
            bottom.set(qn(f"w:{name}"), value)
        borders.append(bottom)
        paragraph._p.get_or_add_pPr().append(borders)

    def table(self, block: Block) -> None:
        if not block.rows:
            return
        columns = max(len(row) for row in block.rows)
        table = self.document.add_table(rows=len(block.rows), cols=columns)
        table.style = self.document.styles["Table Grid"]
        for r, row in enumerate(block.rows):
            for c, cell in enumerate(row):
                paragraph = table.cell(r, c).paragraphs[0]
                spans = [replace(s, bold=True) for s in cell] if r == 0 else cell
                self.spans(paragraph, spans)


def _set_num(paragraph: Any, num_id: int) -> None:
    paragraph._p.get_or_add_pPr().get_or_add_numPr().get_or_add_numId().val = num_id


def _bookmark_name(anchor: str) -> str:
    # Word bookmark names: a letter first, then letters, digits and underscores.
    return anchor.replace("-", "_")


def _hyperlink(paragraph: Any, runs: list[Any], *, href: str | None, anchor: str | None) -> None:
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    link = OxmlElement("w:hyperlink")
    if href:
        link.set(qn("r:id"), paragraph.part.relate_to(href, RELATIONSHIP_TYPE.HYPERLINK, True))
    elif anchor:
        link.set(qn("w:anchor"), anchor)
    runs[0]._r.addprevious(link)
    for run in runs:
        link.append(run._r)
