"""A scripted OpenAI-compatible chat-completions server for tests and benchmarks.

The server speaks enough of the OpenAI HTTP protocol for the real ``openai`` SDK and
``langchain_openai.ChatOpenAI`` (invoke, streaming, tool calls, structured output, errors).
What it answers is decided per call: first from a FIFO queue filled with :meth:`enqueue`,
then by the ``responder`` callable, and finally ``Text("ok")``.

    with ScriptedOpenAI(rule_responder((lambda r: r.tools != [], ToolCalls([...])))) as server:
        llm = ChatOpenAI(model="test-model", base_url=server.base_url, api_key="test")
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

from fakes.loopback import BurstServer, LoopbackServer


def _text(content: Any) -> str:
    """Flatten a message ``content`` (string, list of parts or None) into plain text."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return ""


@dataclass
class ChatRequest:
    """A parsed ``POST /v1/chat/completions`` body with convenient accessors."""

    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages") or [])

    @property
    def tools(self) -> list[dict[str, Any]]:
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        return [t.get("function", {}).get("name", "") for t in self.tools]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def response_format(self) -> dict[str, Any] | None:
        return self.body.get("response_format")

    @property
    def schema_name(self) -> str | None:
        """The json_schema name of ``response_format``, else the forced tool's name."""
        rf, choice = self.response_format or {}, self.body.get("tool_choice")
        if rf.get("type") == "json_schema":
            name = rf.get("json_schema", {}).get("name")
        elif isinstance(choice, dict) and choice.get("type") == "function":
            name = choice.get("function", {}).get("name")
        else:
            name = None
        return str(name) if name is not None else None

    @property
    def system(self) -> str:
        """Concatenated text of all system (and developer) messages."""
        parts = [_text(m.get("content")) for m in self.messages]
        roles = [m.get("role") for m in self.messages]
        return "\n".join(
            p for p, r in zip(parts, roles, strict=True) if r in {"system", "developer"}
        )

    @property
    def last_user(self) -> str:
        users = [m for m in self.messages if m.get("role") == "user"]
        return _text(users[-1].get("content")) if users else ""

    @property
    def last_message(self) -> dict[str, Any]:
        return self.messages[-1] if self.messages else {}

    @property
    def has_tool_result(self) -> bool:
        return self.last_message.get("role") == "tool"


@dataclass
class Text:
    """Reply with an assistant text message."""

    content: str


@dataclass
class ToolCalls:
    """Reply with tool calls: ``(name, args)``; a dict is JSON-encoded, a str sent verbatim."""

    calls: list[tuple[str, dict[str, Any] | str]]


@dataclass
class Json:
    """Reply with ``json.dumps(data)`` as content (for ``with_structured_output``)."""

    data: Any


@dataclass
class HttpError:
    """Reply with an OpenAI-style error body, the given status and extra headers."""

    status: int
    message: str = "Scripted error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hang:
    """Sleep ``seconds`` (cut short by ``stop()``), then answer ``Text("late")``."""

    seconds: float


Reply = Text | ToolCalls | Json | HttpError | Hang
Responder = Callable[[ChatRequest], Reply]


@dataclass
class CallRecord:
    """One served chat call; ``started``/``finished`` are ``time.monotonic()`` values."""

    request: ChatRequest
    started: float
    finished: float
    status: int
    usage: dict[str, int] = field(default_factory=dict)
    """The usage figures the reply carried (or would carry, when streamed without them)."""


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error"}
_ERROR_TYPES |= {429: "rate_limit_exceeded", 500: "server_error", 503: "server_error"}


def rule_responder(
    *rules: tuple[Callable[[ChatRequest], bool], Responder | Reply],
) -> Responder:
    """Build a responder answering with the first rule whose predicate matches.

    A rule's reply is either a constant reply or a callable taking the request.
    Nothing matching gives ``Text("ok")``.
    """

    def respond(request: ChatRequest) -> Reply:
        for predicate, reply in rules:
            if predicate(request):
                return reply(request) if callable(reply) else reply
        return Text("ok")

    return respond


