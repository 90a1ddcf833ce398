"""Read web pages for the research workers: fetched safely, main text extracted.

``PageFetcher`` (one per research run) fetches http and https pages within a ``FetchPolicy``'s
bounds and returns a ``Page`` (title, main text, PDF page numbers) or raises a ``FetchError`` whose
message is one line a person understands; the caller logs it and falls back to the search snippet.

No server-side request forgery: every connection, the first and each redirect hop's, goes through
one network backend that resolves the host once, refuses it if any of its addresses is not public
(loopback, private, link-local, multicast, reserved, unspecified, or such an address inside an
IPv6 form) unless ``FetchPolicy.allow`` names the host or covers the address, and connects to the
very address it checked. TLS SNI and the ``Host`` header keep the original name. Proxy settings in
the environment are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Literal, cast

import httpcore
import httpx

from tools.extract import (
    ExtractError,
    Segment,
    cap_segments,
    decode_html,
    decode_text,
    html_text,
    is_pdf,
    looks_binary,
    looks_like_html,
    pdf_text,
    tidy,
)
from tools.text import network_cause, size_text

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchError",
    "FetchPolicy",
    "Page",
    "PageCache",
    "PageFetcher",
    "Resolver",
    "Segment",
    "non_public",
    "parse_allow",
    "system_resolver",
]

DEFAULT_USER_AGENT = "assistant-research/0.1 (+https://github.com/assistant; reads pages it cites)"

Kind = Literal["html", "pdf", "text"]
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> IP addresses``; raises ``OSError`` (e.g. ``socket.gaierror``) if unknown."""

