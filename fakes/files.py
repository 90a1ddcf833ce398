"""Small generated files for tests and benchmarks (no binary fixtures in the repository)."""

from __future__ import annotations

from collections.abc import Sequence


def make_pdf(pages: Sequence[str], title: str | None = None) -> bytes:
    """A PDF with one page per string (fpdf2, core Helvetica font: Latin-1 text only)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def make_docx(paragraphs: Sequence[str], heading: str | None = None) -> bytes:
    """A Word document: an optional heading, then one paragraph per string (python-docx)."""
    import io

    from docx import Document

    document = Document()
    if heading:
        document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
