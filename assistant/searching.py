"""Web search as the engine uses it: the configured provider, one rate limit per process."""

from __future__ import annotations

import httpx

from assistant.settings import Settings
from tools.search import (
    DuckDuckGoProvider,
    FallbackProvider,
    RateLimiter,
    SearchError,
    SearchProvider,
    SearchSession,
    SearxNGProvider,
    TavilyProvider,
)


def make_provider(settings: Settings, client: httpx.AsyncClient) -> SearchProvider:
    """The provider ``ASSISTANT_SEARCH_PROVIDER`` names, or several in their fallback order;
    ``SearchError`` if one is unusable as configured."""
    providers = [_one(name, settings, client) for name in settings.search_providers]
    return providers[0] if len(providers) == 1 else FallbackProvider(providers)


def _one(name: str, settings: Settings, client: httpx.AsyncClient) -> SearchProvider:
    if name == "searxng":
        if not settings.searxng_url:
            raise SearchError(name, "ASSISTANT_SEARCH_PROVIDER=searxng needs SEARXNG_URL")
        return SearxNGProvider(settings.searxng_url, client)
    if name == "tavily":
        key = settings.tavily_api_key.get_secret_value() if settings.tavily_api_key else ""
        if not key:
            raise SearchError(name, "ASSISTANT_SEARCH_PROVIDER=tavily needs TAVILY_API_KEY")
        return TavilyProvider(key, client, settings.tavily_url)
    return DuckDuckGoProvider(settings.search_timeout)


class SearchService:
    """Search sessions that all share this process's one rate limiter.

    ``ASSISTANT_SEARCH_RATE`` bounds every search the process sends (research workers of
    every run and quick ``web_search`` calls alike), not each session separately.
    """

    def __init__(self, settings: Settings, client: httpx.AsyncClient) -> None:
        """One limiter for the life of the engine."""
        self.settings = settings
        self.client = client
        self.limiter = RateLimiter(settings.search_rate, burst=max(1, settings.max_parallel))

    def session(self) -> SearchSession:
        """A fresh session: its own cache and de-duplication, the shared limiter."""
        return SearchSession(
            make_provider(self.settings, self.client),
            limiter=self.limiter,
            max_results=self.settings.search_results,
        )
