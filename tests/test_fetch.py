"""Page fetching against a local web server: extraction, limits, SSRF refusals, bounds, cache.

Only loopback addresses are ever connected to. Non-loopback private ranges are checked where no
connection can follow (the address check itself), so no test sends traffic off this machine.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import time
from collections.abc import Iterator, Sequence

import pytest
import trustme

from fakes.web_server import (
    ARTICLE_HTML,
    ARTICLE_TEXT,
    ARTICLE_TITLE,
    BOILERPLATE,
    CYRILLIC_TEXT,
    LATIN1_TEXT,
    PDF_PAGES,
    FakeWeb,
    Route,
    report_pdf,
)
from tools.fetch import (
    FetchError,
    FetchPolicy,
    Page,
    PageCache,
    PageFetcher,
    Resolver,
    _Vetter,
    non_public,
    parse_allow,
)

LOCAL = FetchPolicy(allow=("127.0.0.1",), total_timeout=5)


@pytest.fixture
def web() -> Iterator[FakeWeb]:
    """The local web server, its slow page taking 10 s, its oversized page 2 MB."""
    with FakeWeb(slow=10, huge=2_000_000) as server:
        yield server


def resolver(table: dict[str, Sequence[str]], calls: list[str] | None = None) -> Resolver:
    """A DNS stand-in answering from ``table`` (recording each lookup in ``calls``)."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


async def fetch(url: str, policy: FetchPolicy = LOCAL, **kwargs: object) -> Page:
    async with PageFetcher(policy, **kwargs) as fetcher:  # type: ignore[arg-type]
        return await fetcher.fetch(url)


async def refusal(url: str, policy: FetchPolicy = LOCAL, **kwargs: object) -> str:
    with pytest.raises(FetchError) as caught:
        await fetch(url, policy, **kwargs)
    return str(caught.value)


# --- reading pages ------------------------------------------------------------------------------


async def test_article_main_text_is_extracted_and_boilerplate_dropped(web: FakeWeb) -> None:
    page = await fetch(f"{web.url}/article")
    assert page.kind == "html"
    assert page.title == ARTICLE_TITLE
    for sentence in ARTICLE_TEXT:
        assert " ".join(sentence.split()) in " ".join(page.text.split())
    for junk in BOILERPLATE:
        assert junk not in page.text
    assert [seg.page for seg in page.segments] == [None]


async def test_requests_carry_a_clear_user_agent(web: FakeWeb) -> None:
    await fetch(f"{web.url}/article")
    agent = web.hits[0].headers["user-agent"]
    assert agent == LOCAL.user_agent
    assert agent.startswith("assistant-research/")


async def test_redirects_are_followed_and_final_url_set(web: FakeWeb) -> None:
    page = await fetch(f"{web.url}/redirect-chain")
    assert page.url == f"{web.url}/redirect-chain"
    assert page.final_url == f"{web.url}/article"
    assert page.title == ARTICLE_TITLE
    assert web.paths() == ["/redirect-chain", "/redirect", "/article"]


async def test_a_redirect_loop_stops_at_the_limit(web: FakeWeb) -> None:
    policy = FetchPolicy(allow=("127.0.0.1",), max_redirects=3)
    assert await refusal(f"{web.url}/redirect-loop", policy) == "more than 3 redirects"
    assert len(web.hits) == 4


async def test_slow_page_times_out_without_holding_up_other_fetches(web: FakeWeb) -> None:
    policy = FetchPolicy(allow=("127.0.0.1",), total_timeout=1.0)
    async with PageFetcher(policy) as fetcher:
        start = time.monotonic()

        async def timed(path: str) -> tuple[Page | FetchError, float]:
            try:
                result: Page | FetchError = await fetcher.fetch(f"{web.url}{path}")
            except FetchError as exc:
                result = exc
            return result, time.monotonic() - start

        (slow, slow_took), (fast, fast_took) = await asyncio.gather(
            timed("/slow"), timed("/article")
        )
    assert str(slow) == "timed out after 1 s"
    assert 0.9 <= slow_took < 2.0
    assert isinstance(fast, Page)
    assert fast_took < 0.8


async def test_oversized_page_is_refused_not_truncated(web: FakeWeb) -> None:
    policy = FetchPolicy(allow=("127.0.0.1",), max_bytes=100_000)
    start = time.monotonic()
    assert await refusal(f"{web.url}/huge", policy) == "larger than 97.7 KB"
    assert time.monotonic() - start < 2


