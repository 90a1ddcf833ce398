"""``make bench``: every figure beside its target, printed and written to JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from bench import engine_bench, ui_bench
from bench.engine_bench import Row

ROWS: list[Row] = [
    (
        "1 research fan-out",
        "efficiency (ideal / actual)",
        lambda f: f["efficiency"],
        ">= 0.9",
        lambda f: f["efficiency"] >= 0.9,
    ),
    (
        "1 research fan-out",
        "wall time, 8 workers (s)",
        lambda f: f["parallel_s"],
        "ideal {ideal_s}",
        lambda f: True,
    ),
    (
        "1 research fan-out",
        "first run in a fresh process (s)",
        lambda f: f["cold_first_run_s"],
        "-",
        lambda f: True,
    ),
    (
        "1 research fan-out",
        "speedup over MAX_PARALLEL=1",
        lambda f: f["speedup_vs_serial"],
        "-",
        lambda f: True,
    ),
    (
        "1 research fan-out",
        "model calls per report (8 sections)",
        lambda f: f["model_calls_per_run"],
        "-",
        lambda f: True,
    ),
    (
        "1 research fan-out",
        "prompt / completion tokens per report",
        lambda f: f"{f['prompt_tokens_per_run']}/{f['completion_tokens_per_run']}",
        "-",
        lambda f: True,
    ),
    (
        "1 research fan-out",
        "pages read per report",
        lambda f: f["pages_read_per_run"],
        "-",
        lambda f: True,
    ),
    (
        "7 verification",
        "share of cited claims kept (test set)",
        lambda f: f["kept_share"],
        "{expected_share}",
        lambda f: f["kept_share"] == f["expected_share"] and f["unsupported_claims_left"] == 0,
    ),
    (
        "2 agent overhead",
        "median ms/turn, SQLite",
        lambda f: f["sqlite_median_ms"],
        "<= 10",
        lambda f: f["sqlite_median_ms"] <= 10,
    ),
    ("2 agent overhead", "p95 ms/turn, SQLite", lambda f: f["sqlite_p95_ms"], "-", lambda f: True),
    (
        "2 agent overhead",
        "median ms/turn, in-memory",
        lambda f: f["memory_median_ms"],
        "-",
        lambda f: True,
    ),
    (
        "2 agent overhead",
        "median ms/turn, SQLite, client call time excluded",
        lambda f: f["sqlite_median_beyond_client_ms"],
        "<= 10",
        lambda f: f["sqlite_median_beyond_client_ms"] <= 10,
    ),
    (
        "5 resume",
        "load agent state, 500 messages (ms)",
        lambda f: f["load_state_median_ms"],
        "<= 200",
        lambda f: f["load_state_median_ms"] <= 200,
    ),
    (
        "6 start-up",
        "assistant --help (s)",
        lambda f: f["help_median_s"],
        "<= 0.5",
        lambda f: f["help_median_s"] <= 0.5,
    ),
]


async def collect(quick: bool) -> dict[str, dict[str, Any]]:
    figures: dict[str, dict[str, Any]] = {}
    figures["1 research fan-out"] = await engine_bench.research_fanout()
    figures["2 agent overhead"] = await engine_bench.agent_overhead(40 if quick else 200)
    figures["5 resume"] = await engine_bench.resume_state()
    figures["6 start-up"] = engine_bench.startup_help()
    figures["7 verification"] = await engine_bench.verifier_share()
    figures.update(await ui_bench.collect(quick))
    return figures


def table(figures: dict[str, dict[str, Any]], rows: list[Row]) -> str:
    lines = [f"{'figure':<20} {'measure':<50} {'value':>10}  {'target':<12} ok"]
    for group, label, value, target, ok in rows:
        if group not in figures:
            continue
        figure = figures[group]
        lines.append(
            f"{group:<20} {label:<50} {value(figure)!s:>10}  "
            f"{target.format(**figure):<12} {'yes' if ok(figure) else 'NO'}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"))
    parser.add_argument("--quick", action="store_true", help="fewer turns, for a smoke run")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Pydantic serializer warnings")
    started = time.time()
    figures = asyncio.run(collect(args.quick))
    print(table(figures, ROWS + ui_bench.ROWS))
    args.out.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%d %H:%M:%S"),
                "python": sys.version.split()[0],
                "machine": platform.platform(),
                "seconds": round(time.time() - started, 1),
                "figures": figures,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
