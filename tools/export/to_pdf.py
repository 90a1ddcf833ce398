"""The exported HTML page typeset as PDF by WeasyPrint, which never fetches anything.

WeasyPrint lays text out with Pango, which finds fonts through fontconfig: the page asks for
DejaVu Sans (Debian's ``fonts-dejavu-core``), which has Latin, Greek and Cyrillic glyphs.
Pango must be on the system: ``apt-get install libpango-1.0-0 libpangoft2-1.0-0
libharfbuzz-subset0 fonts-dejavu-core`` (``make setup`` does it).

The page the exporter builds references no resource at all; the fetcher below refuses every
URL anyway, so a ``<img src=…>`` or a CSS ``url(…)`` that slipped in would load nothing.
"""

from __future__ import annotations

import threading
from typing import Any

_LOCK = threading.Lock()  # Pango and fontconfig state is shared: one layout at a time


class ResourceRefused(ValueError):
    """The renderer asked for a URL; exported documents never load one."""


def _fetcher() -> Any:
    from weasyprint.urls import URLFetcher

    class RefuseAll(URLFetcher):
        """A URL fetcher that fetches nothing, whatever the scheme."""

        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ResourceRefused(f"exported documents load no resources (asked for {url[:80]})")

    return RefuseAll(timeout=1, allowed_protocols=())


def render(html: str) -> bytes:
    """Typeset ``html`` (a complete page with its own CSS) as PDF bytes.

    The page's ``<title>`` becomes the PDF's Title.
    """
    import weasyprint

    with _LOCK:
        document = weasyprint.HTML(string=html, base_url=None, url_fetcher=_fetcher())
        return bytes(document.write_pdf())
