"""Sampling profiles of running processes with py-spy (optional: ``pip install py-spy``;
it is not a dependency of the project), and where their CPU time went, by package.

    with Profiler({"server 0": pid}, Path("profiles")):
        ...                                  # the load
    python -m bench.profile profiles/server-0.txt      # self time by package

py-spy samples the thread holding the GIL (``--gil``: what the process's Python code spends
its one core on; a thread blocked in a queue or waiting for the GIL is not counted),
without pausing the process (``--nonblocking``), and writes collapsed stacks (``--format
raw``); a flame graph can be made from them with any flamegraph tool.
"""

from __future__ import annotations

import collections
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


class Profiler:
    """py-spy recording each of ``pids`` into ``directory/<name>.txt`` while entered."""

    def __init__(self, pids: dict[str, int], directory: Path) -> None:
        """``pids``: a file name (spaces become dashes) for each process id."""
        self.pids = pids
        self.directory = directory
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Profiler:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(spy).exists():
            raise RuntimeError("profiling needs py-spy: pip install py-spy")
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            out = self.directory / f"{name.replace(' ', '-')}.txt"
            command = [spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
            command += ["--nonblocking", "--gil", "--rate", "200"]
            self.procs.append(
                subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)  # py-spy writes its output and exits
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def package_of(path: str) -> str:
    """A source file's package: ``site-packages/<name>``, the standard library's module
    (``asyncio``, ``json``...), or this project's top-level package. py-spy names files
    by their module path (``langgraph/pregel/_loop.py``) unless asked for full paths."""
    parts = Path(path).parts
    if parts and not Path(path).is_absolute():
        return parts[0].removesuffix(".py")
    if "site-packages" in parts:
        rest = parts[parts.index("site-packages") + 1 :]
        return rest[0].removesuffix(".py") if rest else path
    for top in ("assistant", "fakes", "bench", "tools"):
        if top in parts:
            return top
    match = re.search(r"python3\.\d+/(.+)", path)
    if match:
        return match.group(1).split("/")[0].removesuffix(".py")
    return path


def _samples(stacks: Path) -> Iterator[tuple[list[str], int]]:
    """Each collapsed stack of a py-spy raw file: its frames (outermost first), its samples."""
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def self_time(stacks: Path) -> collections.Counter[str]:
    """Samples whose innermost frame is in each package."""
    counts: collections.Counter[str] = collections.Counter()
    for frames, count in _samples(stacks):
        leaf = _FRAME.match(frames[-1])
        counts[package_of(leaf.group("file")) if leaf else "?"] += count
    return counts


def inclusive_time(stacks: Path) -> collections.Counter[str]:
    """Samples with a frame of each package anywhere on the stack."""
    counts: collections.Counter[str] = collections.Counter()
    for frames, count in _samples(stacks):
        found = {package_of(match.group("file")) for f in frames if (match := _FRAME.match(f))}
        for package in found:
            counts[package] += count
    return counts


def main() -> int:
    """``python -m bench.profile FILE...``: self and inclusive shares by package."""
    for name in sys.argv[1:]:
        path = Path(name)
        own, anywhere = self_time(path), inclusive_time(path)
        total = sum(own.values()) or 1
        print(f"{path} ({total} samples): package, self %, inclusive %")
        for package, count in own.most_common(25):
            share, inclusive = 100 * count / total, 100 * anywhere[package] / total
            print(f"  {package:<28} {share:5.1f} {inclusive:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
