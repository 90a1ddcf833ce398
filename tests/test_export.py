"""Report export: each format opened with its own library, hostile Markdown neutralised."""

from __future__ import annotations

import io
import shutil
import subprocess
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import docx
import pytest
from pypdf import PdfReader

from tools.export import FORMATS, ExportError, export_report, format_for, to_pdf

REPORT = """# Tides: a survey of Ελληνικά sources

Tides are driven by **gravity** and *inertia* [1]. See the [NOAA primer](https://noaa.example/tides)
for diagrams [2][3].

## Causes of tides

The Moon's pull differs across the Earth's diameter, e.g. by about 3.5 % [1, 2].

- Spring tides near new and full moon [2]
- Neap tides at the quarters [3]

## Measurements in Kraków and Tromsø

1. Harmonic analysis of gauges [3]
2. Satellite altimetry over the Straße [1]

Accents: é ø ß ł. Greek: αβγ, Ελληνικά. A citation to nothing stays text [9].

## Sources

[1] Tide basics — https://example.org/tides

[2] Spring & neap — https://example.org/spring

[3] Gauges — https://example.org/gauges
"""

HEADINGS = ["Causes of tides", "Measurements in Kraków and Tromsø", "Sources"]
ITEMS = ["Spring tides near new and full moon", "Neap tides at the quarters",
         "Harmonic analysis of gauges", "Satellite altimetry over the Straße"]  # fmt: skip
SOURCE_LINES = [
    "[1] Tide basics — https://example.org/tides",
    "[2] Spring & neap — https://example.org/spring",
    "[3] Gauges — https://example.org/gauges",
]
INTERNATIONAL = ["é ø ß ł", "αβγ, Ελληνικά", "Kraków", "Tromsø", "Straße"]
TITLE = "Tides: a survey of Ελληνικά sources"


def squash(text: str) -> str:
    return " ".join(text.split())


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [("report.md", ".md"), ("out/Report.HTML", ".html"), (Path("a/b.pdf"), ".pdf"),
     ("x.docx", ".docx")],
)  # fmt: skip
def test_format_for_known_suffixes(path: str | Path, fmt: str) -> None:
    assert format_for(path) == fmt
    assert fmt in FORMATS


@pytest.mark.parametrize("path", ["report.txt", "/tmp/dir/report.txt", "report", "r.pdf.exe"])
def test_format_for_refuses_others_with_one_clear_line(path: str) -> None:
    with pytest.raises(ExportError) as caught:
        format_for(path)
    name = Path(path).name
    assert str(caught.value) == f"{name}: unsupported format; use .md, .html, .pdf or .docx"


def test_export_refuses_unknown_format_and_huge_input() -> None:
    with pytest.raises(ExportError, match="unsupported format"):
        export_report("# x", "odt", title="x")
    with pytest.raises(ExportError, match="too long to export"):
        export_report("x" * 2_000_001, ".html", title="x")


def test_markdown_is_the_report_as_written() -> None:
    assert export_report(REPORT, ".md", title=TITLE).decode() == REPORT
    assert export_report("Body\r\n", "md", title="A title").decode() == "# A title\n\nBody\n"


# --- HTML ----------------------------------------------------------------------------------


class Page(HTMLParser):
    """Every tag and attribute of an HTML page, and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def html_of(markdown: str, title: str = TITLE) -> str:
    return export_report(markdown, ".html", title=title).decode("utf-8")


def test_html_is_a_standalone_document_with_everything() -> None:
    html = html_of(REPORT)
    page = Page(html)
    text = squash("".join(page.text))
    assert html.startswith("<!DOCTYPE html>")
    assert page.all("meta")[0] == {"charset": "utf-8"}
    assert f"<title>{TITLE}</title>" in html
    assert f"<h1>{TITLE}</h1>" in html
    for heading in HEADINGS:
        assert f"<h2>{heading}</h2>" in html
    for item in ITEMS:
        assert item in text
    assert len(page.all("li")) == 4 and len(page.all("ul")) == 1 and len(page.all("ol")) == 1
    assert "<strong>gravity</strong>" in html and "<em>inertia</em>" in html
    hrefs = [a["href"] for a in page.all("a")]
    assert "https://noaa.example/tides" in hrefs
    for line in SOURCE_LINES:
        assert line in text
    for word in INTERNATIONAL:
        assert word in text
    assert not page.all("script") and not page.all("img") and not page.all("link")


def test_html_citations_link_to_their_source_entries() -> None:
    page = Page(html_of(REPORT))
    ids = [attrs["id"] for _, attrs in page.tags if "id" in attrs]
    assert ids == ["source-1", "source-2", "source-3"]
    cites = [a["href"] for a in page.all("a") if a.get("class") == "cite"]
    # [1] [2][3] [1, 2] [2] [3] [3] [1]; [9] has no entry and stays text
    assert cites == [f"#source-{n}" for n in "123122331"]
    assert "[9]" in "".join(page.text)


HOSTILE = """# Hostile

Raw <script>alert('x')</script> and <img src=http://evil.example/a.png onerror=alert(1)>.

