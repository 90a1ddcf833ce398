"""Chat server benchmarks, through the running Chainlit app and its socket.io protocol.

3. 50 conversations at once, 1 s per model call: turns/s, latency, memory per conversation.
4. Streaming: a token leaving the model server to the same token reaching a client.
5. Resume: reopening a thread with 500 messages until its history has arrived.
6. Start-up: the chat server until ``/health`` answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import cpu
from bench.engine_bench import Row, percentile
from bench.load import LoadWorkers
from bench.model_process import ModelProcess
from bench.profile import Profiler
from fakes.brain import Brain
from fakes.chat_client import ChatClient, sign_in
from fakes.openai_server import ScriptedOpenAI
from fakes.postgres import PostgresUnavailable, TempPostgres
from fakes.search_server import FakeSearch
from fakes.ui_server import ROOT, UiServer

USERS = "alice:secret1"
CONVERSATIONS = 50
TURNS_EACH = 4
LOAD_WORKERS = 2
MODEL_LATENCY_S = 1.0
HISTORY_MESSAGES = 500

SQLITE = "3a 1 proc, SQLite"
POSTGRES = "3b 1 proc, Postgres"
TWO = "3c 2 procs, Postgres"
SETUPS = {SQLITE: (1, False), POSTGRES: (1, True), TWO: (2, True)}
"""Figure 3's set-ups: server processes, and whether they share a PostgreSQL database."""
TARGETS = {SQLITE: (40, 1.5), TWO: (45, 1.3)}
"""Turns per second at least, p95 seconds at most."""


def _fmt_ms(values: list[float]) -> str:
    return " + ".join(f"{v:.1f}" for v in values) if values else "-"


def _throughput_rows(setup: str) -> list[Row]:
    rate, p95 = TARGETS.get(setup, (None, None))
    return [
        (
            setup,
            "turns per second",
            lambda f: f["turns_per_s"],
            f">= {rate}" if rate else "-",
            lambda f: rate is None or f["turns_per_s"] >= rate,
        ),
        (setup, "turn latency p50 (s)", lambda f: f["p50_s"], "-", lambda f: True),
        (
            setup,
            "turn latency p95 (s)",
            lambda f: f["p95_s"],
            f"<= {p95}" if p95 else "-",
            lambda f: p95 is None or f["p95_s"] <= p95,
        ),
        (
            setup,
            "latency by round, p50/max (s)",
            lambda f: " ".join(f"{p50:.2f}/{top:.2f}" for p50, top in f["rounds_s"]),
            "-",
            lambda f: True,
        ),
        (
            setup,
            "wall time, slowest conversation (s)",
            lambda f: f"{f['wall_s']:.2f}, {f['slowest_conversation_s']:.2f}",
            "-",
            lambda f: True,
        ),
        (
            setup,
            "CPU ms/turn, each server process",
            lambda f: _fmt_ms(f["cpu_ms_per_turn"]["servers"]),
            "-",
            lambda f: True,
        ),
        (
            setup,
            "server main thread busy (share of wall time)",
            lambda f: " + ".join(f"{v:.2f}" for v in f["main_thread_busy"]),
            "-",
            lambda f: True,
        ),
        (
            setup,
            "CPU ms/turn, load generator / model / postgres",
            lambda f: "{load generator:.1f}/{model server:.1f}/{postgres:.1f}".format(
                **f["cpu_ms_per_turn"]
            ),
            "-",
            lambda f: True,
        ),
        (
            setup,
            "CPU ms/turn, all of it x turns/s (cores busy)",
            lambda f: (
                f"{f['cpu_ms_per_turn']['all']:.1f}x{f['turns_per_s']:.0f}={f['cores_busy']:.2f}"
            ),
            "of {cores}",
            lambda f: True,
        ),
        (
            setup,
            "machine busy (cores), of which not ours",
            lambda f: (
                f"{f['machine_cores_busy']:.2f}, {f['machine_cores_busy'] - f['cores_busy']:.2f}"
            ),
            "-",
            lambda f: True,
        ),
        (
            setup,
            "server memory per conversation (MB)",
            lambda f: f["mb_per_conversation"],
            "-",
            lambda f: True,
        ),
    ]


