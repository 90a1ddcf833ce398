"""A local SearxNG-compatible (and Tavily-compatible) search endpoint for tests and benchmarks.

``GET /search?q=...&format=json`` answers like SearxNG, ``POST /search`` with ``{"query": ...}``
answers like Tavily; both return ``{"query": q, "results": [{"url", "title", "content"}, ...]}``.
``mode`` and ``latency`` may be changed while the server runs. Loopback only.

The server also serves the pages its default results link to (``GET /page/<query>/<n>``):
articles wrapped in navigation and footer boilerplate, whose text says more than the snippet,
so research reads real pages in every test (with ``ASSISTANT_FETCH_ALLOW=127.0.0.1``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.loopback import BurstServer, LoopbackServer, serve_in_thread
from fakes.web_server import article_html

MODES = ("ok", "ratelimit", "error", "empty")


def slug(text: str) -> str:
    """``"Foo Bar!"`` -> ``"foo-bar"``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "query"


def default_results(query: str, base: str = "https://example.test") -> list[dict[str, Any]]:
    """Three deterministic results for ``query``, linking to ``base/<slug>/<n>``."""
    return [
        {
            "url": f"{base}/{slug(query)}/{i}",
            "title": f"{query.title()} — source {i}",
            "content": f"Facts about {query} number {i}.",
        }
        for i in range(1, 4)
    ]


def page_paragraphs(words: str, number: int) -> list[str]:
    """The article at ``/page/<slug of words>/<number>``: the snippet's fact, then more."""
    return [
        f"Facts about {words} number {number}.",
        f"Field studies of {words} found that measurement {number} stayed within two percent "
        "over ten years of records.",
        f"Researchers who study {words} say the pattern in source {number} matches what coastal "
        "stations report every season.",
        f"Independent reviews of {words} published in {2000 + number} confirmed the same "
        "figures for the third time.",
    ]


def _page(path: str) -> bytes | None:
    """The HTML of ``/page/<slug>/<n>``, or None for any other path."""
    found = re.fullmatch(r"/page/([a-z0-9-]+)/(\d{1,3})", path)
    if found is None:
        return None
    words, number = found.group(1).replace("-", " "), int(found.group(2))
    title = f"{words.title()} — source {number}"
    return article_html(title, page_paragraphs(words, number)).encode()


class FakeSearch(LoopbackServer):
    """A threaded HTTP search server on 127.0.0.1 with a random free port."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        page_latency: float = 0.0,
        mode: str = "ok",
        results_for: Callable[[str], list[dict[str, Any]]] | None = None,
        api_key: str | None = None,
        page_hosts: int = 1,
    ) -> None:
        """``api_key``: if set, ``POST`` requests need ``Authorization: Bearer <api_key>``.

        ``page_hosts``: above 1, the default results' pages are served from that many more
        loopback addresses (127.0.0.2, 127.0.0.3, ...), each new page on the next one, as
        results on the web come from many sites: a reader's per-host bound then applies as
        it would there (allow ``127.0.0.0/8`` to read them).
        """
        super().__init__()
        self.latency = latency
        self.page_latency = page_latency
        self.mode = mode
        self.results_for = results_for
        self.api_key = api_key
        self.last_authorization: str | None = None
        self._requests: list[tuple[str, float, float]] = []
        self._pages: list[str] = []
        self.page_hosts = page_hosts
        self._page_servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []
        self._page_homes: dict[str, str] = {}  # page path -> base URL of the host serving it

    @property
    def mode(self) -> str:
        """One of ``"ok"``, ``"ratelimit"`` (HTTP 429), ``"error"`` (HTTP 503), ``"empty"``."""
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {value!r}")
        self._mode = value

    @property
    def requests(self) -> list[tuple[str, float, float]]:
        """A copy of ``(query, started, finished)`` (``time.monotonic``) per search request."""
        with self._lock:
            return list(self._requests)

    @property
    def pages(self) -> list[str]:
        """The paths of the pages served (``/page/...``), in order."""
        with self._lock:
            return list(self._pages)

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()
            self._pages.clear()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("FakeSearch is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeSearch:
        """Start serving in a background thread."""
        if self._server is not None:
            return self
        self._serve(BurstServer(("127.0.0.1", 0), _make_handler(self)), "FakeSearch")
        for n in range(self.page_hosts if self.page_hosts > 1 else 0):
            server = BurstServer((f"127.0.0.{2 + n}", 0), _make_handler(self))
            self._page_servers.append((server, serve_in_thread(server, "FakeSearch pages")))
        return self

    def _before_stop(self) -> None:
        for server, thread in self._page_servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        self._page_servers = []

    def _answer(self, query: str, limit: int | None) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for one search, after the configured latency."""
        if self.latency > 0:
            time.sleep(self.latency)
        mode = self.mode
        if mode == "ratelimit":
            return 429, {"error": "Too Many Requests"}
        if mode == "error":
            return 503, {"error": "Service Unavailable"}
        if mode == "empty":
            results: list[dict[str, Any]] = []
        else:
            results = (
                self.results_for(query)
                if self.results_for is not None
                else [self._spread(r) for r in default_results(query, f"{self.url}/page")]
            )
        return 200, {"query": query, "results": results[:limit] if limit else results}

    def _spread(self, result: dict[str, Any]) -> dict[str, Any]:
        """``result`` with its page on the next page host (the same host every time)."""
        if not self._page_servers:
            return result
        path = urlsplit(result["url"]).path
        with self._lock:
            home = self._page_homes.get(path)
            if home is None:
                server = self._page_servers[len(self._page_homes) % len(self._page_servers)][0]
                address, port = server.server_address[:2]
                home = self._page_homes[path] = f"http://{address!s}:{port}"
        return {**result, "url": home + path}


def _make_handler(fake: FakeSearch) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            fake._track(self.connection, add=True)

        def finish(self) -> None:
            fake._track(self.connection, add=False)
            super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout, cancellation): not an error here
                self.close_connection = True

        def _send_page(self, html: bytes) -> None:
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(html)))
                self.end_headers()
                self.wfile.write(html)
            except OSError:
                self.close_connection = True

        def _search(self, query: str, limit: int | None) -> None:
            started = time.monotonic()
            status, body = fake._answer(query, limit)
            with fake._lock:  # record before answering, so clients always see it
                fake._requests.append((query, started, time.monotonic()))
            self._send(status, body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            params = parse_qs(parts.query)
            page = _page(parts.path)
            if page is not None:
                if fake.page_latency > 0:
                    time.sleep(fake.page_latency)
                with fake._lock:
                    fake._pages.append(parts.path)
                self._send_page(page)
            elif parts.path != "/search":
                self._send(404, {"error": "not found"})
            elif params.get("format", [""])[0] != "json":
                self._send(403, {"error": "format not enabled"})  # what SearxNG does
            else:
                self._search(params.get("q", [""])[0], None)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if urlsplit(self.path).path != "/search":
                self._send(404, {"error": "not found"})
                return
            fake.last_authorization = self.headers.get("Authorization")
            if fake.api_key is not None and fake.last_authorization != f"Bearer {fake.api_key}":
                self._send(401, {"detail": {"error": "Unauthorized: missing or invalid API key."}})
                return
            try:
                payload = json.loads(raw or b"{}")
                query = str(payload["query"])
            except (ValueError, KeyError, TypeError):
                self._send(400, {"error": "body must be JSON with a 'query'"})
                return
            limit = payload.get("max_results")
            self._search(query, limit if isinstance(limit, int) else None)

    return Handler
