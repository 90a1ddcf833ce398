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
