"""``python -m assistant ui`` as a subprocess on a free local port, for tests and benchmarks."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30.0


def wait_until_answering(
    proc: subprocess.Popen[bytes], url: str, what: str, log: Path, timeout: float, every: float
) -> None:
    """Until ``url`` answers 200; raise ``RuntimeError`` with the end of ``log`` if ``proc``
    (``what``) exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}):\n{log_tail(log)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(every)
    raise RuntimeError(f"{what} did not start in {timeout}s:\n{log_tail(log)}")


def log_tail(log: Path, lines: int = 60) -> str:
    """The end of a server's output file."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class UiServer:
    """``python -m assistant ui`` on a local port, restartable on the same data directory."""

    def __init__(
        self, env: dict[str, str], data_dir: Path, log: Path, python: str = sys.executable
    ) -> None:
        """Configure; ``start()`` runs it. ``python``: the interpreter that runs it (another
        checkout's virtualenv, with that checkout on ``PYTHONPATH`` in ``env``)."""
        self.python = python
        self.env = env
        self.data_dir = data_dir
        self.log = log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.python, "-m", "assistant", "ui", "--port", str(self.port)],
                cwd=self.data_dir.parent,  # not the repository: the launcher must find it
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_until_answering(
            self.proc, f"{self.url}/auth/config", "the UI server", self.log, START_TIMEOUT_S, 0.1
        )

    def kill(self) -> None:
        """Kill -9: no shutdown hook runs, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """Ctrl-C, as a person would; kill if it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, lines: int = 40) -> str:
        """The end of the server's output."""
        return log_tail(self.log, lines)
