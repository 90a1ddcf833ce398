"""Chat server benchmarks, through the running Chainlit app and its socket.io protocol.

3. 50 conversations at once, 1 s per model call: turns/s, latency, memory per conversation.
4. Streaming: a token leaving the model server to the same token reaching a client.
5. Resume: reopening a thread with 500 messages until its history has arrived.
6. Start-up: the chat server until ``/health`` answers.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.engine_bench import Row, percentile
from fakes.brain import Brain
from fakes.chat_client import ChatClient, sign_in
from fakes.openai_server import ScriptedOpenAI
from fakes.search_server import FakeSearch
from fakes.ui_server import ROOT, UiServer

USERS = "alice:secret1"
CONVERSATIONS = 50
TURNS_EACH = 4
HISTORY_MESSAGES = 500


ROWS: list[Row] = [
    (
        "3 concurrent chats",
        "turns per second (50 conversations)",
        lambda f: f["turns_per_s"],
        ">= 40",
        lambda f: f["turns_per_s"] >= 40,
    ),
    ("3 concurrent chats", "turn latency p50 (s)", lambda f: f["p50_s"], "-", lambda f: True),
    (
        "3 concurrent chats",
        "turn latency p95 (s)",
        lambda f: f["p95_s"],
        "<= 1.5",
        lambda f: f["p95_s"] <= 1.5,
    ),
    (
        "3 concurrent chats",
        "server memory per conversation (MB)",
        lambda f: f["mb_per_conversation"],
        "-",
        lambda f: True,
    ),
    ("4 streaming", "token latency p50 (ms)", lambda f: f["p50_ms"], "-", lambda f: True),
    (
        "4 streaming",
        "token latency p95 (ms)",
        lambda f: f["p95_ms"],
        "<= 50",
        lambda f: f["p95_ms"] <= 50,
    ),
    (
        "5 resume (UI history)",
        "reopen 500-message thread until history arrives (ms)",
        lambda f: f["history_median_ms"],
        "<= 200",
        lambda f: f["history_median_ms"] <= 200,
    ),
    (
        "6 start-up (server)",
        "chat server until /health answers (s)",
        lambda f: f["server_start_s"],
        "-",
        lambda f: True,
    ),
]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _env(llm: ScriptedOpenAI, search: FakeSearch, data: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "ASSISTANT_", "SEARXNG_", "CHAINLIT_"))
    }
    env.update(
        OPENAI_BASE_URL=llm.base_url,
        ASSISTANT_SEARCH_PROVIDER="searxng",
        SEARXNG_URL=search.url,
        ASSISTANT_FETCH_ALLOW="127.0.0.1",
        ASSISTANT_DATA_DIR=str(data),
        ASSISTANT_USERS=USERS,
        PYTHONPATH=str(ROOT),
    )
    return env


def _start(server: UiServer) -> float:
    started = time.perf_counter()
    server.start()
    while httpx.get(f"{server.url}/health", timeout=2).status_code != 200:
        time.sleep(0.05)
    return time.perf_counter() - started


async def _concurrent(
    server: UiServer, llm: ScriptedOpenAI, cookie: str, quick: bool
) -> dict[str, Any]:
    count = 10 if quick else CONVERSATIONS
    assert server.proc is not None
    clients = [await ChatClient.open(server.url, cookie) for _ in range(count)]
    await clients[0].turn("warm up")
    before = _rss_mb(server.proc.pid)
    llm.latency = 1.0
    latencies: list[float] = []

    async def converse(client: ChatClient) -> None:
        for i in range(TURNS_EACH):
            started = time.perf_counter()
            await client.turn(f"hello {i}", within=60)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(converse(c) for c in clients))
    wall = time.perf_counter() - started
    after = _rss_mb(server.proc.pid)
    llm.latency = 0.0
    for client in clients:
        await client.close()
    return {
        "conversations": count,
        "turns": len(latencies),
        "model_latency_s": 1.0,
        "turns_per_s": round(len(latencies) / wall, 1),
        "ideal_turns_per_s": round(count / 1.0, 1),
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(percentile(latencies, 0.95), 3),
        "server_rss_mb_before": round(before, 1),
        "server_rss_mb_after": round(after, 1),
        "mb_per_conversation": round((after - before) / count, 2),
    }


async def _streaming(
    server: UiServer, llm: ScriptedOpenAI, brain: Brain, cookie: str
) -> dict[str, Any]:
    words = [f"w{i:03d} " for i in range(120)]
    brain.answer = "".join(words)
    llm.chunk_size = len(words[0])
    llm.chunk_interval = 0.01  # 100 tokens/s, like a fast model
    llm.reset()
    client = await ChatClient.open(server.url, cookie)
    received: list[tuple[float, str]] = []

    async def on_token(data: Any) -> None:
        received.append((time.monotonic(), str(data.get("token", ""))))
        client.events.append(("stream_token", data))

    client.sio.on("stream_token", on_token)
    await client.turn("stream please")
    await client.close()
    brain.answer = Brain().answer
    llm.chunk_interval = 0.0
    llm.chunk_size = 4
    sent = {text: at for at, text in llm.sent}
    delays = [(at - sent[text]) * 1000 for at, text in received if text in sent]
    return {
        "tokens_sent": len(sent),
        "tokens_matched": len(delays),
        "p50_ms": round(statistics.median(delays), 2),
        "p95_ms": round(percentile(delays, 0.95), 2),
    }


async def _history(server: UiServer, llm: ScriptedOpenAI, cookie: str) -> dict[str, Any]:
    client = await ChatClient.open(server.url, cookie)
    for i in range(HISTORY_MESSAGES // 2):
        await client.turn(f"message {i}")
    thread_id = client.thread_id or _thread_of(client)
    await client.close()
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        reopened = await ChatClient.open(server.url, cookie, thread_id)
        _, data = await reopened.wait_for(lambda name, _: name == "resume_thread", 30)
        timings.append((time.perf_counter() - started) * 1000)
        steps = len(data.get("steps") or [])
        await reopened.close()
    return {
        "messages": HISTORY_MESSAGES,
        "steps_restored": steps,
        "history_median_ms": round(statistics.median(timings), 1),
    }


def _thread_of(client: ChatClient) -> str:
    for _, data in client.events:
        if isinstance(data, dict) and data.get("threadId"):
            return str(data["threadId"])
    raise AssertionError("the conversation never got a thread id")


async def collect(quick: bool) -> dict[str, dict[str, Any]]:
    """Run every chat-server figure on one server process."""
    brain = Brain()
    with ScriptedOpenAI(brain) as llm, FakeSearch() as search, tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = UiServer(_env(llm, search, data), data, Path(tmp) / "server.log")
        try:
            start = await asyncio.to_thread(_start, server)
            cookie = await sign_in(server.url, "alice", "secret1")
            figures = {
                "3 concurrent chats": await _concurrent(server, llm, cookie, quick),
                "4 streaming": await _streaming(server, llm, brain, cookie),
                "5 resume (UI history)": await _history(server, llm, cookie),
                "6 start-up (server)": {"server_start_s": round(start, 2)},
            }
        finally:
            server.stop()
    return figures
