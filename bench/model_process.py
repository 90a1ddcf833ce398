"""The scripted model server (``ScriptedOpenAI`` answering as ``Brain``) in a process of its
own, so that its threads do not share a GIL (and a core's time slices) with the load
generator that measures the chat server.

    with ModelProcess(latency=1.0) as model:
        model.base_url              # http://127.0.0.1:PORT/v1
        model.pid                   # for CPU accounting

Run as ``python -m bench.model_process LATENCY``: prints the base URL, serves until its
standard input closes.
"""

from __future__ import annotations

import subprocess
import sys
from types import TracebackType

from fakes.ui_server import ROOT


class ModelProcess:
    """A scripted model server in a subprocess, with ``latency`` seconds per call."""

    def __init__(self, latency: float) -> None:
        """Configure; entering the context starts it."""
        self.latency = latency
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> ModelProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.model_process", str(self.latency)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http://"):
            self.__exit__(None, None, None)
            raise RuntimeError("the scripted model process did not start")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def main() -> int:
    """Serve until standard input closes."""
    from fakes.brain import Brain
    from fakes.openai_server import ScriptedOpenAI

    with ScriptedOpenAI(Brain(), latency=float(sys.argv[1])) as server:
        print(server.base_url, flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
