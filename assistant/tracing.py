"""Optional tracing of every model call, tool call and graph node to Phoenix (issue 11).

Off unless ``PHOENIX_COLLECTOR_ENDPOINT`` is set. When it is, ``setup_tracing`` creates one
OpenTelemetry tracer provider that exports OpenInference spans over OTLP/HTTP (protobuf) to
``<endpoint>/v1/traces`` and instruments LangChain with it (which covers LangGraph's nodes,
the model calls and the tools). ``Tracing.run`` tags every span of one run with the thread id
(``session.id``) and the person (``user.id``), so Phoenix groups a conversation's traces.

Nothing from OpenTelemetry or OpenInference is imported by this module itself: without the
variable, start-up does not pay for them.

Variables:
    PHOENIX_COLLECTOR_ENDPOINT  Phoenix's base URL (``http://localhost:6006``) or the full
                                OTLP/HTTP traces URL (``.../v1/traces``). gRPC is not used.
    PHOENIX_API_KEY             sent as ``authorization: Bearer <key>`` (Phoenix with auth).
    PHOENIX_CLIENT_HEADERS      more headers, ``name=value,name2=value2`` (URL-encoded values).
    ASSISTANT_TRACE_PROJECT     the Phoenix project the spans land in (default ``assistant``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from assistant.settings import SettingsError

log = logging.getLogger(__name__)

ENDPOINT_ENV = "PHOENIX_COLLECTOR_ENDPOINT"
API_KEY_ENV = "PHOENIX_API_KEY"
HEADERS_ENV = "PHOENIX_CLIENT_HEADERS"
PROJECT_ENV = "ASSISTANT_TRACE_PROJECT"
DEFAULT_PROJECT = "assistant"
TRACES_PATH = "/v1/traces"
EXPORT_TIMEOUT_S = 5.0
"""Seconds one export may take; bounds the wait at exit when the collector is down."""


class TracingError(SettingsError):
    """A tracing variable has a bad value; ``str()`` is one line naming it."""


@dataclass(frozen=True)
class TracingConfig:
    """Where and how spans are exported."""

    endpoint: str
    """The full OTLP/HTTP traces URL."""
    project: str = DEFAULT_PROJECT
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def tracing_config(environ: Mapping[str, str]) -> TracingConfig | None:
    """Read and check the tracing variables (imports nothing); None when tracing is off."""
    raw = environ.get(ENDPOINT_ENV, "").strip()
    if not raw:
        return None
    headers = _parse_headers(environ.get(HEADERS_ENV, ""))
    if api_key := environ.get(API_KEY_ENV, "").strip():
        headers["authorization"] = f"Bearer {api_key}"
    project = environ.get(PROJECT_ENV, "").strip() or DEFAULT_PROJECT
    return TracingConfig(endpoint=traces_url(raw), project=project, headers=headers)


def traces_url(endpoint: str) -> str:
    """``http://host:6006`` -> ``http://host:6006/v1/traces``; a full traces URL is kept."""
    bad = f"invalid setting {ENDPOINT_ENV}: must be an http:// or https:// URL such as " + (
        f"http://localhost:6006 (got {endpoint!r})"
    )
    try:
        parts = urlsplit(endpoint)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError:
        raise TracingError(bad) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise TracingError(bad)
    if port == 4317:
        raise TracingError(
            f"invalid setting {ENDPOINT_ENV}: port 4317 is OTLP over gRPC; give Phoenix's "
            f"HTTP port instead, e.g. http://{parts.hostname}:6006 (got {endpoint!r})"
        )
    path = parts.path.rstrip("/")
    if not path.endswith(TRACES_PATH):
        path += TRACES_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _parse_headers(text: str) -> dict[str, str]:
    """``a=1,b=x%20y`` -> ``{"a": "1", "b": "x y"}`` (OTel's W3C-baggage-like format)."""
    headers: dict[str, str] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name = unquote(name.strip()).lower()
        if not sep or not name or any(c in name for c in " \t:"):
            raise TracingError(
                f"invalid setting {HEADERS_ENV}: use name=value pairs separated by commas"
            )
        headers[name] = unquote(value.strip())
    return headers


class Tracing:
    """The process's tracer provider and LangChain instrumentation; see ``setup_tracing``."""

    def __init__(self, config: TracingConfig, provider: Any, instrumentor: Any | None) -> None:
        """Use ``setup_tracing``. ``instrumentor``: the one we turned on, to turn off."""
        self.config = config
        self.provider = provider
        self._instrumentor = instrumentor

    @contextlib.contextmanager
    def run(self, thread_id: str, owner: str | None = None) -> Iterator[None]:
        """Within this block every span carries ``session.id`` = ``thread_id`` (and
        ``user.id`` = ``owner``). Sync, so usable inside async code and async generators:
        tasks started inside (LangGraph's nodes) inherit it."""
        from openinference.instrumentation import using_attributes

        with using_attributes(session_id=thread_id, user_id=owner or ""):
            yield

    def shutdown(self) -> None:
        """Stop instrumenting, export what is left and close the exporter (blocks briefly)."""
        if self._instrumentor is not None and self._instrumentor.is_instrumented_by_opentelemetry:
            self._instrumentor.uninstrument()
        self.provider.shutdown()


def setup_tracing(environ: Mapping[str, str]) -> Tracing | None:
    """Turn tracing on if ``PHOENIX_COLLECTOR_ENDPOINT`` is set; None (and nothing imported)
    otherwise. Raises ``TracingError`` with one line for a bad value.

    Call it once per process, before the engine runs anything. The provider is handed to
    the LangChain instrumentation explicitly and is deliberately NOT made OpenTelemetry's
    global one: FastAPI (0.165+, under Chainlit) traces every HTTP request and websocket as
    soon as a global provider exists, which would fill the project with request spans and
    hang every run of a browser session under one long websocket span. Each run starts its
    own trace, whatever span is current. Chainlit imports OpenTelemetry and Traceloop but
    sets no provider (checked by tests/ui/test_tracing.py).
    """
    config = tracing_config(environ)
    if config is None:
        return None
    return _install(config)


def _install(config: TracingConfig) -> Tracing:
    try:
        from openinference.instrumentation.langchain import LangChainInstrumentor
        from openinference.semconv.resource import ResourceAttributes
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TracingError(
            f"{ENDPOINT_ENV} is set but a tracing package is missing ({exc.name}): "
            'pip install -e ".[tracing]" opentelemetry-exporter-otlp-proto-http'
        ) from None

    resource = Resource.create(
        {ResourceAttributes.PROJECT_NAME: config.project, SERVICE_NAME: "assistant"}
    )
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(
        endpoint=config.endpoint, headers=config.headers, timeout=EXPORT_TIMEOUT_S
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))

    instrumentor = LangChainInstrumentor()  # one instance per process (BaseInstrumentor)
    if instrumentor.is_instrumented_by_opentelemetry:
        log.warning("LangChain was already instrumented: spans keep their earlier destination")
        return Tracing(config, provider, None)
    instrumentor.instrument(tracer_provider=provider, separate_trace_from_runtime_context=True)
    return Tracing(config, provider, instrumentor)
