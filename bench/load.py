"""The load generator of figure 3: browser sessions (``ChatClient``) spread over worker
processes, so that one Python process's event loop and GIL do not bound what is measured.

Each worker opens its sessions (each on the server its conversation is pinned to: sticky,
as behind a proxy), says ``ready``, waits for ``go`` and then runs every conversation at
once, ``turns`` messages each, one after the other; it prints the latency of every turn
by round (a conversation's first turn, its second...), how long each conversation took,
and when it started and finished (``time.monotonic``, the same clock in every process).

    workers = LoadWorkers(plan, cookie, turns)   # plan: one server URL per conversation
    workers.start(); workers.wait_ready()
    workers.go(); results = workers.results()
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from fakes.chat_client import ChatClient
from fakes.ui_server import ROOT

COOKIE_ENV = "BENCH_COOKIE"
TURN_TIMEOUT_S = 60


@dataclass(frozen=True)
class Result:
    """What the workers measured."""

    rounds: list[list[float]]
    """The latencies of every conversation's first turn, of its second..."""
    spans: list[float]
    """How long each conversation took, its first message to its last answer."""
    started: float
    finished: float

    @property
    def latencies(self) -> list[float]:
        """Every turn's latency."""
        return [latency for each in self.rounds for latency in each]

    @property
    def wall(self) -> float:
        """Seconds from the first turn sent to the last one finished."""
        return self.finished - self.started


class LoadWorkers:
    """Worker processes running the conversations of ``plan`` (a server URL for each)."""

    def __init__(self, plan: list[str], cookie: str, turns: int, workers: int = 2) -> None:
        """Conversation ``i`` goes to worker ``i % workers``."""
        self.shares = [plan[w::workers] for w in range(workers) if plan[w::workers]]
        self.cookie = cookie
        self.turns = turns
        self.procs: list[subprocess.Popen[str]] = []

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [proc.pid for proc in self.procs]

    def start(self) -> None:
        """Start the workers; each connects its sessions."""
        env = {**os.environ, COOKIE_ENV: self.cookie, "PYTHONPATH": str(ROOT)}
        for share in self.shares:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.load", str(self.turns), *share],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            self.procs.append(proc)

    def wait_ready(self) -> None:
        """Until every worker has connected all its sessions."""
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if line != "ready":
                self.stop()
                raise RuntimeError(f"a load worker failed to connect: {line!r}")

    def go(self) -> None:
        """Start every conversation."""
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()

    def results(self) -> Result:
        """Wait for every worker's report (they exit afterwards: ``stop``); their turns
        together."""
        reports: list[dict[str, Any]] = []
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.startswith("{"):
                self.stop()
                raise RuntimeError(f"a load worker failed: {line!r}")
            report = json.loads(line)
            if report.get("error"):
                self.stop()
                raise RuntimeError(f"a load worker failed: {report['error']}")
            reports.append(report)
        rounds = [report["rounds"] for report in reports]
        return Result(
            [[v for share in rounds for v in share[n]] for n in range(self.turns)],
            [span for report in reports for span in report["spans"]],
            min(report["started"] for report in reports),
            max(report["finished"] for report in reports),
        )

    def stop(self) -> None:
        """Let the workers exit (they close their sessions); kill one that does not."""
        for proc in self.procs:
            if proc.stdin is not None and not proc.stdin.closed:
                proc.stdin.close()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


async def _work(urls: list[str], cookie: str, turns: int) -> dict[str, Any]:
    clients = [await ChatClient.open(url, cookie) for url in urls]
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    rounds: list[list[float]] = [[] for _ in range(turns)]
    spans: list[float] = []

    async def converse(client: ChatClient) -> None:
        first = time.perf_counter()
        for i in range(turns):
            began = time.perf_counter()
            await client.turn(f"hello {i}", within=TURN_TIMEOUT_S)
            rounds[i].append(time.perf_counter() - began)
        spans.append(time.perf_counter() - first)

    started = time.monotonic()
    try:
        await asyncio.gather(*(converse(client) for client in clients))
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    finished = time.monotonic()
    print(json.dumps({"rounds": rounds, "spans": spans, "started": started, "finished": finished}))
    sys.stdout.flush()
    for client in clients:
        await client.close()
    return {}


def main() -> int:
    """``python -m bench.load TURNS URL...``: one session per URL."""
    turns, urls = int(sys.argv[1]), sys.argv[2:]
    failed = asyncio.run(_work(urls, os.environ[COOKIE_ENV], turns))
    if failed:
        print(json.dumps(failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