<div onclick="alert(1)"><iframe src="http://evil.example/"></iframe></div>

[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) [vb](vbscript:x)
[rel](/etc/passwd) [quote](https://ok.example/"onmouseover="alert(1)) <javascript:alert(2)>

![tracker](http://evil.example/pixel.png) ![](http://evil.example/empty.png)

[ref]: javascript:alert(3)

A [reference][ref] link and `<b>code</b>`.
"""

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "a",
                "strong", "em", "code", "pre", "s", "ul", "ol", "li", "blockquote", "hr", "br",
                "table", "tr", "th", "td"}  # fmt: skip
ALLOWED_ATTRIBUTES = {"charset", "http-equiv", "content", "name", "href", "rel", "class", "id",
                      "start"}  # fmt: skip


def test_hostile_markdown_is_neutralised_in_html() -> None:
    html = html_of(HOSTILE, title="<script>alert('title')</script>")
    page = Page(html)
    assert {tag for tag, _ in page.tags} <= ALLOWED_TAGS
    assert {name for _, attrs in page.tags for name in attrs} <= ALLOWED_ATTRIBUTES
    for attrs in page.all("a"):
        href = attrs["href"] or ""
        assert href.startswith(("https://", "http://", "mailto:", "#source-")), href
    values = " ".join(v or "" for _, attrs in page.tags for v in attrs.values()).lower()
    for bad in ("javascript:", "data:", "vbscript:", "evil.example/pixel", "/etc/passwd"):
        assert bad not in values, bad
    text = "".join(page.text)
    assert "<script>alert('x')</script>" in text  # shown as text, escaped in the source
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "click" in text and "tracker" in text and "reference" in text  # labels kept
    assert "<b>code</b>" in text
    assert "<title>&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;</title>" in html
    assert "default-src 'none'" in html  # no fetch even if something slipped through


# --- PDF -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf() -> PdfReader:
    return PdfReader(io.BytesIO(export_report(REPORT, ".pdf", title=TITLE)))


def test_pdf_text_has_everything(pdf: PdfReader) -> None:
    text = squash("\n".join(page.extract_text() for page in pdf.pages))
    assert text.startswith(TITLE)
    for expected in [*HEADINGS, *ITEMS, *SOURCE_LINES, *INTERNATIONAL]:
        assert expected in text, expected
    assert pdf.metadata is not None and pdf.metadata.title == TITLE


def test_pdf_links_are_clickable(pdf: PdfReader) -> None:
    uris, destinations = [], []
    for page in pdf.pages:
        for annotation in page.get("/Annots") or []:
            annotation = annotation.get_object()
            if "/A" in annotation and "/URI" in annotation["/A"]:
                uris.append(annotation["/A"]["/URI"])
            elif "/Dest" in annotation:
                destinations.append(str(annotation["/Dest"]))
    assert "https://noaa.example/tides" in uris
    assert {"https://example.org/tides", "https://example.org/gauges"} <= set(uris)
    assert destinations.count("source-1") == 3  # citations jump to the Sources entries
    assert set(destinations) == {"source-1", "source-2", "source-3"}


def test_pdf_embeds_real_fonts_with_greek_glyphs(pdf: PdfReader) -> None:
    fonts = {
        str(font.get_object()["/BaseFont"]).split("+")[-1]
        for page in pdf.pages
        for font in page["/Resources"]["/Font"].values()
    }
    assert fonts and all(name.startswith("DejaVu") for name in fonts), fonts


class Recorder(BaseHTTPRequestHandler):
    """Answers anything with a tiny PNG and remembers that it was asked."""

    requests: ClassVar[list[str]] = []
    PNG = bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
        "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
    )

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(self.PNG)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Recorder.requests
    finally:
        server.shutdown()
        server.server_close()


def test_recorder_really_records(recorder: tuple[str, list[str]]) -> None:
    import urllib.request

    base, requests = recorder
    with urllib.request.urlopen(f"{base}/probe") as reply:
        assert reply.status == 200
    assert requests == ["/probe"]


def test_pdf_of_hostile_markdown_fetches_nothing(recorder: tuple[str, list[str]]) -> None:
    base, requests = recorder
    markdown = HOSTILE.replace("http://evil.example", base) + (
        f'\n<link rel="stylesheet" href="{base}/style.css">\n\n'
        f'<style>@import url("{base}/import.css");</style>\n'
    )
    data = export_report(markdown, ".pdf", title="Hostile")
    assert data.startswith(b"%PDF")
    text = squash(PdfReader(io.BytesIO(data)).pages[0].extract_text())
    assert "<script>alert('x')</script>" in text and "tracker" in text
    assert requests == []


def test_without_the_guard_the_renderer_would_fetch(
    recorder: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the two tests around it: WeasyPrint's own fetcher does fetch."""
    from weasyprint.urls import URLFetcher

    base, requests = recorder
    monkeypatch.setattr(to_pdf, "_fetcher", URLFetcher)
    to_pdf.render(f'<html><body><img src="{base}/img.png"><p>x</p></body></html>')
    assert requests == ["/img.png"]


def test_pdf_renderer_refuses_urls_even_in_its_own_html(recorder: tuple[str, list[str]]) -> None:
    base, requests = recorder
    page = (
        f'<html><head><link rel="stylesheet" href="{base}/a.css">'
        f'<style>@font-face {{ font-family: X; src: url("{base}/font.ttf"); }}'
        f'body {{ background: url("{base}/bg.png"); }}</style></head>'
        f'<body><img src="{base}/img.png"><object data="{base}/obj.svg"></object>'
        f'<img src="file:///etc/hostname"><p>text</p></body></html>'
    )
    assert to_pdf.render(page).startswith(b"%PDF")
    assert requests == []


# --- DOCX ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def word() -> docx.document.Document:
    return docx.Document(io.BytesIO(export_report(REPORT, ".docx", title=TITLE)))


def test_docx_has_everything(word: docx.document.Document) -> None:
    paragraphs = [(p.style.name if p.style else "", p.text) for p in word.paragraphs]
    assert paragraphs[0] == ("Title", TITLE)
    assert word.core_properties.title == TITLE
    for heading in HEADINGS:
        assert ("Heading 2", heading) in paragraphs
    bullets = [text for style, text in paragraphs if style == "List Bullet"]
    numbers = [text for style, text in paragraphs if style == "List Number"]
    assert [b.split(" [")[0] for b in bullets] == ITEMS[:2]
    assert [n.split(" [")[0] for n in numbers] == ITEMS[2:]
    for line in SOURCE_LINES:
        assert ("Normal", line) in paragraphs
    text = "\n".join(text for _, text in paragraphs)
    for word_ in INTERNATIONAL:
        assert word_ in text
    bold = [run.text for p in word.paragraphs for run in p.runs if run.bold]
    assert "gravity" in bold


def test_docx_links_and_citations_are_hyperlinks(word: docx.document.Document) -> None:
    links = [(h.url, h.fragment, h.text) for p in word.paragraphs for h in p.hyperlinks]
    assert ("https://noaa.example/tides", "", "NOAA primer") in links
    assert ("https://example.org/spring", "", "https://example.org/spring") in links
    fragments = [fragment for _, fragment, _ in links if fragment]
    assert fragments[:3] == ["source_1", "source_2", "source_3"]
    body = word.element.body
    marks = body.xpath(".//w:bookmarkStart/@w:name")
    assert marks == ["source_1", "source_2", "source_3"]


def test_docx_numbered_lists_start_at_their_own_number() -> None:
    markdown = "1. a\n2. b\n\nText.\n\n1. c\n2. d\n\nMore.\n\n7. seven\n"
    word = docx.Document(io.BytesIO(export_report(markdown, ".docx", title="Lists")))
    num_ids = [
        p._p.pPr.numPr.numId.val
        for p in word.paragraphs
        if p.style is not None and p.style.name == "List Number"
    ]
    assert len(num_ids) == 5 and num_ids[0] == num_ids[1] and num_ids[2] == num_ids[3]
    assert len({num_ids[0], num_ids[2], num_ids[4]}) == 3
    numbering = word.part.numbering_part.element
    last = numbering.num_having_numId(num_ids[4])
    assert last.xpath("./w:lvlOverride/w:startOverride/@w:val") == ["7"]


def test_docx_of_hostile_markdown_has_only_safe_links() -> None:
    word = docx.Document(io.BytesIO(export_report(HOSTILE, ".docx", title="Hostile")))
    urls = [h.url for p in word.paragraphs for h in p.hyperlinks if h.url]
    assert urls and all(url.startswith(("http://", "https://")) for url in urls)
    assert not any("javascript" in url or url.startswith("data:") for url in urls)
    text = "\n".join(p.text for p in word.paragraphs)
    assert "<script>alert('x')</script>" in text and "tracker" in text
    assert not word.inline_shapes  # no image, remote or not


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")
def test_docx_renders_greek_with_real_fonts_in_libreoffice(tmp_path: Path) -> None:
    source = tmp_path / "report.docx"
    source.write_bytes(export_report(REPORT, ".docx", title=TITLE))
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/lo", "--headless",
         "--convert-to", "pdf", "--outdir", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    rendered = PdfReader(tmp_path / "report.pdf")
    text = squash(" ".join(page.extract_text() for page in rendered.pages))
    for expected in INTERNATIONAL:
        assert expected in text


def test_sources_written_as_a_list_are_link_targets_too() -> None:
    markdown = "# T\n\nA [1] and [2].\n\n## Sources\n\n- [1] One — https://a.example/1\n"
    markdown += "- [2] Two — https://a.example/2\n\n[1] again — https://a.example/3\n"
    page = Page(html_of(markdown))
    assert [attrs["id"] for _, attrs in page.tags if "id" in attrs] == ["source-1", "source-2"]
    word = docx.Document(io.BytesIO(export_report(markdown, ".docx", title="T")))
    assert word.element.body.xpath(".//w:bookmarkStart/@w:name") == ["source_1", "source_2"]
