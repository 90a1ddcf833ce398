"""Web search for the research workers and the ``web_search`` tool.

Providers turn a query into ``SearchResult``s or raise a ``SearchError`` whose message names the
provider and the cause in one line. An empty list means "nothing found"; a rate limit or an
unreachable provider always raises. ``SearchSession`` adds per-run caching, de-duplication of
identical in-flight queries, a shared rate limit and retries on rate limiting.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from tools.text import brief, network_cause

MAX_URL_CHARS = 2_000
MAX_TITLE_CHARS = 300
MAX_CONTENT_CHARS = 2_000
"""What is kept of one search result: a hostile page cannot flood a prompt through it."""

_SWITCH = "try again in a minute or switch ASSISTANT_SEARCH_PROVIDER"


@dataclass(frozen=True)
class SearchResult:
    """One hit: its address, title and snippet; ``via`` names the provider that found it."""

    url: str
    title: str
    content: str
    via: str = ""


class SearchError(Exception):
    """A search failed; ``str()`` is one line naming the provider and the cause."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message


class SearchRateLimited(SearchError):
    """The provider refused because of too many requests; worth retrying later."""


class SearchUnavailable(SearchError):
    """The provider could not be reached or answered with an error."""


class SearchProvider(Protocol):
    """Anything that can run one web search."""

    name: str

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        """Return up to ``max_results`` hits ([] if none); raise ``SearchError`` on failure."""
        ...


def _web_url(value: Any) -> str | None:
    """``value`` if it is an http(s) URL of sensible length, else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_CHARS:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value.strip()


def _results(
    items: Any, url: str, title: str, content: str, limit: int, via: str = ""
) -> list[SearchResult]:
    """Map raw result dicts to ``SearchResult``s.

    Only http(s) URLs are kept (a ``javascript:`` or ``file:`` link is dropped), and titles
    and snippets are cut to a bounded size.
    """
    out: list[SearchResult] = []
    for item in items if isinstance(items, list) else []:
        address = _web_url(item.get(url)) if isinstance(item, dict) else None
        if address is not None:
            out.append(
                SearchResult(
                    address,
                    brief(item.get(title), MAX_TITLE_CHARS),
                    brief(item.get(content), MAX_CONTENT_CHARS),
                    via,
                )
            )
    return out[:limit]


class DuckDuckGoProvider:
    """DuckDuckGo and friends through the ``ddgs`` metasearch library (no key needed)."""

    name = "duckduckgo"

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        """Run ``DDGS().text`` in a worker thread and map its exceptions."""
        import ddgs  # lazily: importing ddgs costs start-up time
        from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

        def run() -> list[dict[str, Any]]:
            return ddgs.DDGS(timeout=max(1, math.ceil(self.timeout))).text(
                query, max_results=max_results
            )

        try:
            # ddgs may query several engines in turn; bound the whole call as well.
            raw = await asyncio.wait_for(asyncio.to_thread(run), self.timeout * 2 + 1)
        except (TimeoutException, TimeoutError):
            raise SearchUnavailable(
                self.name, f"DuckDuckGo did not answer within {self.timeout:g} s (timeout)"
            ) from None
        except DDGSException as exc:
            # ddgs 9 drops an engine's "202 Ratelimit" answer and, when every engine did so,
            # raises "No results found." -- far more often a rate limit than a truly empty search.
            text = str(exc)
            wrapped = [exc, *exc.args]  # ddgs wraps an engine's error as DDGSException(err)
            if (
                any(isinstance(e, RatelimitException) for e in wrapped)
                or "ratelimit" in text.lower()
            ):
                cause = "HTTP 202 Ratelimit"
            elif text == "No results found.":
                cause = "no engine answered, usually HTTP 202 Ratelimit"
            else:
                raise SearchUnavailable(self.name, f"could not reach DuckDuckGo: {text}") from None
            raise SearchRateLimited(
                self.name, f"DuckDuckGo rate-limited the search ({cause}); {_SWITCH}"
            ) from None
        return _results(raw, "href", "title", "body", max_results, self.name)


def _connect_cause(exc: BaseException) -> str:
    """Find the root cause of a connection failure, in a few words."""
    return network_cause(exc) or str(exc) or type(exc).__name__


async def _results_json(
    client: httpx.AsyncClient, request: httpx.Request, provider: str, label: str, url: str
) -> Any:
    """Send ``request``; return the JSON ``results`` list or raise a ``SearchError``."""
    try:
        response = await client.send(request)
    except httpx.TimeoutException:
        raise SearchUnavailable(provider, f"{label} at {url} did not answer in time") from None
    except httpx.HTTPError as exc:
        cause = _connect_cause(exc)
        raise SearchUnavailable(provider, f"could not reach {label} at {url}: {cause}") from None
    status = response.status_code
    if status == 429:
        raise SearchRateLimited(provider, f"{label} rate-limited the search (HTTP 429); {_SWITCH}")
    if provider == "tavily" and status in (401, 403):
        raise SearchUnavailable(
            provider, f"Tavily rejected the API key (HTTP {status}); check TAVILY_API_KEY"
        )
    if not 200 <= status < 300:
        json_off = (provider, status) == ("searxng", 403)
        hint = "; enable the json format in SearxNG's settings.yml" if json_off else ""
        raise SearchUnavailable(provider, f"{label} at {url} answered HTTP {status}{hint}")
    try:
        body = response.json()
    except ValueError:
        raise SearchUnavailable(provider, f"{label} at {url} returned invalid JSON") from None
    return body.get("results") if isinstance(body, dict) else None


class SearxNGProvider:
    """A SearxNG instance's JSON API (``search.formats`` must include ``json``)."""

    name = "searxng"

    def __init__(self, base_url: str, client: httpx.AsyncClient) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        """``GET {base_url}/search?q=...&format=json``."""
        params = {"q": query, "format": "json"}
        request = self.client.build_request("GET", f"{self.base_url}/search", params=params)
        items = await _results_json(self.client, request, self.name, "SearxNG", self.base_url)
        return _results(items, "url", "title", "content", max_results, self.name)