async def test_declared_length_over_the_limit_is_refused_before_reading(web: FakeWeb) -> None:
    body = b"<html><body><p>x</p></body></html>" * 4000
    web.routes["/big"] = Route(body=body)
    policy = FetchPolicy(allow=("127.0.0.1",), max_bytes=10_000)
    assert await refusal(f"{web.url}/big", policy) == "larger than 9.77 KB"


async def test_compressed_body_is_limited_by_its_unpacked_size(web: FakeWeb) -> None:
    bomb = gzip.compress(b"<p>" + b" " * 3_000_000 + b"</p>")  # about 3 KB on the wire
    web.routes["/bomb"] = Route(body=bomb, headers={"Content-Encoding": "gzip"})
    policy = FetchPolicy(allow=("127.0.0.1",), max_bytes=1_000_000)
    assert len(bomb) < 10_000
    assert await refusal(f"{web.url}/bomb", policy) == "larger than 977 KB"


async def test_pdf_text_comes_with_page_numbers(web: FakeWeb) -> None:
    page = await fetch(f"{web.url}/report.pdf")
    assert page.kind == "pdf"
    assert page.title == "Tides"
    assert [seg.page for seg in page.segments] == [1, 2, 3]
    for seg, expected in zip(page.segments, PDF_PAGES, strict=True):
        assert " ".join(seg.text.split()) == expected


async def test_a_pdf_served_as_octet_stream_is_recognised(web: FakeWeb) -> None:
    web.routes["/download"] = Route(body=report_pdf(), content_type="application/octet-stream")
    page = await fetch(f"{web.url}/download")
    assert page.kind == "pdf"
    assert len(page.segments) == 3


async def test_unsupported_content_type_is_refused(web: FakeWeb) -> None:
    assert await refusal(f"{web.url}/image.png") == "unsupported content type image/png"


async def test_http_errors_are_reported_by_status(web: FakeWeb) -> None:
    assert await refusal(f"{web.url}/no-such-page") == "HTTP 404"


@pytest.mark.parametrize(
    ("path", "expected", "kind"),
    [
        ("/cp1251", CYRILLIC_TEXT, "html"),  # charset in the Content-Type header
        ("/latin1-meta", LATIN1_TEXT, "html"),  # charset only in <meta>
        ("/notes.txt", LATIN1_TEXT, "text"),  # text/plain; charset=iso-8859-1
    ],
)
async def test_non_utf8_pages_are_decoded(
    web: FakeWeb, path: str, expected: str, kind: str
) -> None:
    page = await fetch(f"{web.url}{path}")
    assert page.kind == kind
    assert expected in page.text


async def test_a_page_without_readable_text_is_an_error(web: FakeWeb) -> None:
    assert await refusal(f"{web.url}/app") == "no readable text on the page"


async def test_long_text_is_capped_between_words(web: FakeWeb) -> None:
    policy = FetchPolicy(allow=("127.0.0.1",), max_text_chars=100)
    page = await fetch(f"{web.url}/article", policy)
    assert 80 <= len(page.text) <= 100
    assert ARTICLE_HTML.find(page.text.split()[-1]) >= 0  # ends on a whole word


async def test_an_unreachable_port_is_one_clear_line(web: FakeWeb) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refuses connections
        message = await refusal(f"http://127.0.0.1:{port}/")
    assert message == "could not connect to 127.0.0.1: connection refused"


async def test_fetch_many_maps_every_url_to_its_page_or_error(web: FakeWeb) -> None:
    urls = [f"{web.url}/article", f"{web.url}/image.png", f"{web.url}/article"]
    async with PageFetcher(LOCAL) as fetcher:
        results = await fetcher.fetch_many(urls)
    assert list(results) == urls[:2]
    assert isinstance(results[urls[0]], Page)
    assert str(results[urls[1]]) == "unsupported content type image/png"


