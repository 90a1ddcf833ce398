"""The scripted OpenAI server works with the real ``langchain_openai.ChatOpenAI`` client."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, SecretStr

from fakes.openai_server import (
    ChatRequest,
    Hang,
    HttpError,
    Json,
    ScriptedOpenAI,
    Text,
    ToolCalls,
    rule_responder,
)


class Weather(BaseModel):
    """Weather in a city."""

    city: str
    temp_c: float


@tool
def search(query: str, max_results: int = 3) -> str:
    """Search the web."""
    return query


@tool
def fetch(url: str) -> str:
    """Fetch a page."""
    return url


@pytest.fixture(scope="module")
def shared_server() -> Iterator[ScriptedOpenAI]:
    with ScriptedOpenAI() as server:
        yield server


@pytest.fixture
def server(shared_server: ScriptedOpenAI) -> ScriptedOpenAI:
    """The module's server, with calls, queue, responder and latency reset."""
    shared_server.reset()
    shared_server.responder = None
    shared_server.latency = 0.0
    shared_server.chunk_size = 4
    return shared_server


def make_llm(server: ScriptedOpenAI, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="test-model",
        base_url=server.base_url,
        api_key=SecretStr("test"),
        max_retries=0,
        **kwargs,
    )


async def test_ainvoke_text(server: ScriptedOpenAI) -> None:
    server.enqueue(Text("Hello there, tester!"))
    result = await make_llm(server).ainvoke("hi")
    assert isinstance(result, AIMessage)
    assert result.content == "Hello there, tester!"
    assert result.usage_metadata is not None
    assert result.usage_metadata["output_tokens"] > 0


async def test_default_reply_is_ok(server: ScriptedOpenAI) -> None:
    result = await make_llm(server).ainvoke("hi")
    assert result.content == "ok"


