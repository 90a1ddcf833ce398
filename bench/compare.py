"""Figure 2 (agent overhead per turn) for two checkouts, measured in one run.

    python -m bench.compare --base ../base      # a worktree of an older commit, with .venv

Each round runs the old code and the new code in fresh processes, one after the other,
so both see the same machine at the same time; the medians of every round are printed
side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROBE = (
    "import asyncio, json, warnings\n"
    "warnings.filterwarnings('ignore')\n"
    "from bench import engine_bench\n"
    "print(json.dumps(asyncio.run(engine_bench.agent_overhead({turns}))))\n"
)


def measure(checkout: Path, turns: int) -> dict[str, Any]:
    """Figure 2 of the code in ``checkout``, with that checkout's own virtualenv."""
    python = checkout / ".venv" / "bin" / "python"
    done = subprocess.run(
        [str(python), "-c", PROBE.format(turns=turns)],
        cwd=checkout,
        env={"PYTHONPATH": str(checkout), "PATH": "/usr/bin:/bin", "HOME": str(checkout)},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.compare")
    parser.add_argument("--base", type=Path, required=True, help="the older checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--turns", type=int, default=200)
    args = parser.parse_args()
    keys = ("sqlite_median_ms", "sqlite_p95_ms", "memory_median_ms")
    results: dict[str, list[dict[str, Any]]] = {"base": [], "this": []}
    for n in range(args.rounds):
        for name, checkout in (("base", args.base.resolve()), ("this", ROOT)):
            results[name].append(measure(checkout, args.turns))
            figure = results[name][-1]
            print(f"round {n + 1} {name:>4}: " + ", ".join(f"{k} {figure[k]}" for k in keys))
    print()
    for key in keys:
        base = statistics.median(r[key] for r in results["base"])
        this = statistics.median(r[key] for r in results["this"])
        print(f"{key:<20} base {base:7.2f}   this {this:7.2f}   ({this - base:+.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