ROWS: list[Row] = [
    *(row for setup in SETUPS for row in _throughput_rows(setup)),
    ("4 streaming", "token latency p50 (ms)", lambda f: f["p50_ms"], "-", lambda f: True),
    (
        "4 streaming",
        "token latency p95 (ms)",
        lambda f: f["p95_ms"],
        "<= 50",
        lambda f: f["p95_ms"] <= 50,
    ),
    (
        "4 streaming",
        "9 KB answer in 4-char pieces: server CPU (ms)",
        lambda f: f["long_answer_cpu_ms"],
        "-",
        lambda f: True,
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


def _env(
    base_url: str, search: FakeSearch, data: Path, root: Path = ROOT, **extra: str
) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "ASSISTANT_", "SEARXNG_", "CHAINLIT_"))
    }
    env.update(
        OPENAI_BASE_URL=base_url,
        ASSISTANT_SEARCH_PROVIDER="searxng",
        SEARXNG_URL=search.url,
        ASSISTANT_FETCH_ALLOW="127.0.0.1",
        ASSISTANT_DATA_DIR=str(data),
        ASSISTANT_USERS=USERS,
        PYTHONPATH=str(root),
        HOME=str(data.parent / "home"),
    )
    env.update(extra)
    return env


def _start(server: UiServer) -> float:
    started = time.perf_counter()
    server.start()
    while httpx.get(f"{server.url}/health", timeout=2).status_code != 200:
        time.sleep(0.05)
    return time.perf_counter() - started


@dataclasses.dataclass(frozen=True)
class Checkout:
    """Where the chat server's code comes from: this checkout, or another one (with its
    own virtualenv) to compare against."""

    root: Path = ROOT
    python: str = sys.executable
    profile: Path | None = None
    """Record py-spy profiles of every process under load into this directory."""

    @classmethod
    def at(cls, root: Path, profile: Path | None = None) -> Checkout:
        """The checkout at ``root``, run by its ``.venv``."""
        return cls(root.resolve(), str(root.resolve() / ".venv" / "bin" / "python"), profile)


async def _figure3(
    setup: str,
    model: ModelProcess,
    search: FakeSearch,
    postgres: TempPostgres | None,
    base: Path,
    quick: bool,
    checkout: Checkout,
) -> dict[str, Any]:
    """Start the set-up's server processes, measure, stop them."""
    processes, shared = SETUPS[setup]
    extra = {}
    if shared:
        assert postgres is not None
        extra = {
            "ASSISTANT_DATABASE_URL": postgres.create_database(),
            "CHAINLIT_AUTH_SECRET": secrets.token_urlsafe(48),
        }
    servers = []
    for n in range(processes):
        data = base / f"{setup[:2]}-{n}" / "data"
        data.parent.mkdir(parents=True)
        env = _env(model.base_url, search, data, checkout.root, **extra)
        servers.append(UiServer(env, data, data.parent / "server.log", checkout.python))
    try:
        await asyncio.gather(*(asyncio.to_thread(_start, server) for server in servers))
        cookie = await sign_in(servers[0].url, "alice", "secret1")
        postmaster = postgres.postmaster_pid() if shared and postgres is not None else None
        profiled = (
            (lambda pids: Profiler(pids, checkout.profile / setup[:2]))
            if checkout.profile
            else (lambda pids: contextlib.nullcontext())
        )
        return await _throughput(servers, model, postmaster, cookie, quick, profiled)
    finally:
        for server in servers:
            server.stop()


def _named(prefix: str, pids: list[int]) -> dict[str, int]:
    return {f"{prefix} {n}": pid for n, pid in enumerate(pids)}