class _Server(BurstServer):
    block_on_close = False

    def __init__(self, owner: ScriptedOpenAI) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client drops its connection; report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    @property
    def owner(self) -> ScriptedOpenAI:
        return cast(_Server, self.server).owner

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection, add=True)

    def finish(self) -> None:
        self.owner._track(self.connection, add=False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/") in {"/v1/models", "/models"}:
            model = {"id": "test-model", "object": "model", "created": 0, "owned_by": "scripted"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, _error_body(404, f"No route for GET {self.path}"))

    def do_POST(self) -> None:
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        route = self.path.split("?")[0].rstrip("/")
        if route in {"/v1/embeddings", "/embeddings"} and self.owner.embedding_dims:
            self._embed(raw)
            return
        if route not in {"/v1/chat/completions", "/chat/completions"}:
            self._send_json(404, _error_body(404, f"No route for POST {self.path}"))
            return
        try:
            request = ChatRequest(json.loads(raw or b"{}"))
        except ValueError:
            self._send_json(400, _error_body(400, "Body is not valid JSON"))
            return
        owner = self.owner
        try:
            owner._wake.wait(owner.latency)
            reply = owner._next_reply(request)
            if isinstance(reply, Hang):
                owner._wake.wait(reply.seconds)
                reply = Text("late")
        except Exception as exc:  # a broken responder is a test bug: say so loudly
            traceback.print_exc()
            reply = HttpError(500, f"Responder failed: {exc!r}")
        record = CallRecord(request, started, started, 200)
        try:
            if isinstance(reply, HttpError):
                record.status = reply.status
                owner._record(record)
                self._send_json(
                    reply.status, _error_body(reply.status, reply.message), reply.headers
                )
            elif request.stream:
                self._send_stream(request, reply, record)
            else:
                completion = _completion(request, reply, owner._call_ids)
                record.usage = completion["usage"]
                owner._record(record)
                self._send_json(200, completion)
        except OSError:  # the client gave up (e.g. timed out) or the server is stopping
            self.close_connection = True

    def _embed(self, raw: bytes) -> None:
        """``/v1/embeddings``: a bag of hashed words per input, normalised (same words, same
        direction), so texts sharing words are near."""
        try:
            body = json.loads(raw or b"{}")
            inputs = body["input"]
        except (ValueError, KeyError):
            self._send_json(400, _error_body(400, "Body must be JSON with an 'input'"))
            return
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        owner = self.owner
        with owner._lock:
            owner.embedded.extend(str(t) for t in texts)
        data = [
            {"object": "embedding", "index": i, "embedding": _bag(str(text), owner.embedding_dims)}
            for i, text in enumerate(texts)
        ]
        usage = {"prompt_tokens": 1, "total_tokens": 1}
        model = body.get("model", "")
        self._send_json(200, {"object": "list", "data": data, "model": model, "usage": usage})

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_stream(self, request: ChatRequest, reply: Reply, record: CallRecord) -> None:
        """Send server-sent events with HTTP/1.1 chunked transfer encoding."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        owner = self.owner
        for event in _stream_events(request, reply, owner._call_ids, owner.chunk_size, record):
            self._write_chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
            self.wfile.flush()
            piece = (event.get("choices") or [{}])[0].get("delta", {}).get("content")
            if piece:
                with owner._lock:
                    owner.sent.append((time.monotonic(), piece))
                if owner.chunk_interval:
                    time.sleep(owner.chunk_interval)
        owner._record(record)
        self._write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))


def _bag(text: str, dims: int) -> list[float]:
    vector = [0.0] * dims
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.sha1(word.encode()).hexdigest(), 16) % dims] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "code": kind, "param": None}}


def _as_output(reply: Reply, ids: Iterator[int]) -> tuple[str | None, list[dict[str, Any]]]:
    """Return (content, tool_calls) for a non-error reply."""
    if isinstance(reply, ToolCalls):
        calls = []
        for name, args in reply.calls:
            arguments = args if isinstance(args, str) else json.dumps(args)
            function = {"name": name, "arguments": arguments}
            calls.append({"id": f"call_{next(ids)}", "type": "function", "function": function})
        return None, calls
    if isinstance(reply, Json):
        return json.dumps(reply.data), []
    return (reply.content if isinstance(reply, Text) else "ok"), []


def _usage(request: ChatRequest, content: str | None, calls: list[Any]) -> dict[str, int]:
    """Rough token counts: about four characters per token."""
    prompt = 1 + sum(len(_text(m.get("content"))) // 4 + 1 for m in request.messages)
    completion = 1 + (len(content or "") + len(json.dumps(calls))) // 4
    total = prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def _envelope(request: ChatRequest, obj: str, **fields: Any) -> dict[str, Any]:
    head = {"id": f"chatcmpl-{id(request):x}", "object": obj, "created": int(time.time())}
    return head | {"model": request.model} | fields


def _completion(request: ChatRequest, reply: Reply, ids: Iterator[int]) -> dict[str, Any]:
    content, calls = _as_output(reply, ids)
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    choice = {"index": 0, "message": message, "logprobs": None}
    choice["finish_reason"] = "tool_calls" if calls else "stop"
    usage = _usage(request, content, calls)
    return _envelope(request, "chat.completion", choices=[choice], usage=usage)


def _stream_events(
    request: ChatRequest,
    reply: Reply,
    ids: Iterator[int],
    chunk_size: int,
    record: CallRecord | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``chat.completion.chunk`` objects for a streamed reply."""
    content, calls = _as_output(reply, ids)
    if record is not None:
        record.usage = _usage(request, content, calls)
    size = max(1, chunk_size)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return _envelope(request, "chat.completion.chunk", choices=[choice])

    yield chunk({"role": "assistant", "content": ""})
    for start in range(0, len(content or ""), size):
        yield chunk({"content": (content or "")[start : start + size]})
    for index, call in enumerate(calls):
        fn = call["function"]
        head = {"index": index, "id": call["id"], "type": "function"}
        yield chunk({"tool_calls": [head | {"function": {"name": fn["name"], "arguments": ""}}]})
        for start in range(0, len(fn["arguments"]), size):
            piece = fn["arguments"][start : start + size]
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if calls else "stop")
    if (request.body.get("stream_options") or {}).get("include_usage"):
        usage = _usage(request, content, calls)
        yield _envelope(request, "chat.completion.chunk", choices=[], usage=usage)