async def test_proxy_variables_are_ignored(web: FakeWeb, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing answers
    page = await fetch(f"{web.url}/article")
    assert page.title == ARTICLE_TITLE
    assert web.hits[0].path == "/article"


# --- server-side request forgery ----------------------------------------------------------------


async def test_loopback_is_refused_without_allow(web: FakeWeb) -> None:
    message = await refusal(f"{web.url}/article", FetchPolicy())
    assert message == "refused: 127.0.0.1 is a loopback address"
    assert web.hits == []


@pytest.mark.parametrize(
    "host",
    ["localhost", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "127.1", "2130706433", "127.0.0.2"],
)
async def test_other_spellings_of_this_machine_are_refused(web: FakeWeb, host: str) -> None:
    message = await refusal(f"http://{host}:{web.port}/article", FetchPolicy())
    assert message.startswith("refused: ")
    assert message.endswith((" loopback address", " unspecified address"))
    assert web.hits == []


async def test_loopback_is_accepted_when_allowed(web: FakeWeb) -> None:
    page = await fetch(f"{web.url}/article", FetchPolicy(allow=("127.0.0.0/8",)))
    assert page.title == ARTICLE_TITLE


async def test_an_allowed_host_name_keeps_its_name_in_the_host_header(web: FakeWeb) -> None:
    page = await fetch(f"http://localhost:{web.port}/article", FetchPolicy(allow=("localhost",)))
    assert page.title == ARTICLE_TITLE
    assert web.hits[0].host == f"localhost:{web.port}"


async def test_redirect_from_an_allowed_host_to_a_refused_one(web: FakeWeb) -> None:
    dns = resolver({"private.test": ["127.0.0.2"]})  # loopback, but not the allowed 127.0.0.1
    message = await refusal(f"{web.url}/redirect-private", LOCAL, resolver=dns)
    assert message == "refused: private.test resolves to 127.0.0.2, which is a loopback address"
    assert web.paths() == ["/redirect-private"]


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/", "gopher://x.test/"])
async def test_redirect_to_another_scheme_is_refused(web: FakeWeb, target: str) -> None:
    web.routes["/jump"] = Route(302, location=target)
    message = await refusal(f"{web.url}/jump")
    assert message.startswith("refused: only http and https pages are fetched, not ")
    assert web.paths() == ["/jump"]


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("file:///etc/passwd", "file:"),
        ("ftp://ftp.example.test/file.txt", "ftp:"),
        ("javascript:alert(1)", "javascript:"),
        ("data:text/html,<p>hi</p>", "data:"),
    ],
)
async def test_non_web_schemes_are_refused(url: str, scheme: str) -> None:
    message = await refusal(url)
    assert message == f"refused: only http and https pages are fetched, not {scheme}"


async def test_a_host_resolving_to_loopback_is_refused(web: FakeWeb) -> None:
    dns = resolver({"evil.test": ["127.0.0.1"]})
    message = await refusal(f"http://evil.test:{web.port}/article", FetchPolicy(), resolver=dns)
    assert message == "refused: evil.test resolves to 127.0.0.1, which is a loopback address"
    assert web.hits == []


async def test_one_refused_address_among_several_refuses_the_host() -> None:
    vetter = _Vetter((), resolver({"mixed.test": ["93.184.216.34", "10.0.0.5"]}))
    with pytest.raises(
        FetchError, match=r"mixed\.test resolves to 10\.0\.0\.5, which is a private"
    ):
        await vetter.addresses("mixed.test", 80)


async def test_an_unknown_host_name_is_one_clear_line() -> None:
    message = await refusal("http://nowhere.test/", FetchPolicy(), resolver=resolver({}))
    assert message == "host name not found: nowhere.test"