_KINDS: dict[str, Kind] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "text/plain": "text",
    "text/markdown": "text",
}
_SNIFFED = {"", "application/octet-stream", "binary/octet-stream", "application/x-download"}
_ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,text/plain;q=0.8,*/*;q=0.1"

# Non-public ranges that some Python versions' ``is_global`` misses (3.11 before 3.11.10 most).
_ALSO_BLOCKED = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "192.88.99.0/24",
        "198.18.0.0/15",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "fc00::/7",
        "fec0::/10",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class FetchError(Exception):
    """A page could not be read; ``str()`` is one short line ("HTTP 404", "larger than 5 MB")."""


def _allow_entry(entry: str) -> str:
    """Normalise one allow-list entry (a host name, an address or a CIDR range) or raise."""
    text = entry.strip().lower().rstrip(".")
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_network(text, strict=False))
    labels = text.split(".")
    if (
        not text
        or len(text) > 253
        or not all(
            label and len(label) <= 63 and label.replace("-", "").replace("_", "").isalnum()
            for label in labels
        )
    ):
        raise ValueError(f"not a host name, address or CIDR range: {entry!r}")
    return text


def parse_allow(value: str) -> tuple[str, ...]:
    """Parse ``ASSISTANT_FETCH_ALLOW`` ("localhost, 10.1.0.0/16 wiki.corp"); raise ValueError."""
    return tuple(_allow_entry(part) for part in value.replace(",", " ").split())


@dataclass(frozen=True)
class FetchPolicy:
    """How far a research run may go when it reads pages.

    Attributes:
        allow: host names, addresses or CIDR ranges that may be fetched although they are not
            public (the operator's ``ASSISTANT_FETCH_ALLOW``; an intranet wiki, a test server).
        connect_timeout: seconds to resolve the host and open the connection.
        total_timeout: seconds for the whole fetch: every redirect hop and the body.
        max_bytes: largest body read (after decompression); a larger page is refused.
        max_redirects: redirect hops followed.
        per_host: requests at once to one host name.
        per_run: requests at once in the whole run (24: eight sections reading three pages
            each at once).
        user_agent: the ``User-Agent`` header: says who reads and why.
        max_text_chars: extracted text kept per page (cut between words).
    """

    allow: tuple[str, ...] = ()
    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    per_host: int = 2
    per_run: int = 24
    user_agent: str = DEFAULT_USER_AGENT
    max_text_chars: int = 200_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow", tuple(_allow_entry(e) for e in self.allow))
        for name in ("connect_timeout", "total_timeout", "max_bytes", "per_host", "per_run"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FetchPolicy.{name} must be positive")
        if self.max_redirects < 0 or self.max_text_chars <= 0:
            raise ValueError("FetchPolicy.max_redirects >= 0 and max_text_chars > 0 needed")


@dataclass(frozen=True)
class Page:
    """A page's readable content. ``text`` joins the segments (one per PDF page with text)."""

    url: str
    final_url: str
    title: str
    kind: Kind
    segments: tuple[Segment, ...]

    @property
    def text(self) -> str:
        """The extracted main text; PDF pages are separated by a blank line."""
        return "\n\n".join(seg.text for seg in self.segments)

    @property
    def chars(self) -> int:
        """Characters of text held (what the cache counts)."""
        return sum(len(seg.text) for seg in self.segments) + len(self.title)


# --- address checks ---------------------------------------------------------------------------


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64), if any."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def non_public(address: str | IPAddress) -> str | None:
    """Why an address must not be fetched ("private", "loopback", "link-local", ...), or None if
    it is public. IPv6 forms carrying an IPv4 address (mapped, 6to4, Teredo, NAT64) are judged
    by that address too."""
    addr = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(addr, ipaddress.IPv6Address):
        inner = _embedded_v4(addr)
        if inner is not None and (why := non_public(inner)):
            return why
    for flag in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(addr, f"is_{flag}"):
            return flag.replace("_", "-")
    if not addr.is_global or any(addr in net for net in _ALSO_BLOCKED):
        return "non-public"
    return None


def _ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the system resolver without blocking the event loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _Vetter:
    """Resolves a host once and returns only addresses that may be connected to."""

    def __init__(self, allow: Iterable[str], resolver: Resolver) -> None:
        self.names: set[str] = set()
        self.networks: list[IPNetwork] = []
        for entry in allow:
            try:
                self.networks.append(ipaddress.ip_network(entry))
            except ValueError:
                self.names.add(entry)
        self.resolver = resolver

    def _allowed(self, addr: IPAddress) -> bool:
        inner = _embedded_v4(addr) if isinstance(addr, ipaddress.IPv6Address) else None
        return any(a in net for a in (addr, inner) if a is not None for net in self.networks)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses of ``host``; raise ``FetchError`` if any of them is refused."""
        name = host.lower().rstrip(".")
        literal = _ip(name)
        if literal is not None:
            found = [str(literal)]
        else:
            try:
                found = [str(a) for a in await self.resolver(name, port)]
            except OSError:
                raise FetchError(f"host name not found: {name}") from None
            if not found:
                raise FetchError(f"host name not found: {name}")
        if name in self.names:
            return found
        for text in found:
            addr = _ip(text)
            if addr is None:
                raise FetchError(f"refused: {name} resolved to {text!r}, not an address")
            why = non_public(addr)
            if why and not self._allowed(addr):
                subject = host if literal is not None else f"{name} resolves to {text}, which"
                article = "an" if why[0] in "aeiou" else "a"
                raise FetchError(f"refused: {subject} is {article} {why} address")
        return found


class _VettedBackend(httpcore.AsyncNetworkBackend):
    """Opens every connection to an address ``_Vetter`` has just checked (no second lookup)."""

    def __init__(self, vetter: _Vetter) -> None:
        self._vetter = vetter
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._vetter.addresses(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took too long") from None
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in addresses:  # each one checked above; try them in the resolver's order
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchError("refused: not a network address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raise httpcore's exceptions as the httpx ones the fetcher handles."""
    try:
        yield
    except httpcore.ConnectTimeout as exc:
        raise httpx.ConnectTimeout(str(exc)) from exc
    except httpcore.TimeoutException as exc:
        raise httpx.ReadTimeout(str(exc)) from exc
    except httpcore.ConnectError as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except httpcore.ProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except (httpcore.NetworkError, httpcore.UnsupportedProtocol) as exc:
        raise httpx.TransportError(str(exc)) from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class _VettedTransport(httpx.AsyncBaseTransport):
    """httpx over an httpcore pool whose only way out is ``_VettedBackend``."""

    def __init__(self, vetter: _Vetter, max_connections: int, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=_VettedBackend(vetter),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=cast(AsyncIterable[bytes], request.stream),
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(cast(AsyncIterable[bytes], response.stream)),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


# --- the cache ----------------------------------------------------------------------------------


class PageCache:
    """Fetched pages shared by every run of the process: bounded by entries and characters of
    text, each entry expiring ``ttl`` seconds after it was stored. Errors are never cached."""

    def __init__(
        self,
        *,
        max_entries: int = 512,
        max_chars: int = 50_000_000,
        ttl: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_chars < 1 or ttl <= 0:
            raise ValueError("PageCache needs max_entries, max_chars and ttl > 0")
        self.max_entries = max_entries
        self.max_chars = max_chars
        self.ttl = ttl
        self.clock = clock
        self.hits = 0
        self.misses = 0
        self._pages: OrderedDict[str, tuple[float, Page]] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()  # runs may live on different event loops

    def __len__(self) -> int:
        with self._lock:
            return len(self._pages)

    def get(self, url: str) -> Page | None:
        """The cached page for ``url`` unless missing or expired."""
        with self._lock:
            entry = self._pages.get(url)
            if entry is not None and entry[0] > self.clock():
                self._pages.move_to_end(url)
                self.hits += 1
                return entry[1]
            if entry is not None:
                self._drop(url)
            self.misses += 1
            return None

    def put(self, url: str, page: Page) -> None:
        """Store ``page`` (a page larger than the whole cache is not stored)."""
        if page.chars > self.max_chars:
            return
        with self._lock:
            if url in self._pages:
                self._drop(url)
            self._pages[url] = (self.clock() + self.ttl, page)
            self._chars += page.chars
            now = self.clock()
            for key in [k for k, (expires, _) in self._pages.items() if expires <= now]:
                self._drop(key)
            while len(self._pages) > self.max_entries or self._chars > self.max_chars:
                self._drop(next(iter(self._pages)))  # least recently used first

    def clear(self) -> None:
        """Forget every page."""
        with self._lock:
            self._pages.clear()
            self._chars = 0

    def _drop(self, url: str) -> None:
        _, page = self._pages.pop(url)
        self._chars -= page.chars


# --- the fetcher --------------------------------------------------------------------------------


def _target(url: str) -> str:
    """The URL to fetch (no fragment), or a ``FetchError`` if it is not an http(s) address."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError):
        raise FetchError(f"not a valid web address: {url[:100]}") from None
    _check_scheme(parsed)
    return str(parsed.copy_with(fragment=None))


def _check_scheme(url: httpx.URL) -> None:
    if url.scheme not in ("http", "https"):
        shown = f"{url.scheme}:" if url.scheme else "an address without a scheme"
        raise FetchError(f"refused: only http and https pages are fetched, not {shown}")
    if not url.host:
        raise FetchError(f"not a valid web address (no host): {str(url)[:100]}")


def _cause(exc: BaseException) -> str:
    """The root cause of a transport failure, in a few words."""
    return network_cause(exc) or str(exc) or type(exc).__name__


@dataclass(frozen=True)
class _Download:
    url: str
    content_type: str
    declared: Kind | None
    body: bytes


@dataclass
class _Flight:
    task: asyncio.Task[Page]
    waiters: int = 0


class PageFetcher:
    """One research run's page reads: safe, bounded, cached, de-duplicated.

    ``fetch`` raises ``FetchError``; ``fetch_many`` returns each URL's page or error. Requests
    run at most ``policy.per_run`` at once and ``policy.per_host`` at once per host name.
    ``resolver`` replaces the system's DNS lookups (tests); ``ssl_context`` the default
    certificate checks (certifi's CAs), e.g. to trust a company CA. Close with ``aclose`` or use
    ``async with``.
    """

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        cache: PageCache | None = None,
        *,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.policy = policy = policy or FetchPolicy()
        self.cache = cache
        self.requests = 0  # HTTP requests sent, redirect hops included
        self._run = asyncio.Semaphore(policy.per_run)
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._inflight: dict[str, _Flight] = {}
        vetter = _Vetter(policy.allow, resolver or system_resolver)
        self._client = httpx.AsyncClient(
            transport=_VettedTransport(
                vetter,
                max_connections=policy.per_run,
                ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            ),
            trust_env=False,  # no proxy from the environment: it would bypass the checks
            follow_redirects=False,  # each hop is checked and counted here
            timeout=httpx.Timeout(policy.total_timeout, connect=policy.connect_timeout),
            headers={"User-Agent": policy.user_agent, "Accept": _ACCEPT},
        )

    async def __aenter__(self) -> PageFetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel fetches still running and close the connections."""
        tasks = [flight.task for flight in self._inflight.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.aclose()

    async def fetch_many(self, urls: Iterable[str]) -> dict[str, Page | FetchError]:
        """Fetch distinct ``urls`` concurrently (within the bounds); each maps to page or error."""
        unique = list(dict.fromkeys(urls))

        async def one(url: str) -> Page | FetchError:
            try:
                return await self.fetch(url)
            except FetchError as exc:
                return exc

        return dict(zip(unique, await asyncio.gather(*(one(u) for u in unique)), strict=True))

    async def fetch(self, url: str) -> Page:
        """Fetch one page and extract its text; raise ``FetchError`` if it cannot be read."""
        key = _target(url)
        if self.cache is not None and (page := self.cache.get(key)) is not None:
            return replace(page, url=url)
        flight = self._inflight.get(key)
        if flight is None:
            flight = self._inflight[key] = _Flight(asyncio.create_task(self._fetch(key)))
            flight.task.add_done_callback(lambda _: self._finish(key, flight))
        flight.waiters += 1
        try:
            page = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                flight.task.cancel()  # nobody else waits for this page
                self._forget(key, flight)
            raise
        finally:
            flight.waiters -= 1
        return replace(page, url=url)

    def _forget(self, key: str, flight: _Flight) -> None:
        if self._inflight.get(key) is flight:
            del self._inflight[key]

    def _finish(self, key: str, flight: _Flight) -> None:
        self._forget(key, flight)
        task = flight.task
        if self.cache is not None and not task.cancelled() and task.exception() is None:
            page = task.result()
            self.cache.put(key, page)
            if page.final_url != key:
                self.cache.put(page.final_url, page)

    def _host_slot(self, host: str) -> asyncio.Semaphore:
        slot = self._hosts.get(host)
        if slot is None:
            slot = self._hosts[host] = asyncio.Semaphore(self.policy.per_host)
        return slot

    async def _fetch(self, url: str) -> Page:
        """Follow redirects (checking each hop), then extract the text in a worker thread."""
        policy = self.policy
        request = self._client.build_request("GET", url)
        deadline: float | None = None
        for _ in range(policy.max_redirects + 1):
            _check_scheme(request.url)
            host = request.url.host.lower()
            # One host slot at a time (released before the next hop): no deadlock between runs
            # of redirects crossing hosts; the run slot is taken second so a queue for a busy
            # host does not hold run slots.
            async with self._host_slot(host), self._run:
                if deadline is None:  # the clock starts when the first request may go out
                    deadline = asyncio.get_running_loop().time() + policy.total_timeout
                result = await self._hop(request, host, deadline)
            if isinstance(result, _Download):
                break
            request = result
        else:
            raise FetchError(f"more than {policy.max_redirects} redirects")
        return await asyncio.to_thread(_page, url, result, policy)

    async def _hop(
        self, request: httpx.Request, host: str, deadline: float
    ) -> _Download | httpx.Request:
        """Send one request: the next request if it redirects, else the downloaded body."""
        policy = self.policy
        try:
            async with asyncio.timeout_at(deadline):
                self.requests += 1
                response = await self._client.send(request, stream=True)
                try:
                    if response.next_request is not None:
                        return response.next_request
                    return await self._download(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise FetchError(f"timed out after {policy.total_timeout:g} s") from None
        except httpx.ConnectTimeout:
            raise FetchError(
                f"could not connect to {host} within {policy.connect_timeout:g} s"
            ) from None
        except httpx.TimeoutException:
            raise FetchError(f"timed out after {policy.total_timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise FetchError(f"could not connect to {host}: {_cause(exc)}") from None
        except httpx.DecodingError:
            raise FetchError(f"{host} sent a body that could not be decompressed") from None
        except httpx.RemoteProtocolError:
            raise FetchError(f"{host} sent a malformed HTTP response") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"could not read the page from {host}: {_cause(exc)}") from None

    async def _download(self, response: httpx.Response) -> _Download:
        """Check status, type and size, then stream the body up to ``max_bytes``."""
        limit = self.policy.max_bytes
        if not 200 <= response.status_code < 300:
            raise FetchError(f"HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "")
        mime = content_type.split(";")[0].strip().lower()
        declared = _KINDS.get(mime)
        if declared is None and mime not in _SNIFFED:
            raise FetchError(f"unsupported content type {mime}")
        length = response.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            raise FetchError(f"larger than {size_text(limit)}")
        body = bytearray()
        async for chunk in response.aiter_bytes():  # decompressed: a gzip bomb stops here too
            body += chunk
            if len(body) > limit:
                raise FetchError(f"larger than {size_text(limit)}")
        return _Download(str(response.url), content_type, declared, bytes(body))


def _kind(download: _Download) -> Kind:
    """The declared kind, corrected when the body plainly says otherwise (cheap sniffing)."""
    body, declared = download.body, download.declared
    if declared != "pdf" and is_pdf(body):
        return "pdf"
    if declared in (None, "text") and looks_like_html(body):
        return "html"
    if declared is not None:
        return declared
    if looks_binary(body):
        raise FetchError("unsupported content type (binary data)")
    return "text"


def _fallback_title(url: str) -> str:
    parsed = httpx.URL(url)
    tail = parsed.path.rstrip("/").rsplit("/", 1)[-1]
    return tail or parsed.host


def _page(url: str, download: _Download, policy: FetchPolicy) -> Page:
    """Extract a downloaded body's text (CPU-bound: runs in a worker thread)."""
    kind = _kind(download)
    limit = policy.max_text_chars
    try:
        if kind == "pdf":
            title, segments = pdf_text(download.body, max_chars=limit, timeout=policy.total_timeout)
        elif kind == "html":
            html = decode_html(download.body, download.content_type or None)
            title, text = html_text(html, url=download.url)
            segments = cap_segments([Segment(None, text)], limit)
        else:
            text = tidy(decode_text(download.body, _charset_param(download.content_type)))
            if not text:
                raise ExtractError("has no readable text")
            title, segments = "", cap_segments([Segment(None, text)], limit)
    except ExtractError as exc:
        if kind == "pdf":
            raise FetchError(f"the PDF {exc}") from None
        raise FetchError("no readable text on the page") from None
    return Page(url, download.url, title or _fallback_title(download.url), kind, segments)


def _charset_param(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header value."""
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None
