"""A model of figure 3's closed loop: what an order of the turn queue, or less CPU, would give.

Each server process serves ``conversations`` conversations that all send their first
message at once and each send the next one when the answer to the last has ended. A turn
needs ``pre`` seconds of its process's event loop before its model call (lease, checkpoint,
memories, the request), then ``model`` seconds outside, then ``post`` seconds (the reply,
its checkpoint, the end of the turn); the loop does one thing at a time; messages and
answers take ``net`` seconds each way. ``order`` is which waiting phase the loop takes
next: first come first served (``assistant.turn_queue`` today), every start before any
end, or every end before any start.

It ignores what it cannot know (the other process and PostgreSQL sharing the cores, the
loop interleaving two phases): ``pre`` and ``post`` are a process's *wall* time per turn
under the burst, its CPU divided by the share of a core it gets. With 10 and 8 ms (about
12.5 ms of server CPU a turn at ~0.7 of a core) it gives what the bench measures.

    python -m bench.wave                      # the orders at today's 10 + 8 ms
    python -m bench.wave --pre 8 --post 6     # with less CPU a turn
"""

from __future__ import annotations

import argparse
import dataclasses
import heapq
import statistics
from dataclasses import dataclass

ORDERS = ("first come", "starts first", "ends first")


@dataclass(frozen=True)
class Loop:
    """Figure 3c's load: ``conversations`` per process, ``turns`` each, a turn's ``pre`` and
    ``post`` seconds of its process, ``model`` seconds outside, ``net`` each way."""

    pre: float
    post: float
    conversations: int = 25
    turns: int = 4
    processes: int = 2
    model: float = 1.0
    net: float = 0.004

    def scaled(self, share: float) -> Loop:
        """The same with ``share`` of the process's time a turn."""
        return dataclasses.replace(self, pre=self.pre * share, post=self.post * share)


@dataclass(frozen=True)
class Outcome:
    """What the model gives for all the processes together."""

    turns_per_s: float
    p50_s: float
    p95_s: float
    slowest_s: float


def run(order: str, loop: Loop) -> Outcome:
    """One process's conversations (the others' are the same), in ``order``."""
    if order not in ORDERS:
        raise ValueError(f"order is one of {ORDERS}")
    events: list[tuple[float, int, str, int]] = []  # (time, tie-break, what, conversation)
    waiting: list[tuple[bool, float, int]] = []  # (is a start, since, conversation)
    began = [0.0] * loop.conversations
    done = [0] * loop.conversations
    latencies: list[float] = []
    count = 0

    def later(at: float, what: str, conversation: int) -> None:
        nonlocal count
        heapq.heappush(events, (at, count, what, conversation))
        count += 1

    def next_phase() -> tuple[bool, float, int]:
        if order == "first come":
            chosen = min(waiting, key=lambda w: w[1])
        elif order == "starts first":
            chosen = min(waiting, key=lambda w: (not w[0], w[1]))
        else:
            chosen = min(waiting, key=lambda w: (w[0], w[1]))
        waiting.remove(chosen)
        return chosen

    for conversation in range(loop.conversations):
        later(loop.net, "message", conversation)
    now, busy = 0.0, False
    while events or waiting:
        if not busy and waiting:
            start, _, conversation = next_phase()
            took = loop.pre if start else loop.post
            later(now + took, "started" if start else "ended", conversation)
            busy = True
            continue
        now, _, what, conversation = heapq.heappop(events)
        if what == "message":
            began[conversation] = now - loop.net
            waiting.append((True, now, conversation))
        elif what == "reply":
            waiting.append((False, now, conversation))
        elif what == "started":
            busy = False
            later(now + loop.model, "reply", conversation)
        else:  # ended: the answer reaches the client, which sends the next message
            busy = False
            latencies.append(now + loop.net - began[conversation])
            done[conversation] += 1
            if done[conversation] < loop.turns:
                later(now + 2 * loop.net, "message", conversation)
    ordered = sorted(latencies)
    slowest = now + loop.net
    return Outcome(
        round(loop.processes * loop.conversations * loop.turns / slowest, 1),
        round(statistics.median(ordered), 3),
        round(ordered[int(0.95 * len(ordered))], 3),
        round(slowest, 3),
    )


def best(loop: Loop) -> float:
    """Turns per second that no order can beat (``loop.turns`` of 2 or more).

    No second turn can start before the first reply has come (``net + pre + model``), and
    before the last second turn has started the loop has done every conversation's first
    end and second start: ``conversations * (pre + post)`` more. That conversation's
    remaining turns then take at least a model call and a process's phases each.
    """
    second = loop.net + loop.pre + loop.model + loop.conversations * (loop.pre + loop.post)
    each = loop.model + loop.post + loop.pre + 2 * loop.net
    rest = (loop.turns - 2) * each + loop.model + loop.post + loop.net
    return round(loop.processes * loop.conversations * loop.turns / (second + rest), 1)


def needed(order: str | None, loop: Loop, *, rate: float, p95: float) -> float | None:
    """The largest share of the process's time a turn (to a percent) at which ``order``
    reaches ``rate`` turns/s with a p95 of ``p95`` s at most (``None``: at which ``best``
    reaches ``rate``); ``None`` if even 1 % does not."""
    for percent in range(100, 0, -1):
        share = loop.scaled(percent / 100)
        if order is None:
            if best(share) >= rate:
                return percent / 100
            continue
        got = run(order, share)
        if got.turns_per_s >= rate and got.p95_s <= p95:
            return percent / 100
    return None


def main() -> int:
    """Print every order at the given phases, and what each needs for 45 turns/s."""
    parser = argparse.ArgumentParser(prog="python -m bench.wave", description=__doc__)
    parser.add_argument("--pre", type=float, default=10.0, help="ms of a process before")
    parser.add_argument("--post", type=float, default=8.0, help="ms of a process after")
    args = parser.parse_args()
    loop = Loop(args.pre / 1000, args.post / 1000)
    total = args.pre + args.post
    print(f"50 conversations on 2 processes, 4 turns each, 1 s model, {args.pre} + {args.post} ms")

    def need(scale: float | None) -> str:
        if scale is None:
            return "not reached"
        return "reached" if scale == 1 else f"needs {scale * total:.1f} ms a turn"

    for order in ORDERS:
        got = run(order, loop)
        scale = needed(order, loop, rate=45, p95=1.3)
        print(
            f"  {order:13s} {got.turns_per_s:5.1f} turns/s, p50 {got.p50_s:.3f} s, "
            f"p95 {got.p95_s:.3f} s, slowest conversation {got.slowest_s:.2f} s; "
            f"45 turns/s with p95 <= 1.3 s: {need(scale)}"
        )
    scale = needed(None, loop, rate=45, p95=1.3)
    most = best(loop)
    print(f"  any order     {most:5.1f} turns/s at most; 45 turns/s: {need(scale)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