async def test_astream_yields_several_chunks(server: ScriptedOpenAI) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    server.enqueue(Text(text))
    pieces = [chunk.content async for chunk in make_llm(server).astream("go")]
    non_empty = [p for p in pieces if p]
    assert len(non_empty) == -(-len(text) // 4)
    assert "".join(str(p) for p in pieces) == text
    assert server.calls[0].request.stream is True


async def test_astream_usage_when_requested(server: ScriptedOpenAI) -> None:
    server.enqueue(Text("counted"))
    total: AIMessageChunk | None = None
    async for chunk in make_llm(server, stream_usage=True).astream("go"):
        total = chunk if total is None else total + chunk
    assert total is not None
    assert total.usage_metadata is not None
    assert total.usage_metadata["total_tokens"] > 0


async def test_bind_tools_ainvoke_parses_tool_calls(server: ScriptedOpenAI) -> None:
    server.enqueue(
        ToolCalls(
            [("search", {"query": "otters", "max_results": 2}), ("fetch", {"url": "http://x"})]
        )
    )
    llm = make_llm(server).bind_tools([search, fetch])
    result = await llm.ainvoke("find otters")
    assert [c["name"] for c in result.tool_calls] == ["search", "fetch"]
    assert result.tool_calls[0]["args"] == {"query": "otters", "max_results": 2}
    assert result.tool_calls[1]["args"] == {"url": "http://x"}
    ids = [c["id"] for c in result.tool_calls]
    assert len(set(ids)) == 2
    assert all(i and i.startswith("call_") for i in ids)
    assert server.calls[0].request.tool_names == ["search", "fetch"]


async def test_malformed_tool_arguments_are_sent_verbatim(server: ScriptedOpenAI) -> None:
    server.enqueue(ToolCalls([("search", '{"query": "otters"')]))
    result = await make_llm(server).bind_tools([search]).ainvoke("find otters")
    assert result.tool_calls == []
    assert result.invalid_tool_calls[0]["args"] == '{"query": "otters"'


async def test_bind_tools_astream_accumulates_tool_call(server: ScriptedOpenAI) -> None:
    server.chunk_size = 3
    server.enqueue(
        ToolCalls([("search", {"query": "sea otters", "max_results": 5}), ("fetch", {"url": "u"})])
    )
    llm = make_llm(server).bind_tools([search, fetch])
    chunks = [chunk async for chunk in llm.astream("find otters")]
    assert len(chunks) > 5
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk  # type: ignore[assignment]
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [
        ("search", {"query": "sea otters", "max_results": 5}),
        ("fetch", {"url": "u"}),
    ]
    assert total.response_metadata.get("finish_reason") == "tool_calls"


async def test_structured_output_json_schema(server: ScriptedOpenAI) -> None:
    server.enqueue(Json({"city": "Oslo", "temp_c": -3.5}))
    result = await make_llm(server).with_structured_output(Weather).ainvoke("weather in Oslo?")
    assert result == Weather(city="Oslo", temp_c=-3.5)
    request = server.calls[0].request
    assert request.response_format is not None
    assert request.response_format["type"] == "json_schema"
    assert request.schema_name == "Weather"


async def test_structured_output_function_calling_schema_name(server: ScriptedOpenAI) -> None:
    server.responder = lambda r: ToolCalls([(r.schema_name or "?", {"city": "Rome", "temp_c": 20})])
    structured = make_llm(server).with_structured_output(Weather, method="function_calling")
    assert await structured.ainvoke("weather in Rome?") == Weather(city="Rome", temp_c=20)
    assert server.calls[0].request.schema_name == "Weather"


async def test_http_429_raises_rate_limit_error(server: ScriptedOpenAI) -> None:
    server.enqueue(HttpError(429, "Slow down", headers={"Retry-After": "7"}))
    with pytest.raises(openai.RateLimitError) as info:
        await make_llm(server).ainvoke("hi")
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert "Slow down" in str(info.value)
    assert server.calls[0].status == 429


async def test_http_500_while_streaming(server: ScriptedOpenAI) -> None:
    server.enqueue(HttpError(500, "Boom"))
    with pytest.raises(openai.InternalServerError):
        async for _ in make_llm(server).astream("hi"):
            pass


async def test_hang_raises_timeout() -> None:
    # A server of its own: the hanging handler is woken by stop(), not left to answer later.
    server = ScriptedOpenAI().start()
    try:
        server.enqueue(Hang(5.0))
        llm = make_llm(server, timeout=0.5)
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            await llm.ainvoke("hi")
        assert time.monotonic() - started < 2.0
    finally:
        stop_started = time.monotonic()
        server.stop()
    assert time.monotonic() - stop_started < 1.0


async def test_concurrent_calls_overlap(server: ScriptedOpenAI) -> None:
    server.latency = 0.3
    llm = make_llm(server)
    started = time.monotonic()
    first, second = await asyncio.gather(llm.ainvoke("one"), llm.ainvoke("two"))
    elapsed = time.monotonic() - started
    assert first.content == second.content == "ok"
    a, b = server.calls
    assert a.started < b.finished and b.started < a.finished
    assert min(a.finished - a.started, b.finished - b.started) >= 0.29
    assert elapsed < 0.55


async def test_calls_record_requests(server: ScriptedOpenAI) -> None:
    llm = make_llm(server)
    await llm.ainvoke([SystemMessage("Be brief."), HumanMessage("first question")])
    await llm.ainvoke(
        [
            SystemMessage("Be brief."),
            HumanMessage(
                content=[{"type": "text", "text": "second "}, {"type": "text", "text": "q"}]
            ),
            AIMessage("", tool_calls=[{"name": "search", "args": {"query": "q"}, "id": "call_9"}]),
            ToolMessage("result", tool_call_id="call_9"),
        ]
    )
    assert len(server.calls) == 2
    first, second = (c.request for c in server.calls)
    assert first.model == "test-model"
    assert first.system == "Be brief."
    assert first.last_user == "first question"
    assert first.stream is False
    assert first.tools == [] and first.schema_name is None
    assert not first.has_tool_result
    assert second.last_user == "second q"
    assert second.has_tool_result
    assert second.last_message["tool_call_id"] == "call_9"
    assert all(c.status == 200 and c.started <= c.finished for c in server.calls)
    server.reset()
    assert server.calls == []


async def test_queue_is_used_before_responder(server: ScriptedOpenAI) -> None:
    server.responder = lambda r: Text(f"echo: {r.last_user}")
    server.enqueue(Text("queued 1"), Text("queued 2"))
    llm = make_llm(server)
    answers = [(await llm.ainvoke(q)).content for q in ("a", "b", "c")]
    assert answers == ["queued 1", "queued 2", "echo: c"]


async def test_rule_responder(server: ScriptedOpenAI) -> None:
    def is_tool_turn(request: ChatRequest) -> bool:
        return request.has_tool_result

    server.responder = rule_responder(
        (is_tool_turn, lambda r: Text(f"summary of {r.last_message['content']}")),
        (lambda r: "search" in r.tool_names, ToolCalls([("search", {"query": "q"})])),
    )
    llm = make_llm(server)
    assert (await llm.ainvoke("plain")).content == "ok"
    called = await llm.bind_tools([search]).ainvoke("look it up")
    assert called.tool_calls[0]["name"] == "search"
    summary = await llm.ainvoke(
        [
            HumanMessage("look it up"),
            called,
            ToolMessage("found", tool_call_id=called.tool_calls[0]["id"]),
        ]
    )
    assert summary.content == "summary of found"


async def test_responder_exception_becomes_500(server: ScriptedOpenAI) -> None:
    def broken(request: ChatRequest) -> Text:
        raise ValueError("oops")

    server.responder = broken
    with pytest.raises(openai.InternalServerError):
        await make_llm(server).ainvoke("hi")


def test_models_endpoint(server: ScriptedOpenAI) -> None:
    with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as response:
        body = json.load(response)
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["test-model"]


def test_base_url_requires_start() -> None:
    server = ScriptedOpenAI()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    server.start()
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")
    finally:
        server.stop()
