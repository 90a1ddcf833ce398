"""Every workaround for a particular model server or library, in one place.

Each names the quirk, where it was seen and the version. Remove one when its cause is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.messages.ai import add_ai_message_chunks
from langchain_core.messages.tool import InvalidToolCall, ToolCall
from langchain_core.runnables import Runnable

from assistant.errors import ModelWentSilent
from assistant.turn_queue import waiting

if TYPE_CHECKING:
    from langchain_openai import ChatOpenAI


def repaired_tool_name(name: str, known: Sequence[str]) -> str:
    """Undo servers that repeat a tool's name in every streamed delta.

    llama-cpp-python's server (0.3.x, chatml-function-calling) sends the name in each
    chunk, so langchain joins them into "calculatecalculate".
    """
    for tool in known:
        if tool and name != tool and name == tool * (len(name) // len(tool)):
            return tool
    return name


async def call_model(
    model: Runnable[Any, Any], messages: list[AnyMessage], known: Sequence[str] = ()
) -> AIMessage:
    """Stream the model's reply (tokens reach the face) and check its tool calls strictly.

    langchain-core (1.7) parses partial tool-call JSON leniently while streaming:
    ``{"expression": "2`` becomes ``{"expression": "2"}`` and would run with a guessed
    argument. The raw argument strings are parsed again here; broken ones become invalid
    tool calls, reported to the model instead of run.
    """
    chunks = [chunk async for chunk in model.astream(messages)]
    if not chunks:
        return AIMessage("")
    # merged once at the end: adding them one by one copies the text so far for each piece
    full = add_ai_message_chunks(chunks[0], *chunks[1:]) if len(chunks) > 1 else chunks[0]
    valid: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for part in full.tool_call_chunks:
        raw = part.get("args") or ""
        try:
            args = json.loads(raw) if raw.strip() else {}
            if not isinstance(args, dict):
                raise ValueError("the arguments are not a JSON object")
            name = repaired_tool_name(part.get("name") or "", known)
            valid.append(ToolCall(name=name, args=args, id=part.get("id")))
        except ValueError as exc:
            invalid.append(
                InvalidToolCall(
                    name=part.get("name"),
                    args=raw,
                    id=part.get("id"),
                    error=str(exc),
                    type="invalid_tool_call",
                )
            )
    return AIMessage(
        content=full.content,
        id=full.id,
        tool_calls=valid,
        invalid_tool_calls=invalid,
        response_metadata=full.response_metadata,
        usage_metadata=full.usage_metadata,
    )


JSON_SCHEMA_REJECTION_STATUSES = frozenset({400, 404, 415, 422, 500, 501})
"""Statuses servers use to refuse an unsupported ``response_format``."""


def rejects_json_schema(exc: Exception) -> bool:
    """Whether a server error says it does not support ``response_format: json_schema``.

    llama-cpp-python's server (0.3.x) answers 500 "response_format ... not supported";
    others answer 400 or 422. They then get a forced tool call instead.
    """
    import openai

    text = str(exc).lower()
    return (
        isinstance(exc, openai.APIStatusError)
        and exc.status_code in JSON_SCHEMA_REJECTION_STATUSES
        and ("response_format" in text or "json_schema" in text)
    )


class _DictChunks:
    """The openai client's ``chat.completions``, streaming each chunk as the JSON object it
    arrived as.

    The openai SDK (3.x) builds a pydantic ``ChatCompletionChunk`` from every streamed
    chunk, and langchain-openai (1.7) at once turns it back into a dict (``model_dump``);
    langchain takes a dict as it is. The SDK still reads the stream (server-sent events,
    error events, closing the connection): only the object it builds is ``object``, the
    JSON as decoded. Everything else goes to the client unchanged.
    """

    def __init__(self, completions: Any) -> None:
        self._completions = completions

    async def create(self, **payload: Any) -> Any:
        if not payload.get("stream"):
            return await self._completions.create(**payload)
        from openai import AsyncStream

        raw = await self._completions.with_raw_response.create(**payload)
        return raw.parse(to=AsyncStream[object])

    def __getattr__(self, name: str) -> Any:
        return getattr(self._completions, name)


T = TypeVar("T")


async def limit_silence(source: AsyncIterator[T], seconds: float | None) -> AsyncIterator[T]:
    """``source``'s items, failing with ``ModelWentSilent`` when the next one has not come
    within ``seconds`` (``None`` or 0: wait for ever); ``source`` is closed on the way out.

    langchain-openai (1.7) guards a stream the same way (``stream_chunk_timeout``), with
    ``asyncio.wait_for`` around every chunk: a new task per chunk, scheduled and torn down
    on the event loop every conversation shares. A timer per chunk does the same for a
    fraction of that (figure 3c of ``make bench``: about 0.7 turn/s).
    """
    limit = seconds if seconds and seconds > 0 else None  # None: a deadline that never comes
    pieces = 0
    iterator = aiter(source)
    try:
        while True:
            deadline = asyncio.timeout(limit)
            try:
                async with deadline:
                    item = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if limit is not None and deadline.expired():
                    raise ModelWentSilent(limit, pieces) from None
                raise
            pieces += 1
            yield item
    finally:
        closing = getattr(iterator, "aclose", None)
        if closing is not None:
            await closing()


@functools.cache
def wire_chat_openai() -> type[ChatOpenAI]:
    """``ChatOpenAI`` that sends the messages and tools it built as the request body,
    untouched, and streams the chunks as dicts.

    The openai SDK (2.x-3.x) re-walks every message and every tool schema against unions of
    TypedDicts in pure Python before sending (``async_maybe_transform``): about 0.4 ms per
    message per call, which made a turn's overhead grow with the thread (profiled: 20 ms a
    turn on short threads, 130 ms at 300 messages), and as much again for the tools' nested
    JSON schemas on every call. langchain-openai already produces wire-format dicts, so they
    go through ``extra_body``, which the SDK merges into the JSON body as it is. (Not with a
    ``response_format``: the SDK's structured-output parsing reads the tools it was given.)
    Streamed chunks: see ``_DictChunks``. The wait for each chunk: see ``limit_silence``
    (``stream_chunk_timeout`` keeps its meaning and default; ``silence_limit`` applies it).
    """
    from langchain_openai import ChatOpenAI
    from pydantic import Field, model_validator

    class WireChatOpenAI(ChatOpenAI):
        silence_limit: float | None = Field(default=None, exclude=True)
        """Seconds a streamed answer may send nothing (taken from ``stream_chunk_timeout``,
        which then stays off so langchain does not also wrap every chunk)."""

        @model_validator(mode="after")
        def _dict_chunks(self) -> WireChatOpenAI:
            if self.async_client is not None and not isinstance(self.async_client, _DictChunks):
                self.async_client = _DictChunks(self.async_client)
            if self.stream_chunk_timeout:
                self.silence_limit, self.stream_chunk_timeout = self.stream_chunk_timeout, None
            return self

        def _get_request_payload(
            self, input_: Any, *, stop: list[str] | None = None, **kwargs: Any
        ) -> dict[str, Any]:
            payload = super()._get_request_payload(input_, stop=stop, **kwargs)
            if "messages" not in payload:
                return payload
            as_is = {"messages": payload.pop("messages")}
            if "tools" in payload and "response_format" not in payload:
                as_is["tools"] = payload.pop("tools")
            payload["extra_body"] = {**(payload.get("extra_body") or {}), **as_is}
            payload["messages"] = []
            return payload

        # A turn waiting for the model lets the next one compute (``turn_queue``).
        async def _agenerate(self, *args: Any, **kwargs: Any) -> Any:
            async with waiting():
                return await super()._agenerate(*args, **kwargs)

        async def _astream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            async with waiting():
                chunks = super()._astream(*args, **kwargs)
                async for chunk in limit_silence(chunks, self.silence_limit):
                    yield chunk

    return WireChatOpenAI


@functools.cache
def aiohttp_model_client() -> type[Any]:
    """``openai.DefaultAioHttpClient`` whose connection failures read as such.

    openai 3.54 vendors httpx-aiohttp 0.2.0, which maps every ``aiohttp.ClientConnectionError``
    to ``httpx2.ConnectTimeout``: a refused connection, or a server that hung up, then read as
    "the model did not answer in time". Here one whose cause is not a timeout becomes
    ``httpx2.ConnectError`` (the SDK's ``APIConnectionError``: "Cannot reach the model
    server"), while the request is sent and while the reply is read.
    """
    import httpx2
    from openai import DefaultAioHttpClient

    @contextlib.contextmanager
    def connection_errors(request: httpx2.Request) -> Iterator[None]:
        try:
            yield
        except httpx2.ConnectTimeout as exc:
            if exc.__cause__ is None or isinstance(exc.__cause__, TimeoutError):
                raise
            raise httpx2.ConnectError(str(exc), request=request) from exc.__cause__

    class Reply(httpx2.AsyncByteStream):
        def __init__(self, stream: Any, request: httpx2.Request) -> None:
            self._stream = stream
            self._request = request

        async def __aiter__(self) -> AsyncIterator[bytes]:
            with connection_errors(self._request):
                async for chunk in self._stream:
                    yield chunk

        async def aclose(self) -> None:
            await self._stream.aclose()

    class Transport(httpx2.AsyncBaseTransport):
        def __init__(self, transport: httpx2.AsyncBaseTransport) -> None:
            self._transport = transport

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            with connection_errors(request):
                response = await self._transport.handle_async_request(request)
            response.stream = Reply(response.stream, request)
            return response

        async def aclose(self) -> None:
            await self._transport.aclose()

    class Client(DefaultAioHttpClient):
        def _init_transport(self, *args: Any, **kwargs: Any) -> Any:
            return Transport(super()._init_transport(*args, **kwargs))

        def _init_proxy_transport(self, *args: Any, **kwargs: Any) -> Any:
            return Transport(super()._init_proxy_transport(*args, **kwargs))

    return Client
