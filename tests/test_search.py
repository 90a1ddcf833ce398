"""Tests for tools.search against the local fake search server (loopback only)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Iterator
from typing import Any

import ddgs
import httpx
import pytest
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException

from assistant.searching import SearchService, make_provider
from assistant.settings import Settings
from fakes.search_server import FakeSearch
from tools.search import (
    DuckDuckGoProvider,
    FallbackProvider,
    RateLimiter,
    SearchError,
    SearchRateLimited,
    SearchResult,
    SearchSession,
    SearchUnavailable,
    SearxNGProvider,
    TavilyProvider,
    format_results,
)


@pytest.fixture
def fake() -> Iterator[FakeSearch]:
    with FakeSearch() as server:
        yield server


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def session(provider: Any, **kwargs: Any) -> SearchSession:
    return SearchSession(provider, limiter=RateLimiter(rate=1000, burst=100), **kwargs)


async def test_searxng_returns_results(fake: FakeSearch) -> None:
    async with httpx.AsyncClient() as client:
        results = await SearxNGProvider(fake.url, client).search("solar power", 5)
    assert results[0] == SearchResult(
        f"{fake.url}/page/solar-power/1",
        "Solar Power — source 1",
        "Facts about solar power number 1.",
        via="searxng",
    )
    assert len(results) == 3
    assert [r[0] for r in fake.requests] == ["solar power"]


async def test_searxng_respects_max_results(fake: FakeSearch) -> None:
    async with httpx.AsyncClient() as client:
        assert len(await SearxNGProvider(fake.url, client).search("x", 2)) == 2


async def test_searxng_ratelimit_raises(fake: FakeSearch) -> None:
    fake.mode = "ratelimit"
    async with httpx.AsyncClient() as client:
        with pytest.raises(SearchRateLimited, match=r"SearxNG.*429") as info:
            await SearxNGProvider(fake.url, client).search("q", 5)
    assert info.value.provider == "searxng"


async def test_searxng_error_mode_raises_with_url(fake: FakeSearch) -> None:
    fake.mode = "error"
    async with httpx.AsyncClient() as client:
        with pytest.raises(SearchUnavailable) as info:
            await SearxNGProvider(fake.url, client).search("q", 5)
    assert fake.url in str(info.value) and "503" in str(info.value)
    assert "\n" not in str(info.value)


async def test_searxng_connection_refused() -> None:
    url = closed_port_url()
    async with httpx.AsyncClient() as client:
        with pytest.raises(SearchUnavailable) as info:
            await SearxNGProvider(url, client).search("q", 5)
    assert str(info.value) == f"could not reach SearxNG at {url}: connection refused"


async def test_stopped_server_refuses() -> None:
    server = FakeSearch().start()
    url = server.url
    async with httpx.AsyncClient() as client:
        provider = SearxNGProvider(url, client)
        assert await provider.search("q", 5)
        server.stop()
        with pytest.raises(SearchUnavailable, match="connection refused"):
            await provider.search("q", 5)


async def test_searxng_timeout() -> None:
    with FakeSearch(latency=0.5) as server:
        async with httpx.AsyncClient(timeout=0.05) as client:
            with pytest.raises(SearchUnavailable, match="did not answer in time"):
                await SearxNGProvider(server.url, client).search("q", 5)


async def test_searxng_invalid_json() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>"))
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(SearchUnavailable, match="invalid JSON"):
            await SearxNGProvider("http://searx.test", client).search("q", 5)


async def test_empty_mode_returns_empty_list(fake: FakeSearch) -> None:
    fake.mode = "empty"
    async with httpx.AsyncClient() as client:
        assert await SearxNGProvider(fake.url, client).search("q", 5) == []
        assert await TavilyProvider("k", client, fake.url).search("q", 5) == []


async def test_tavily_post() -> None:
    with FakeSearch(api_key="secret") as server:
        async with httpx.AsyncClient() as client:
            results = await TavilyProvider("secret", client, server.url).search("wind farms", 2)
            assert [r.url for r in results] == [
                f"{server.url}/page/wind-farms/1",
                f"{server.url}/page/wind-farms/2",
            ]
            assert server.last_authorization == "Bearer secret"
            with pytest.raises(SearchUnavailable, match="TAVILY_API_KEY") as info:
                await TavilyProvider("wrong", client, server.url).search("q", 2)
            assert "wrong" not in str(info.value)
            server.mode = "ratelimit"
            with pytest.raises(SearchRateLimited, match="Tavily"):
                await TavilyProvider("secret", client, server.url).search("q", 2)


async def test_session_dedups_concurrent_queries() -> None:
    with FakeSearch(latency=0.2) as server:
        async with httpx.AsyncClient() as client:
            s = session(SearxNGProvider(server.url, client))
            results = await asyncio.gather(*(s.search("solar power") for _ in range(5)))
    assert len(server.requests) == 1
    assert all(r == results[0] for r in results) and len(results[0]) == 3


async def test_session_caches_normalised_queries(fake: FakeSearch) -> None:
    async with httpx.AsyncClient() as client:
        s = session(SearxNGProvider(fake.url, client))
        first = await s.search("  Foo  bar")
        assert await s.search("foo bar") == first
        assert await s.search("FOO\tBAR ") == first
        await s.search("other")
    assert [r[0] for r in fake.requests] == ["Foo bar", "other"]
    assert await s.search("   ") == []


async def test_session_retries_rate_limit_then_raises(fake: FakeSearch) -> None:
    fake.mode = "ratelimit"
    async with httpx.AsyncClient() as client:
        s = session(SearxNGProvider(fake.url, client), retries=2, backoff=0.01)
        with pytest.raises(SearchRateLimited):
            await s.search("q")
    assert len(fake.requests) == 3


async def test_session_retry_recovers(fake: FakeSearch) -> None:
    class Flaky:
        name = "flaky"
        calls = 0

        async def search(self, query: str, max_results: int) -> list[SearchResult]:
            self.calls += 1
            if self.calls == 1:
                raise SearchRateLimited(self.name, "slow down")
            return [SearchResult("https://a.test", "A", "a")]

    flaky = Flaky()
    s = session(flaky, retries=2, backoff=0.01)
    assert [r.url for r in await s.search("q")] == ["https://a.test"]
    assert flaky.calls == 2


async def test_session_errors_shared_but_not_cached() -> None:
    with FakeSearch(latency=0.1, mode="error") as server:
        async with httpx.AsyncClient() as client:
            s = session(SearxNGProvider(server.url, client))
            outcomes = await asyncio.gather(
                *(s.search("q") for _ in range(3)), return_exceptions=True
            )
            assert all(isinstance(o, SearchUnavailable) for o in outcomes)
            assert len(server.requests) == 1  # unavailable is not retried
            server.mode = "ok"
            assert len(await s.search("q")) == 3
            assert len(server.requests) == 2


async def test_session_cancel_last_waiter_cancels_search() -> None:
    with FakeSearch(latency=0.3) as server:
        async with httpx.AsyncClient() as client:
            s = session(SearxNGProvider(server.url, client))
            task = asyncio.create_task(s.search("q"))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert s._inflight == {}
            assert len(await s.search("q")) == 3
            assert len(server.requests) == 2


async def test_session_uses_limiter() -> None:
    class Instant:
        name = "instant"

        async def search(self, query: str, max_results: int) -> list[SearchResult]:
            return []

    s = SearchSession(Instant(), limiter=RateLimiter(rate=20, burst=1))
    start = time.monotonic()
    await asyncio.gather(*(s.search(f"q{i}") for i in range(4)))
    assert time.monotonic() - start >= 0.12  # 3 waits of 0.05 s, loosely


async def test_rate_limiter_spaces_acquisitions() -> None:
    limiter = RateLimiter(rate=20, burst=1)
    stamps: list[float] = []

    async def take() -> None:
        await limiter.acquire()
        stamps.append(time.monotonic())

    await asyncio.gather(*(take() for _ in range(5)))
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert len(gaps) == 4 and all(gap >= 0.04 for gap in gaps), gaps


async def test_rate_limiter_burst() -> None:
    limiter = RateLimiter(rate=5, burst=3)
    start = time.monotonic()
    for _ in range(3):
        await limiter.acquire()
    assert time.monotonic() - start < 0.1
    with pytest.raises(ValueError):
        RateLimiter(rate=0)


def fake_ddgs(outcome: Any) -> type:
    class FakeDDGS:
        def __init__(self, timeout: int | None = 5) -> None:
            self.timeout = timeout

        def text(self, query: str, max_results: int | None = 10) -> list[dict[str, Any]]:
            if isinstance(outcome, BaseException):
                raise outcome
            return list(outcome)

    return FakeDDGS


async def test_duckduckgo_maps_results(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = [
        {"href": "https://a.test", "title": "A", "body": "alpha"},
        {"href": "https://b.test", "title": "B", "body": "beta"},
        {"title": "no href"},
    ]
    monkeypatch.setattr(ddgs, "DDGS", fake_ddgs(raw))
    results = await DuckDuckGoProvider(timeout=5).search("q", 5)
    assert results == [
        SearchResult("https://a.test", "A", "alpha", "duckduckgo"),
        SearchResult("https://b.test", "B", "beta", "duckduckgo"),
    ]
    monkeypatch.setattr(ddgs, "DDGS", fake_ddgs([]))
    assert await DuckDuckGoProvider(timeout=5).search("q", 5) == []


@pytest.mark.parametrize(
    ("exc", "kind", "text"),
    [
        (RatelimitException("202 Ratelimit"), SearchRateLimited, "HTTP 202 Ratelimit"),
        (DDGSException("No results found."), SearchRateLimited, "HTTP 202 Ratelimit"),
        (DDGSException(RatelimitException("202")), SearchRateLimited, "HTTP 202 Ratelimit"),
        (DDGSException("DNSError: no route"), SearchUnavailable, "DNSError"),
        (TimeoutException("timed out"), SearchUnavailable, "timeout"),
    ],
)
async def test_duckduckgo_maps_errors(
    monkeypatch: pytest.MonkeyPatch, exc: Exception, kind: type[SearchError], text: str
) -> None:
    monkeypatch.setattr(ddgs, "DDGS", fake_ddgs(exc))
    with pytest.raises(kind, match=text) as info:
        await DuckDuckGoProvider(timeout=5).search("q", 5)
    assert type(info.value) is kind and info.value.provider == "duckduckgo"
    assert "DuckDuckGo" in str(info.value)


async def test_make_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SEARXNG_URL", "TAVILY_API_KEY", "TAVILY_URL"):
        monkeypatch.delenv(name, raising=False)
    async with httpx.AsyncClient() as client:
        with pytest.raises(SearchError, match="needs SEARXNG_URL"):
            make_provider(Settings(search_providers="searxng"), client)
        with pytest.raises(SearchError, match="TAVILY_API_KEY"):
            make_provider(Settings(search_providers="tavily"), client)
        searx = make_provider(
            Settings(search_providers="searxng", searxng_url="http://127.0.0.1:9/"), client
        )
        assert isinstance(searx, SearxNGProvider) and searx.base_url == "http://127.0.0.1:9"
        tavily = make_provider(
            Settings(search_providers="tavily", tavily_api_key="k", tavily_url="http://t.test"),
            client,
        )
        assert isinstance(tavily, TavilyProvider) and tavily.base_url == "http://t.test"
        ddg = make_provider(Settings(search_providers="duckduckgo", search_timeout=3), client)
        assert isinstance(ddg, DuckDuckGoProvider) and ddg.timeout == 3


def test_format_results() -> None:
    text = format_results(
        [SearchResult("https://a.test", "A", "alpha"), SearchResult("https://b.test", "", "")]
    )
    assert text == "[1] A\nhttps://a.test\nalpha\n\n[2] https://b.test\nhttps://b.test"
    assert format_results([]) == "No results."


async def test_only_web_urls_are_kept_and_long_fields_are_cut() -> None:
    hostile = [
        {"url": "javascript:alert(1)", "title": "js", "content": "x"},
        {"url": "file:///etc/passwd", "title": "file", "content": "x"},
        {"url": "data:text/html,hi", "title": "data", "content": "x"},
        {"url": "https://ok.test/a", "title": "T" * 5_000, "content": "C" * 1_000_000},
    ]
    with FakeSearch(results_for=lambda q: hostile) as server:
        async with httpx.AsyncClient() as client:
            results = await SearxNGProvider(server.url, client).search("q", 10)
    assert [r.url for r in results] == ["https://ok.test/a"]
    assert len(results[0].title) <= 300
    assert len(results[0].content) <= 2_000


async def test_every_search_of_a_process_shares_one_rate_limit(fake: FakeSearch) -> None:
    settings = Settings(search_providers="searxng", searxng_url=fake.url, search_rate=10)
    async with httpx.AsyncClient() as client:
        service = SearchService(settings, client)
        started = time.monotonic()
        # eight sessions (eight runs or web_search calls), one query each
        await asyncio.gather(*(service.session().search(f"q{i}") for i in range(8)))
        elapsed = time.monotonic() - started
    # burst of max_parallel (4) at once, then 10 per second: 4 more take >= 0.3 s
    assert elapsed >= 0.3
    assert len(fake.requests) == 8


async def test_a_fallback_order_tries_the_next_provider_and_says_which_answered() -> None:
    with FakeSearch(mode="ratelimit") as limited, FakeSearch() as working:
        async with httpx.AsyncClient() as client:
            chain = FallbackProvider(
                [SearxNGProvider(limited.url, client), TavilyProvider("k", client, working.url)]
            )
            results = await chain.search("tides", 3)
            assert [r.via for r in results] == ["tavily (searxng: rate-limited)"] * 3
            working.mode = "error"
            with pytest.raises(SearchUnavailable, match="every search provider failed"):
                await chain.search("tides again", 3)


async def test_the_fallback_order_comes_from_the_setting(fake: FakeSearch) -> None:
    settings = Settings(
        search_providers="tavily, searxng", tavily_api_key="k", searxng_url=fake.url
    )
    async with httpx.AsyncClient() as client:
        chain = make_provider(settings, client)
    assert isinstance(chain, FallbackProvider)
    assert [p.name for p in chain.providers] == ["tavily", "searxng"]