class ScriptedOpenAI(LoopbackServer):
    """An OpenAI-compatible chat server on ``127.0.0.1`` running in a background thread.

    ``responder``, ``latency`` and ``chunk_size`` may be changed while it runs. Each finished
    chat call is appended to ``calls`` just before its last bytes are sent, so a client that
    has its answer always finds the call recorded.
    """

    def __init__(
        self, responder: Responder | None = None, *, latency: float = 0.0, chunk_size: int = 4
    ) -> None:
        super().__init__()
        self.responder = responder
        self.latency = latency
        self.chunk_size = chunk_size
        self.chunk_interval = 0.0
        """Seconds between streamed content pieces, like a model generating tokens."""
        self.sent: list[tuple[float, str]] = []
        """(monotonic time, text) of every streamed content piece as it left the server."""
        self.calls: list[CallRecord] = []
        self.embedding_dims = 64
        """``/v1/embeddings`` answers vectors of this size (0: no such route, a 404)."""
        self.embedded: list[str] = []
        """Every text embedded, in order."""
        self._queue: deque[Reply] = deque()
        self._call_ids = itertools.count(1)
        self._wake = threading.Event()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``; only valid while started."""
        if self._server is None:
            raise RuntimeError("ScriptedOpenAI is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> ScriptedOpenAI:
        """Bind a free port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("ScriptedOpenAI is already started")
        self._wake.clear()
        self._serve(_Server(self), "ScriptedOpenAI")
        return self

    def _before_stop(self) -> None:
        """Wake handlers sleeping out a latency, so they finish before the server closes."""
        self._wake.set()

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies to be used, in order, before the responder is asked."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget recorded calls and drop queued replies."""
        with self._lock:
            self.calls.clear()
            self.sent.clear()
            self._queue.clear()

    def _next_reply(self, request: ChatRequest) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        responder = self.responder
        return responder(request) if responder is not None else Text("ok")

    def _record(self, record: CallRecord) -> None:
        record.finished = time.monotonic()
        with self._lock:
            self.calls.append(record)