async def _throughput(
    servers: list[UiServer],
    model: ModelProcess,
    postmaster: int | None,
    cookie: str,
    quick: bool,
    profiled: Callable[[dict[str, int]], contextlib.AbstractContextManager[Any]],
) -> dict[str, Any]:
    """Conversations spread over ``servers`` (each pinned to one: sticky), every one at
    once, run by worker processes; the CPU time of every process involved from /proc."""
    count = 10 if quick else CONVERSATIONS
    urls = [server.url for server in servers]
    for url in urls:  # each process's first turn pays for imports and connections
        client = await ChatClient.open(url, cookie)
        await client.turn("warm up", within=60)
        await client.close()
    pids = [server.proc.pid for server in servers if server.proc is not None]
    before = [_rss_mb(pid) for pid in pids]
    # conversation i runs in worker i % LOAD_WORKERS: every worker talks to every server,
    # and the servers get the same number of conversations
    plan = [urls[(i + i // LOAD_WORKERS) % len(urls)] for i in range(count)]
    workers = LoadWorkers(plan, cookie, TURNS_EACH, LOAD_WORKERS)
    try:
        await asyncio.to_thread(workers.start)
        await asyncio.to_thread(workers.wait_ready)
        trees = {f"server {n}": [pid] for n, pid in enumerate(pids)}
        trees |= {"load generator": workers.pids, "model server": [model.pid]}
        trees["postgres"] = [postmaster] if postmaster is not None else []
        threads = {f"server {n}": pid for n, pid in enumerate(pids)}
        load = cpu.load_average()
        first, parent, began = (
            cpu.read(trees, threads),
            cpu.own_seconds(os.getpid()),
            time.perf_counter(),
        )
        with profiled({**threads, "model": model.pid, **_named("load", workers.pids)}):
            workers.go()
            result = await asyncio.to_thread(workers.results)
            last, window = cpu.read(trees, threads), time.perf_counter() - began
        parent = cpu.own_seconds(os.getpid()) - parent
    finally:
        await asyncio.to_thread(workers.stop)
    after = [_rss_mb(pid) for pid in pids]
    turns = len(result.latencies)
    used = {name: last.trees[name] - first.trees[name] for name in trees}
    ours = sum(used.values()) + parent
    machine = last.machine - first.machine
    per_turn = {name: 1000 * seconds / turns for name, seconds in used.items()}
    servers_ms = [per_turn[f"server {n}"] for n in range(len(pids))]
    return {
        "conversations": count,
        "processes": len(servers),
        "turns": turns,
        "model_latency_s": MODEL_LATENCY_S,
        "load_workers": LOAD_WORKERS,
        "turns_per_s": round(turns / result.wall, 1),
        "ideal_turns_per_s": round(count / MODEL_LATENCY_S, 1),
        "p50_s": round(statistics.median(result.latencies), 3),
        "p95_s": round(percentile(result.latencies, 0.95), 3),
        # a closed loop: every conversation's turns one after another, so the wall time is
        # its slowest conversation's, and that is the sum of its rounds
        "rounds_s": [
            [round(statistics.median(each), 3), round(max(each), 3)] for each in result.rounds
        ],
        "wall_s": round(result.wall, 3),
        "slowest_conversation_s": round(max(result.spans), 3),
        "cpu_ms_per_turn": {
            "servers": [round(ms, 1) for ms in servers_ms],
            "load generator": round(per_turn["load generator"], 1),
            "model server": round(per_turn["model server"], 1),
            "postgres": round(per_turn["postgres"], 1),
            "bench parent": round(1000 * parent / turns, 1),
            "all": round(1000 * ours / turns, 1),
            "rest of the machine": round(1000 * (machine - ours) / turns, 1),
        },
        "main_thread_busy": [
            round((last.threads[name] - first.threads[name]) / window, 2) for name in threads
        ],
        "cores_busy": round(ours / window, 2),
        "machine_cores_busy": round(machine / window, 2),
        "cores": cpu.cores(),
        "load_average_before": [round(v, 2) for v in load],
        "server_rss_mb_before": [round(mb, 1) for mb in before],
        "server_rss_mb_after": [round(mb, 1) for mb in after],
        "mb_per_conversation": round((sum(after) - sum(before)) / count, 2),
    }


LONG_ANSWER_CHARS = 9000


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
        # pieces that came faster than the page repaints arrive together: each word in it
        # arrived then
        now = time.monotonic()
        received.extend((now, f"{word} ") for word in str(data.get("token", "")).split())
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
        "long_answer_cpu_ms": await _long_answer(server, llm, brain, cookie),
    }


async def _long_answer(server: UiServer, llm: ScriptedOpenAI, brain: Brain, cookie: str) -> float:
    """The server's CPU time for one turn whose answer is 9 KB of Markdown sent in
    4-character pieces as fast as the model can (each piece is made safe and shown)."""
    paragraph = "The tide rises twice a day, see [NOAA](https://noaa.gov) and `code`.\n\n"
    brain.answer = (paragraph * (LONG_ANSWER_CHARS // len(paragraph) + 1))[:LONG_ANSWER_CHARS]
    client = await ChatClient.open(server.url, cookie)
    try:
        await client.turn("warm up")
        assert server.proc is not None
        before = cpu.own_seconds(server.proc.pid)
        await client.turn("a long answer please", within=120)
        used = cpu.own_seconds(server.proc.pid) - before
    finally:
        brain.answer = Brain().answer
        await client.close()
    return round(used * 1000)


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


@contextlib.contextmanager
def _postgres() -> Iterator[TempPostgres | None]:
    """A throwaway PostgreSQL server, or None where none can be started (said on stderr)."""
    try:
        server = TempPostgres().start()
    except (PostgresUnavailable, OSError, subprocess.CalledProcessError) as exc:
        print(f"note: no PostgreSQL server for figures 3b and 3c: {exc}", file=sys.stderr)
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


async def throughput(quick: bool, checkout: Checkout | None = None) -> dict[str, dict[str, Any]]:
    """Figure 3 in each set-up, with the same load: one process on SQLite, one on
    PostgreSQL, two on one PostgreSQL database."""
    checkout = checkout or Checkout()
    figures: dict[str, dict[str, Any]] = {}
    with (
        ModelProcess(MODEL_LATENCY_S) as model,
        FakeSearch() as search,
        tempfile.TemporaryDirectory() as tmp,
        _postgres() as postgres,
    ):
        for setup, (_, shared) in SETUPS.items():
            if shared and postgres is None:
                continue
            figures[setup] = await _figure3(
                setup, model, search, postgres, Path(tmp), quick, checkout
            )
    return figures


async def collect(quick: bool) -> dict[str, dict[str, Any]]:
    """Run every chat-server figure: figure 3 in its set-ups, the others on one process."""
    figures = await throughput(quick)
    brain = Brain()
    with ScriptedOpenAI(brain) as llm, FakeSearch() as search, tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = UiServer(_env(llm.base_url, search, data), data, Path(tmp) / "server.log")
        try:
            start = await asyncio.to_thread(_start, server)
            cookie = await sign_in(server.url, "alice", "secret1")
            figures |= {
                "4 streaming": await _streaming(server, llm, brain, cookie),
                "5 resume (UI history)": await _history(server, llm, cookie),
                "6 start-up (server)": {"server_start_s": round(start, 2)},
            }
        finally:
            server.stop()
    return figures


def main() -> int:
    """``python -m bench.ui_bench [--quick] [--checkout PATH]``: figure 3 only, of this
    checkout's server or of another checkout's (with its own ``.venv``), measured with
    this checkout's load generator."""
    from bench.__main__ import table

    parser = argparse.ArgumentParser(prog="bench.ui_bench")
    parser.add_argument("--quick", action="store_true", help="10 conversations")
    parser.add_argument("--checkout", type=Path, help="serve another checkout's code")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--profile", type=Path, help="py-spy profiles of every process under load, here"
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings")
    checkout = (
        Checkout.at(args.checkout, args.profile)
        if args.checkout
        else Checkout(profile=args.profile)
    )
    figures = asyncio.run(throughput(args.quick, checkout))
    print(f"server code: {checkout.root}")
    print(table(figures, ROWS))
    if args.out:
        args.out.write_text(json.dumps({"checkout": str(checkout.root), "figures": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
