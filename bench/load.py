"""The load generator of figure 3: browser sessions spread over worker processes, so that
one Python process's event loop and GIL do not bound what is measured.

Each worker opens its sessions (each on the server its conversation is pinned to: sticky,
as behind a proxy), says ``ready``, waits for ``go`` and then runs every conversation at
once, ``turns`` messages each, one after the other; it prints the latency of every turn
by round (a conversation's first turn, its second...), how long each conversation took,
and when it started and finished (``time.monotonic``, the same clock in every process).

    workers = LoadWorkers(plan, cookie, turns)   # plan: one server URL per conversation
    workers.start(); workers.wait_ready()
    workers.go(); results = workers.results()

A session (``Session``) speaks the chat server's socket.io protocol as the web app does, over
a websocket, but reads only what a chat turn needs: the workers share the two cores with the
servers they measure, and python-socketio's client (``fakes.chat_client``, for the tests)
spent 1.4-1.6 ms of CPU a turn there, where this one spends 0.8-1.0.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from fakes.chat_client import ends_turn, session_auth, user_message
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


class Session:
    """One browser session: Engine.IO 4 over a websocket, Socket.IO 5 on it, the events of a
    chat turn (the server's pings answered)."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Use ``await Session.open(...)``."""
        self._http = http
        self._ws = ws
        self.thread_id = ""
        self._named = asyncio.Event()
        self._turn: tuple[str, asyncio.Future[None]] | None = None
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, base_url: str, cookie: str) -> Session:
        """Connect a new chat, as the page does, and start reading its events."""
        http = aiohttp.ClientSession()
        try:
            url = "ws" + base_url.removeprefix("http") + "/ws/socket.io/?EIO=4&transport=websocket"
            ws = await http.ws_connect(url, headers={"Cookie": cookie})
            if not (await ws.receive_str()).startswith("0"):  # Engine.IO's open packet
                raise RuntimeError("the server did not open an Engine.IO session")
            await ws.send_str("40" + json.dumps(session_auth(str(uuid.uuid4()))))
            while not (packet := await ws.receive_str()).startswith("40"):
                if packet.startswith("44"):
                    raise RuntimeError(f"the server refused the session: {packet[2:200]}")
                if packet == "2":
                    await ws.send_str("3")
        except BaseException:
            await http.close()
            raise
        session = cls(http, ws)
        session._reader = asyncio.create_task(session._read())
        await ws.send_str('42["connection_successful"]')
        return session

    async def _read(self) -> None:
        async for frame in self._ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            packet = frame.data
            if packet == "2":  # Engine.IO's ping
                await self._ws.send_str("3")
            elif packet.startswith("42["):
                name, *data = json.loads(packet[2:])
                self._event(name, data[0] if data else None)
        if self._turn is not None and not self._turn[1].done():
            self._turn[1].set_exception(ConnectionError("the server closed the session"))

    def _event(self, name: str, data: Any) -> None:
        if name == "first_interaction":
            self.thread_id = data["thread_id"]
            self._named.set()
        elif self._turn is not None and ends_turn(name, data, self._turn[0]):
            self._turn[1].set_result(None)
            self._turn = None

    async def turn(self, text: str, within: float) -> None:
        """Send ``text``; until the app's message handler has finished with it (its run
        step ends, as ``ChatClient.turn`` waits) and the thread has its id."""
        message = user_message(text, self.thread_id)
        done = asyncio.get_running_loop().create_future()
        self._turn = (str(message["id"]), done)
        event = ["client_message", {"message": message, "fileReferences": []}]
        await self._ws.send_str("42" + json.dumps(event))
        async with asyncio.timeout(within):
            await done
            await self._named.wait()

    async def close(self) -> None:
        """Disconnect."""
        if self._reader is not None:
            self._reader.cancel()
        await self._ws.close()
        await self._http.close()


async def _work(urls: list[str], cookie: str, turns: int) -> dict[str, Any]:
    clients = [await Session.open(url, cookie) for url in urls]
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    rounds: list[list[float]] = [[] for _ in range(turns)]
    spans: list[float] = []

    async def converse(client: Session) -> None:
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
