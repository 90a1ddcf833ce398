"""Tracing in the chat server's process: Chainlit's own OpenTelemetry pieces do not get the
spans, ours do, tagged with the conversation and the signed-in person."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from fakes.chat_client import ChatClient, sign_in
from fakes.otlp_receiver import OtlpReceiver, ReceivedSpan
from fakes.ui_server import ROOT, UiServer
from tests.ui.conftest import USERS, running

OPENINFERENCE_SCOPE = "openinference.instrumentation.langchain"


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    """A local OTLP/HTTP collector standing in for Phoenix."""
    pytest.importorskip(
        "openinference.instrumentation.langchain",
        reason="the tracing extra is not installed: pip install -e '.[tracing]'",
    )
    with OtlpReceiver() as started:
        yield started


@pytest.fixture(scope="module")
def server(
    ui_env: dict[str, str], receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[UiServer]:
    """The chat UI with tracing to ``receiver`` (exported every 100 ms, not every 5 s)."""
    env = {
        **ui_env,
        "ASSISTANT_USERS": USERS,
        "PHOENIX_COLLECTOR_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with running(env, tmp_path_factory.mktemp("traced")) as started:
        yield started


def node(span: ReceivedSpan) -> str | None:
    """The LangGraph node a span ran in, from its OpenInference metadata."""
    return json.loads(span.get("metadata") or "{}").get("langgraph_node")


async def test_a_research_conversation_is_traced_with_its_thread_and_owner(
    server: UiServer, receiver: OtlpReceiver
) -> None:
    client = await ChatClient.open(server.url, await sign_in(server.url, "alice", "secret1"))
    try:
        await client.send("research tides")
        await client.click(await client.next_question(), "approve")  # then a resumed run
        await client.message_containing("## Sources", within=30)
    finally:
        await client.close()

    def ours(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
        return [s for s in spans if s.get("session.id") == client.thread_id]

    def both_runs_complete(spans: list[ReceivedSpan]) -> bool:
        # Two runs (the request, then the one after approval), each a trace of its own: no
        # span hangs under a parent we never got (such as a websocket's span).
        mine = ours(spans)
        ids = {s.span_id for s in mine}
        roots = [s for s in mine if not s.parent_span_id]
        return len(roots) == 2 and all(s.parent_span_id in ids for s in mine if s.parent_span_id)

    spans = ours(receiver.wait_for(both_runs_complete))
    assert sorted(s.name for s in spans if not s.parent_span_id) == ["assistant", "assistant"]
    model_nodes = {node(s) for s in spans if s.get("openinference.span.kind") == "LLM"}
    assert {"model", "plan", "worker", "synthesize"} <= model_nodes
    assert {s.get("user.id") for s in spans} == {"alice"}  # before and after the approval
    assert {s.scope for s in receiver.spans} == {OPENINFERENCE_SCOPE}  # no FastAPI spans


PROVIDER_CHECK = """
import asyncio
from opentelemetry import trace
import chainlit.server  # what the chat server imports, with literalai and traceloop
import assistant.ui.app
from assistant.settings import load_settings
from assistant.ui.runtime import Runtime

async def main():
    runtime = await Runtime.open(load_settings(), {})  # the server's start-up hook
    try:
        print(type(runtime.engine.tracing.provider).__module__)
        print(type(trace.get_tracer_provider()).__name__)
    finally:
        await runtime.close()

asyncio.run(main())
"""


def test_in_the_server_process_no_global_tracer_provider_is_set(
    ui_env: dict[str, str], receiver: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.mktemp("provider")
    env = {
        **ui_env,
        "ASSISTANT_DATA_DIR": str(base / "data"),
        "HOME": str(base),
        "PHOENIX_COLLECTOR_ENDPOINT": receiver.url,
    }
    result = subprocess.run(
        [sys.executable, "-c", PROVIDER_CHECK],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # Ours is an SDK provider given to the LangChain instrumentation only; neither Chainlit's
    # imports (literalai, traceloop) nor our start-up replaced OpenTelemetry's placeholder,
    # so FastAPI's built-in request tracing stays off.
    assert result.stdout.split() == ["opentelemetry.sdk.trace", "ProxyTracerProvider"]
