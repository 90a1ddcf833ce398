"""Export timings: ``python -m bench.export_bench`` converts a 20-page report to every format.

The report is shaped like the research graph's: a title, an introduction, sections with
cited paragraphs and lists, and a numbered Sources list. Prints the median of a few runs.
"""

from __future__ import annotations

import statistics
import sys
import time

from tools.export import FORMATS, export_report

SECTIONS = 15
SOURCES = 40

_SENTENCES = [
    "Tidal forces arise from the difference in the Moon's pull across the Earth's diameter",
    "Spring tides occur near new and full moon, when solar and lunar forces align",
    "In the Bay of Fundy the range exceeds 16 m, among the largest measured anywhere",
    "Ocean basins resonate, so local ranges depend strongly on coastline geometry",
    "Ελληνικά κείμενα: η παλίρροια είναι η περιοδική άνοδος της στάθμης της θάλασσας",
    "Measurements from Kraków, Tromsø and Straßburg show é, ø, ß and ł survive export",
    "Harmonic analysis splits the signal into constituents such as M2, S2 and K1",
    "Friction in shallow seas slowly transfers angular momentum from Earth to the Moon",
]


def sample_report(sections: int = SECTIONS, sources: int = SOURCES) -> str:
    """A research-style report of about 20 A4 pages with the defaults."""
    parts = ["# How tides work: a survey", _paragraph(0, sources)]
    for s in range(1, sections + 1):
        parts.append(f"## Section {s}: aspect {s} of the tides")
        for p in range(4):
            parts.append(_paragraph(s * 10 + p, sources))
        parts.append("\n".join(f"- point {i} about **aspect {s}** [{i}]" for i in range(1, 5)))
        parts.append(
            "\n".join(f"{i}. step {i}, see https://example.org/s{s}/{i}" for i in range(1, 4))
        )
    parts.append("## Sources")
    parts.append(
        "\n\n".join(
            f"[{n}] Source {n} — https://example.org/source/{n}" for n in range(1, sources + 1)
        )
    )
    return "\n\n".join(parts) + "\n"


def _paragraph(seed: int, sources: int) -> str:
    sentences = []
    for i in range(9):
        text = _SENTENCES[(seed + i) % len(_SENTENCES)]
        cite = (seed * 7 + i * 3) % sources + 1
        emphasis = f"*{text}*" if i % 4 == 1 else text
        sentences.append(f"{emphasis} [{cite}].")
    return " ".join(sentences)


def main() -> None:
    """Print the median conversion time per format and the PDF's page count."""
    markdown = sample_report()
    print(f"report: {len(markdown):,} characters")
    for fmt in FORMATS:
        export_report(markdown, fmt, title="warm-up")  # imports, font cache
        times = []
        for _ in range(5):
            started = time.perf_counter()
            data = export_report(markdown, fmt, title="How tides work")
            times.append(time.perf_counter() - started)
        extra = ""
        if fmt == ".pdf":
            from io import BytesIO

            from pypdf import PdfReader

            extra = f", {len(PdfReader(BytesIO(data)).pages)} pages"
        print(
            f"{fmt:6} median {statistics.median(times) * 1000:8.1f} ms, {len(data):,} bytes{extra}"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