async def test_the_connection_goes_to_the_address_that_was_checked(web: FakeWeb) -> None:
    # A rebinding name: checked as 127.0.0.1 (allowed), later answers 127.0.0.2 (refused, and
    # nothing listens there). Only one lookup happens, and its answer is the one connected to.
    calls: list[str] = []
    answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.2"]])

    async def rebinding(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return next(answers)

    page = await fetch(f"http://rebind.test:{web.port}/article", LOCAL, resolver=rebinding)
    assert page.title == ARTICLE_TITLE
    assert calls == ["rebind.test"]
    assert web.hits[0].host == f"rebind.test:{web.port}"


async def test_https_checks_the_original_name_on_the_checked_address() -> None:
    ca = trustme.CA()
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("secure.test").configure_cert(server_side)
    client_side = ssl.create_default_context()
    ca.configure_trust(client_side)
    dns = resolver({"secure.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    with FakeWeb(tls=server_side) as web:
        page = await fetch(
            f"https://secure.test:{web.port}/article", resolver=dns, ssl_context=client_side
        )
        assert page.title == ARTICLE_TITLE
        assert web.hits[0].host == f"secure.test:{web.port}"
        # Same address, another name: the certificate (for secure.test) no longer matches.
        message = await refusal(
            f"https://other.test:{web.port}/article", resolver=dns, ssl_context=client_side
        )
    assert message == "could not connect to other.test: its TLS certificate is not valid"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "non-public"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "private"),
        ("0.0.0.0", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:10.0.0.5", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("64:ff9b::a00:5", "private"),  # NAT64 form of 10.0.0.5
        ("2002:a00:5::1", "private"),  # 6to4 form of 10.0.0.5
        ("2001:db8::1", "private"),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_non_public_addresses_are_named(address: str, reason: str | None) -> None:
    assert non_public(address) == reason


def test_allow_list_entries_are_validated() -> None:
    assert parse_allow("localhost, 10.1.0.0/16  Wiki.Corp.") == (
        "localhost",
        "10.1.0.0/16",
        "wiki.corp",
    )
    with pytest.raises(ValueError, match="not a host name"):
        parse_allow("http://wiki.corp/")


# --- bounds, de-duplication and cache -----------------------------------------------------------


async def test_per_host_and_per_run_bounds_hold_at_the_server(web: FakeWeb) -> None:
    web.routes["/wait"] = Route(body=ARTICLE_HTML.encode(), delay=0.25)
    hosts = ["a.test", "b.test", "c.test"]
    dns = resolver({host: ["127.0.0.1"] for host in hosts})
    policy = FetchPolicy(allow=("127.0.0.1",), per_host=2, per_run=3)
    urls = [f"http://{h}:{web.port}/wait?n={i}" for h in hosts for i in range(4)]
    async with PageFetcher(policy, resolver=dns) as fetcher:
        results = await fetcher.fetch_many(urls)
    assert all(isinstance(r, Page) for r in results.values())
    assert len(web.hits) == 12
    assert max(web.peak(f"{h}:{web.port}") for h in hosts) == 2
    assert web.peak() == 3


async def test_identical_concurrent_urls_are_fetched_once(web: FakeWeb) -> None:
    web.routes["/wait"] = Route(body=ARTICLE_HTML.encode(), delay=0.2)
    urls = [f"{web.url}/wait"] * 4 + [f"{web.url}/wait#section"]
    async with PageFetcher(LOCAL) as fetcher:
        pages = await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    assert web.paths() == ["/wait"]
    assert [p.url for p in pages] == urls
    assert fetcher.requests == 1


async def test_cache_serves_a_later_run_without_a_request(web: FakeWeb) -> None:
    cache = PageCache()
    first = await fetch(f"{web.url}/redirect", cache=cache)
    again = await fetch(f"{web.url}/redirect", cache=cache)
    final = await fetch(f"{web.url}/article", cache=cache)  # stored under the final URL too
    assert web.paths() == ["/redirect", "/article"]
    assert again == first
    assert final.url == f"{web.url}/article"
    assert cache.hits == 2


async def test_cached_pages_expire(web: FakeWeb) -> None:
    now = [1000.0]
    cache = PageCache(ttl=60, clock=lambda: now[0])
    await fetch(f"{web.url}/article", cache=cache)
    now[0] += 59
    await fetch(f"{web.url}/article", cache=cache)
    now[0] += 2
    await fetch(f"{web.url}/article", cache=cache)
    assert web.paths() == ["/article", "/article"]


async def test_errors_are_not_cached(web: FakeWeb) -> None:
    cache = PageCache()
    for _ in range(2):
        await refusal(f"{web.url}/no-such-page", cache=cache)
    assert len(web.hits) == 2
    assert len(cache) == 0


def test_cache_is_bounded_by_entries_and_characters() -> None:
    def page(n: int, chars: int) -> Page:
        from tools.extract import Segment

        return Page(f"u{n}", f"u{n}", "", "text", (Segment(None, "x" * chars),))

    by_count = PageCache(max_entries=2)
    for n in range(3):
        by_count.put(f"u{n}", page(n, 10))
    assert [by_count.get(f"u{n}") is not None for n in range(3)] == [False, True, True]

    by_size = PageCache(max_chars=250)
    for n in range(3):
        by_size.put(f"u{n}", page(n, 100))
    assert len(by_size) == 2
    by_size.put("big", page(9, 300))  # larger than the whole cache: not stored
    assert by_size.get("big") is None
