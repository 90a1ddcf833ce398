"""A local web server for tests and benchmarks of page fetching.

``FakeWeb`` serves ``routes`` (path -> ``Route``), which tests may change while it runs. The
defaults cover what a fetcher meets: an article wrapped in navigation, header, footer and cookie
banner (``ARTICLE_TEXT`` must be extracted, ``BOILERPLATE`` must not), redirects (to the article,
to a loopback address under another host name, in a loop), a slow page, an oversized page, a PDF,
an image, non-UTF-8 pages and a script-only page without text; anything else is a 404. Every
request is recorded with its headers, and the peak number of requests in progress is kept per
``Host``. Loopback only.
"""

from __future__ import annotations

import contextlib
import functools
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from fakes.files import make_pdf
from fakes.loopback import BurstServer, LoopbackServer

ARTICLE_TITLE = "How the Moon drives the tides"
ARTICLE_TEXT = (
    "The gravitational pull of the Moon raises two bulges in the oceans, one facing the Moon "
    "and one on the far side of the Earth.",
    "When Sun and Moon line up, at new and full moon, their pulls add up and produce spring "
    "tides, the largest of the month.",
    "At the quarter moons the pulls partly cancel, giving neap tides, whose range is smallest.",
)
BOILERPLATE = (
    "We use cookies to improve your experience",
    "Subscribe to our newsletter",
    "Ten celebrity beach houses",
    "Ocean Weekly Media Group. All rights reserved",
)


def article_html(title: str, paragraphs: list[str], byline: str = "By A. Tidewell") -> str:
    """An article page as news sites serve it: ``paragraphs`` (HTML) inside a cookie banner,
    a header with navigation, a sidebar and a footer (``BOILERPLATE``)."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Ocean Weekly</title></head>
<body>
<div id="cookie-banner" class="cookie-consent"><p>{BOILERPLATE[0]}. Accept all cookies or
manage your preferences.</p><button>Accept all</button></div>
<header class="site-header"><a href="/">Ocean Weekly</a>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li>
<li><a href="/subscribe">{BOILERPLATE[1]}</a></li></ul></nav></header>
<main><article><h1>{title}</h1>
<p class="byline">{byline}</p>
{body}
</article></main>
<aside class="sidebar"><h3>Most read</h3><ul><li><a href="/x">{BOILERPLATE[2]}</a></li>
<li><a href="/y">Why your cat ignores you</a></li></ul></aside>
<footer class="site-footer"><p>Copyright 2026 {BOILERPLATE[3]}.</p>
<a href="/privacy">Privacy policy</a> <a href="/terms">Terms of use</a></footer>
</body></html>
"""


ARTICLE_HTML = article_html(
    ARTICLE_TITLE,
    [
        f"{ARTICLE_TEXT[0]} As the Earth turns through these bulges, most coasts see two high "
        "tides\na day.",
        "The Sun pulls on the oceans too, though less than half as strongly as the Moon.\n"
        f"{ARTICLE_TEXT[1]}",
        f"{ARTICLE_TEXT[2]} Local geography, such as the shape of a bay, can amplify the range\n"
        "enormously, as in the Bay of Fundy.",
    ],
)

PDF_PAGES = (
    "Page one. Tidal range is the vertical difference between high and low water.",
    "Page two. The Bay of Fundy has the largest tidal range in the world, about 16 metres.",
    "Page three. Tidal power stations turn this rise and fall into electricity.",
)

APP_HTML = """<!doctype html><html><head><title>Tide app</title></head>
<body><div id="root"></div><script src="/bundle.js"></script></body></html>"""

CYRILLIC_TEXT = "Приливы и отливы вызваны притяжением Луны и Солнца, а не ветром или течениями."
LATIN1_TEXT = "Les marées de la baie du Mont-Saint-Michel sont parmi les plus fortes d'Europe."


@functools.cache
def report_pdf() -> bytes:
    """The PDF served at ``/report.pdf``: ``PDF_PAGES``, one per page (built once)."""
    return make_pdf(PDF_PAGES, "Tides")


def _html(title: str, *paragraphs: str, meta: str = "") -> str:
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!doctype html><html><head>{meta}<title>{title}</title></head>"
        f"<body><article><h1>{title}</h1>\n{body}\n</article></body></html>"
    )


@dataclass
class Route:
    """How the server answers one path.

    ``location`` may contain ``{base}`` (``http://127.0.0.1:PORT``) and ``{port}``. ``delay``
    waits before answering (cut short when the server stops). ``stream_bytes`` sends that many
    filler bytes after ``body`` in chunks, without a Content-Length.
    """

    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    location: str | None = None
    delay: float = 0.0
    stream_bytes: int = 0


@dataclass(frozen=True)
class Hit:
    """One request as the server saw it (``time.monotonic`` times)."""

    path: str
    host: str
    started: float
    finished: float
    headers: dict[str, str]


