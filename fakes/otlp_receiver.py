"""A local OTLP/HTTP trace receiver for tests: what Phoenix's collector endpoint would get.

``POST /v1/traces`` with a protobuf ``ExportTraceServiceRequest`` (optionally gzip- or
deflate-compressed, as OpenTelemetry's HTTP exporter sends it) is decoded with
``opentelemetry-proto`` and every span is kept as a :class:`ReceivedSpan`. Loopback only.

    with OtlpReceiver() as receiver:
        env["PHOENIX_COLLECTOR_ENDPOINT"] = receiver.url
        ...
        spans = receiver.wait_for(lambda spans: len(spans) >= 3)
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from fakes.loopback import BurstServer, LoopbackServer

TRACES_PATH = "/v1/traces"


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the collector received it, with its resource's attributes."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""
    """The instrumentation scope (the tracer's name) that made the span."""

    def get(self, key: str, default: Any = None) -> Any:
        """An attribute of the span."""
        return self.attributes.get(key, default)


def _value(any_value: Any) -> Any:
    """A plain Python value from an OTLP ``AnyValue``."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind)


def decode(body: bytes) -> list[ReceivedSpan]:
    """The spans of one serialized ``ExportTraceServiceRequest``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[ReceivedSpan] = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={kv.key: _value(kv.value) for kv in span.attributes},
                        resource=resource,
                        scope=scope_spans.scope.name,
                    )
                )
    return spans


class OtlpReceiver(LoopbackServer):
    """A threaded OTLP/HTTP trace collector on 127.0.0.1 with a random free port."""

    def __init__(self) -> None:
        """Not listening until ``start()`` (or ``with``)."""
        super().__init__()
        self._spans: list[ReceivedSpan] = []
        self._headers: list[dict[str, str]] = []
        self._changed = threading.Condition(self._lock)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the value for ``PHOENIX_COLLECTOR_ENDPOINT``."""
        if self._server is None:
            raise RuntimeError("OtlpReceiver is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def spans(self) -> list[ReceivedSpan]:
        """A copy of every span received so far."""
        with self._lock:
            return list(self._spans)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The HTTP headers of each export request (names in lower case)."""
        with self._lock:
            return list(self._headers)

    def wait_for(
        self, ready: Callable[[list[ReceivedSpan]], bool], timeout: float = 10.0
    ) -> list[ReceivedSpan]:
        """The spans once ``ready(spans)`` holds; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not ready(list(self._spans)):
                left = deadline - time.monotonic()
                if left <= 0:
                    names = sorted({s.name for s in self._spans})
                    raise AssertionError(
                        f"{len(self._spans)} spans received in {timeout}s, not what was "
                        f"expected; span names: {names}"
                    )
                self._changed.wait(left)
            return list(self._spans)

    def start(self) -> OtlpReceiver:
        """Start serving in a background thread."""
        if self._server is None:
            self._serve(BurstServer(("127.0.0.1", 0), _make_handler(self)), "OtlpReceiver")
        return self

    def _receive(self, headers: dict[str, str], spans: list[ReceivedSpan]) -> None:
        with self._changed:
            self._headers.append(headers)
            self._spans.extend(spans)
            self._changed.notify_all()


def _make_handler(receiver: OtlpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.split("?", 1)[0] != TRACES_PATH:
                self._reply(404, b"not found", "text/plain")
                return
            encoding = (self.headers.get("Content-Encoding") or "").lower()
            try:
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                spans = decode(body)
            except Exception as exc:  # a malformed export is the test's finding, not a crash
                self._reply(400, f"cannot decode: {exc}".encode(), "text/plain")
                return
            receiver._receive({k.lower(): v for k, v in self.headers.items()}, spans)
            # An empty ExportTraceServiceResponse serializes to no bytes.
            self._reply(200, b"", "application/x-protobuf")

    return Handler
