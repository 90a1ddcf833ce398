"""CPU time of processes and of the whole machine, read from ``/proc`` (Linux).

A process's total counts its own threads, its children that have exited (``cutime``,
``cstime``) and its children still alive, so the difference of two readings is everything
the process and what it started used in between: PostgreSQL's backends, a pool of workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(path: Path) -> list[str]:
    """The fields of a ``stat`` file after the command name (which may hold spaces)."""
    text = path.read_text()
    return text[text.rindex(")") + 2 :].split()


def own_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all its threads)."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    return (int(fields[11]) + int(fields[12])) / TICK


def thread_seconds(pid: int, tid: int | None = None) -> float:
    """CPU seconds of one thread of ``pid`` (its main thread by default: an asyncio
    server's event loop)."""
    fields = _stat_fields(Path(f"/proc/{pid}/task/{tid or pid}/stat"))
    return (int(fields[11]) + int(fields[12])) / TICK


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(entry / "stat")[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def tree_seconds(pid: int, tree: dict[int, list[int]] | None = None) -> float:
    """CPU seconds of ``pid``, its exited children and (recursively) its live ones."""
    tree = _children() if tree is None else tree
    try:
        fields = _stat_fields(Path(f"/proc/{pid}/stat"))
    except OSError:
        return 0.0
    total = sum(int(f) for f in fields[11:15]) / TICK  # utime, stime, cutime, cstime
    return total + sum(tree_seconds(child, tree) for child in tree.get(pid, []))


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent busy (not idle or waiting for I/O)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK


def cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0))


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages."""
    return os.getloadavg()


@dataclass(frozen=True)
class Reading:
    """CPU seconds of named process trees (and the main thread of some) at one moment."""

    trees: dict[str, float]
    threads: dict[str, float]
    machine: float


def read(trees: dict[str, list[int]], threads: dict[str, int]) -> Reading:
    """CPU seconds so far: ``trees`` name groups of process trees, ``threads`` a process
    whose main thread is counted on its own."""
    tree = _children()
    return Reading(
        {name: sum(tree_seconds(pid, tree) for pid in pids) for name, pids in trees.items()},
        {name: thread_seconds(pid) for name, pid in threads.items()},
        machine_busy_seconds(),
    )