def default_routes(*, slow: float = 30.0, huge: int = 6 * 1024 * 1024) -> dict[str, Route]:
    """The standard pages; ``slow`` is the slow page's delay, ``huge`` the oversized page's size."""
    return {
        "/article": Route(body=ARTICLE_HTML.encode()),
        "/redirect": Route(302, location="/article"),
        "/redirect-chain": Route(301, location="{base}/redirect"),
        "/redirect-loop": Route(302, location="/redirect-loop"),
        "/redirect-private": Route(302, location="http://private.test:{port}/article"),
        "/slow": Route(body=ARTICLE_HTML.encode(), delay=slow),
        "/huge": Route(body=b"<!doctype html><html><body><p>", stream_bytes=huge),
        "/report.pdf": Route(body=report_pdf(), content_type="application/pdf"),
        "/image.png": Route(body=b"\x89PNG\r\n\x1a\n" + bytes(64), content_type="image/png"),
        "/cp1251": Route(
            body=_html("Приливы", CYRILLIC_TEXT).encode("cp1251"),
            content_type="text/html; charset=windows-1251",
        ),
        "/latin1-meta": Route(
            body=_html("Marées", LATIN1_TEXT, meta='<meta charset="iso-8859-1">').encode("latin-1"),
            content_type="text/html",
        ),
        "/notes.txt": Route(
            body=f"Notes on tides\n\n{LATIN1_TEXT}\n".encode("latin-1"),
            content_type="text/plain; charset=iso-8859-1",
        ),
        "/app": Route(body=APP_HTML.encode()),
    }


class FakeWeb(LoopbackServer):
    """A threaded HTTP server on 127.0.0.1 with a random free port."""

    def __init__(
        self,
        routes: dict[str, Route] | None = None,
        *,
        slow: float = 30.0,
        huge: int = 6 * 1024 * 1024,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``routes`` replace the defaults (``default_routes(slow=..., huge=...)``) if given;
        ``tls``, a server-side context, makes it speak HTTPS."""
        super().__init__()
        self.tls = tls
        self.routes = routes if routes is not None else default_routes(slow=slow, huge=huge)
        self._hits: list[Hit] = []
        self._active: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (``https://`` with ``tls``)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        """The port it listens on."""
        if self._server is None:
            raise RuntimeError("FakeWeb is not running")
        return int(self._server.server_address[1])

    @property
    def hits(self) -> list[Hit]:
        """A copy of the requests served, recorded as each answer starts (``finished``)."""
        with self._lock:
            return list(self._hits)

    def paths(self) -> list[str]:
        """The paths requested, in order of completion."""
        return [hit.path for hit in self.hits]

    def peak(self, host: str | None = None) -> int:
        """Most requests in progress (received, not yet answered) at once: for one ``Host``
        header value, or in all."""
        with self._lock:
            return self._peak[host if host is not None else "*"]

    def clear(self) -> None:
        """Forget the recorded requests and peaks."""
        with self._lock:
            self._hits.clear()
            self._peak.clear()

    def start(self) -> FakeWeb:
        """Start serving in a background thread."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = BurstServer(("127.0.0.1", 0), _make_handler(self))
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._serve(server, "FakeWeb")
        return self

    def _before_stop(self) -> None:
        self._stopping.set()  # wake slow handlers

    def _enter(self, host: str) -> None:
        with self._lock:
            for key in (host, "*"):
                self._active[key] += 1
                self._peak[key] = max(self._peak[key], self._active[key])

    def _leave(self, hit: Hit) -> None:
        with self._lock:
            for key in (hit.host, "*"):
                self._active[key] -= 1
            self._hits.append(hit)


def _make_handler(web: FakeWeb) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            web._track(self.connection, add=True)

        def finish(self) -> None:
            web._track(self.connection, add=False)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def handle(self) -> None:
            with contextlib.suppress(OSError):  # clients drop connections (limits, timeouts)
                super().handle()

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            host = self.headers.get("Host", "")
            started = time.monotonic()
            recorded = False
            web._enter(host)

            def record() -> None:  # before answering, so a client that got its answer sees it
                nonlocal recorded
                if not recorded:
                    recorded = True
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    web._leave(Hit(path, host, started, time.monotonic(), headers))

            try:
                route = web.routes.get(path) or Route(404, b"<html><body>Not found</body></html>")
                if route.delay > 0 and web._stopping.wait(route.delay):
                    self.close_connection = True
                    return
                record()
                self._answer(route)
            except OSError:  # the client gave up (timeout, size limit): not an error here
                self.close_connection = True
            finally:
                record()

        def _answer(self, route: Route) -> None:
            self.send_response(route.status)
            if route.content_type:
                self.send_header("Content-Type", route.content_type)
            if route.location is not None:
                port = web.port
                location = route.location.format(base=f"http://127.0.0.1:{port}", port=port)
                self.send_header("Location", location)
            for name, value in route.headers.items():
                self.send_header(name, value)
            if route.stream_bytes:
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                self.wfile.write(route.body)
                chunk = b"<p>" + b"filler text " * 5400 + b"</p>\n"  # about 64 KB
                sent = 0
                while sent < route.stream_bytes and not web._stopping.is_set():
                    self.wfile.write(chunk)
                    sent += len(chunk)
                return
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

    return Handler