class TavilyProvider:
    """The Tavily search API (needs ``TAVILY_API_KEY``)."""

    name = "tavily"

    def __init__(
        self, api_key: str, client: httpx.AsyncClient, base_url: str = "https://api.tavily.com"
    ) -> None:
        self.api_key = api_key
        self.client = client
        self.base_url = base_url.rstrip("/")

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        """``POST {base_url}/search`` with a bearer key."""
        request = self.client.build_request(
            "POST",
            f"{self.base_url}/search",
            json={"query": query, "max_results": max_results},
            headers={"Authorization": f"Bearer {self.api_key}"},
        )
        items = await _results_json(self.client, request, self.name, "Tavily", self.base_url)
        return _results(items, "url", "title", "content", max_results, self.name)


class FallbackProvider:
    """Several providers in order: when one is rate-limited or down, the next is asked.

    Each result says which provider answered, and why the earlier ones did not
    (``via``, e.g. "searxng (duckduckgo: rate-limited)"), so a person sees it.
    """

    def __init__(self, providers: list[SearchProvider]) -> None:
        if not providers:
            raise ValueError("FallbackProvider needs at least one provider")
        self.providers = providers
        self.name = ",".join(p.name for p in providers)

    async def search(self, query: str, max_results: int) -> list[SearchResult]:
        """The first provider that answers; the last error if none does."""
        failures: list[str] = []
        last: SearchError | None = None
        for provider in self.providers:
            try:
                found = await provider.search(query, max_results)
            except SearchError as exc:
                last = exc
                kind = "rate-limited" if isinstance(exc, SearchRateLimited) else "unavailable"
                failures.append(f"{provider.name}: {kind}")
                continue
            via = provider.name + (f" ({'; '.join(failures)})" if failures else "")
            return [replace(result, via=via) for result in found]
        assert last is not None
        if len(self.providers) == 1:
            raise last
        error = type(last)(self.name, f"every search provider failed: {'; '.join(failures)}")
        raise error from last


class RateLimiter:
    """An async token bucket: ``rate`` requests per second, bursts of up to ``burst``."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("RateLimiter needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a request may be sent (callers are served first come, first served)."""
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)


@dataclass
class _Flight:
    task: asyncio.Task[list[SearchResult]]
    waiters: int = 0


class SearchSession:
    """One research run's searches: cached, de-duplicated, rate-limited, retried."""

    def __init__(
        self,
        provider: SearchProvider,
        *,
        limiter: RateLimiter,
        max_results: int = 5,
        retries: int = 2,
        backoff: float = 1.0,
    ) -> None:
        self.provider = provider
        self.limiter = limiter
        self.max_results = max_results
        self.retries = retries
        self.backoff = backoff
        self._cache: dict[str, tuple[SearchResult, ...]] = {}
        self._inflight: dict[str, _Flight] = {}

    async def search(self, query: str) -> list[SearchResult]:
        """Search once per distinct (normalised) query; raise ``SearchError`` on failure."""
        text = " ".join(query.split())
        key = text.casefold()
        if not key:
            return []
        if key in self._cache:
            return list(self._cache[key])
        flight = self._inflight.get(key)
        if flight is None:
            flight = self._inflight[key] = _Flight(asyncio.create_task(self._fetch(text)))
            flight.task.add_done_callback(lambda _: self._finish(key, flight))
        flight.waiters += 1
        try:
            return list(await asyncio.shield(flight.task))
        except asyncio.CancelledError:
            if flight.waiters == 1 and not flight.task.done():
                flight.task.cancel()  # nobody else wants this search any more
                self._forget(key, flight)  # later callers start afresh
            raise
        finally:
            flight.waiters -= 1

    def _forget(self, key: str, flight: _Flight) -> None:
        if self._inflight.get(key) is flight:
            del self._inflight[key]

    def _finish(self, key: str, flight: _Flight) -> None:
        """Cache a finished search's results; errors are not cached."""
        self._forget(key, flight)
        task = flight.task
        if not task.cancelled() and task.exception() is None:
            self._cache[key] = tuple(task.result())

    async def _fetch(self, query: str) -> list[SearchResult]:
        """Ask the provider, retrying with exponential backoff while it is rate-limited."""
        for attempt in range(self.retries + 1):
            await self.limiter.acquire()
            try:
                return await self.provider.search(query, self.max_results)
            except SearchRateLimited:
                if attempt >= self.retries:
                    raise
            await asyncio.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")


def format_results(results: list[SearchResult], snippet_chars: int = 400) -> str:
    """Number the results for a prompt: ``[1] Title\\nURL\\nsnippet``, blank-line separated."""
    if not results:
        return "No results."
    blocks = []
    for i, r in enumerate(results, 1):
        snippet = r.content if len(r.content) <= snippet_chars else r.content[:snippet_chars] + "…"
        blocks.append(f"[{i}] {r.title or r.url}\n{r.url}\n{snippet}".rstrip())
    via = list(dict.fromkeys(r.via for r in results if r.via))
    if via:
        blocks.append("Search answered by " + ", then ".join(via) + ".")
    return "\n\n".join(blocks)
