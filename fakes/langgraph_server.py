"""``langgraph dev`` (LangGraph Server, in memory) serving ``langgraph.json`` on a local port.

It runs from its own virtualenv (``make langgraph``): langgraph-cli's dependencies stay out
of the project's. The server keeps its in-memory state under ``workdir`` (not the
repository) and is started in its own process group, so stopping it leaves nothing behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from fakes.ui_server import free_port, log_tail, wait_until_answering

ROOT = Path(__file__).resolve().parents[1]
LANGGRAPH = ROOT / ".venv-langgraph" / "bin" / "langgraph"
START_TIMEOUT_S = 40.0
QUIET = {
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",  # no telemetry from the CLI
    "LANGSMITH_TRACING": "false",  # no traces sent to LangSmith
    "LANGCHAIN_TRACING_V2": "false",
}


class LangGraphDev:
    """``langgraph dev --no-browser --no-reload`` on 127.0.0.1."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        """Configure; ``start()`` runs it."""
        self.env = {**env, **QUIET}
        self.workdir = workdir
        self.log = workdir / "langgraph-dev.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it answers ``/ok``."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        command = [
            str(LANGGRAPH),
            "dev",
            "--config",
            str(ROOT / "langgraph.json"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-browser",
            "--no-reload",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as a whole
            )
        try:
            wait_until_answering(
                self.proc, f"{self.url}/ok", "langgraph dev", self.log, START_TIMEOUT_S, 0.2
            )
        except RuntimeError:
            self.stop()
            raise

    def stop(self, timeout: float = 15) -> int | None:
        """Ctrl-C to the process group; kill it if it does not stop in time.

        Returns the exit code of a server that stopped by itself (None if it was killed).
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
                return None
        return self.proc.returncode

    def tail(self, lines: int = 60) -> str:
        """The end of the server's output."""
        return log_tail(self.log, lines)
