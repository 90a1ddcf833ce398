"""Turns computed first come, first served, instead of all at once.

One event loop serves every conversation of a process. Left to itself it shares the CPU
among all of them at each ``await``: when many messages arrive together, every turn's
start-up (lease, checkpoint, memories, the request) advances a little at a time, so all of
them reach the model together, late, and all their answers finish together, later still;
and as the model answers each in the same time, the next messages arrive together again.
Served in order of arrival instead, the first turn's request leaves after its own few
milliseconds of work, the next one's after that, and a burst spreads out by itself.

So a turn holds a place in a ``TurnQueue`` while it computes, and gives it up while it waits
for something outside the process (the model, a tool, an embeddings call: ``waiting``),
queueing again at the back when that answers. ``width`` turns compute at once, so that one
waiting for its database does not leave the loop idle. Each place is also bounded in time
(``HOLD_LIMIT_S``): a turn that waits on something not marked as outside (a pool
exhausted, a slow disk) holds the others back for that long at most.

Work that can wait (writing the chat history) waits for a ``lull``: a moment when no turn
computes or waits to, as while every turn waits for the model. It is then done in time
the turns do not need, and in bigger batches, instead of delaying every turn of a burst.

    queue = TurnQueue()
    async with queue.turn():            # in the engine, around a chat run
        ...
        async with waiting():           # in the model client and the tool node
            reply = await model(...)
    await queue.lull(0.5)               # history writes: until no turn computes (0.5 s at most)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator

log = logging.getLogger(__name__)

WIDTH = 2
"""Turns computing at once in one process."""
HOLD_LIMIT_S = 0.5
"""A place held longer than this goes to the next turn in the queue."""


class _Ticket:
    """One turn's claim on a place: held or not, and how many of its waits are open."""

    __slots__ = ("_timer", "ended", "held", "open_waits", "queue")

    def __init__(self, queue: TurnQueue) -> None:
        self.queue = queue
        self.held = False
        self.open_waits = 0
        self.ended = False
        self._timer: asyncio.TimerHandle | None = None

    async def take(self) -> None:
        await self.queue._acquire()
        if self.ended:  # a branch of the turn queued again as the turn ended
            self.queue._release()
            return
        self.held = True
        self._timer = asyncio.get_running_loop().call_later(self.queue.hold_limit, self._overdue)

    def give_back(self) -> None:
        if not self.held:
            return
        self.held = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.queue._release()

    def _overdue(self) -> None:
        self._timer = None
        if self.held:
            log.debug("a turn held its place over %.1f s: passed on", self.queue.hold_limit)
            self.give_back()


_current: contextvars.ContextVar[_Ticket | None] = contextvars.ContextVar(
    "assistant_turn_ticket", default=None
)


class TurnQueue:
    """Places for turns to compute in, given out in order of asking."""

    def __init__(self, width: int = WIDTH, hold_limit: float = HOLD_LIMIT_S) -> None:
        if width < 1:
            raise ValueError("a turn queue needs at least one place")
        self.hold_limit = hold_limit
        self._width = width
        self._free = width
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._lulls: list[asyncio.Future[None]] = []

    @property
    def waiting_turns(self) -> int:
        """Turns queued for a place."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    @property
    def quiet(self) -> bool:
        """No turn computes or waits for a place."""
        return self._free == self._width and not self.waiting_turns

    async def lull(self, within: float) -> None:
        """Until the queue is ``quiet``, or ``within`` seconds have passed (work that can
        wait must not wait for ever under a steady load)."""
        if self.quiet:
            return
        lull = asyncio.get_running_loop().create_future()
        self._lulls.append(lull)
        try:
            async with asyncio.timeout(within):
                await lull
        except TimeoutError:
            pass
        finally:  # timed out (the timeout cancelled it): no release will take it off
            with contextlib.suppress(ValueError):
                self._lulls.remove(lull)

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold a place for the block (except while it is ``waiting``); nested: the outer
        turn's place."""
        if _current.get() is not None:
            yield
            return
        ticket = _Ticket(self)
        await ticket.take()
        reset = _current.set(ticket)
        try:
            yield
        finally:
            ticket.ended = True
            ticket.give_back()
            with contextlib.suppress(ValueError):  # closed from another context
                _current.reset(reset)

    async def _acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a place, then cancelled
                self._release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def _release(self) -> None:
        while self._waiters:  # handed on directly: nobody overtakes the queue
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
        if self._free == self._width:
            lulls, self._lulls = self._lulls, []
            for lull in lulls:
                if not lull.done():
                    lull.set_result(None)


@contextlib.asynccontextmanager
async def waiting() -> AsyncIterator[None]:
    """Around a wait for something outside the process: the turn's place goes to the next
    turn meanwhile, and is queued for again when the wait is over (not when it failed: the
    turn is unwinding). Outside a turn, nothing."""
    ticket = _current.get()
    if ticket is None:
        yield
        return
    ticket.open_waits += 1
    if ticket.open_waits == 1:
        ticket.give_back()
    try:
        yield
    except BaseException:
        ticket.open_waits -= 1
        raise
    ticket.open_waits -= 1
    if ticket.open_waits == 0 and not ticket.ended and not ticket.held:
        await ticket.take()
