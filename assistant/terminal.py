"""A long tool run's progress board at the terminal: a live display, or plain lines.

On a terminal (stderr is a tty that is not ``TERM=dumb``) the board is drawn with rich's
``Live`` and redrawn in place: one row per item with its state, its own elapsed time and
its note, under a header with the counts and the run's elapsed time. Anywhere else
(a pipe, a file, the tests) each item that starts or ends prints one plain line, which
scripts and logs can read.

The words for each state are the browser's (``assistant.presentation.WORDS``). The marks
are not its emoji: emoji widths differ from one terminal to the next, and a live display
redraws by counting rows, so each mark here is one cell wide; an active item spins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from assistant.events import FINISHED_STATES, Progress, State
from assistant.presentation import WORDS, elapsed, shown_state

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from rich.live import Live
    from rich.text import Text

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
"""The frames of an active item's mark (rich's ``dots`` spinner)."""
SPIN_RATE = 10
"""Spinner frames per second."""
LABEL_WIDTH = 40
"""Cells an item's name may take before it is cut."""
REFRESH_PER_SECOND = 8

MARKS: dict[State, str] = {
    State.WAITING: "·",
    State.DONE: "✓",
    State.KEPT: "↺",
    State.FAILED: "✗",
    State.DECLINED: "–",
    State.STOPPED: "■",
}
"""One-cell marks; the active states (searching, reading, ...) spin instead."""

STYLES: dict[State, str] = {
    State.WAITING: "dim",
    State.DONE: "green",
    State.KEPT: "cyan",
    State.FAILED: "red",
    State.DECLINED: "magenta",
    State.STOPPED: "magenta",
}
"""Colours by state; the active states are yellow."""
ACTIVE_STYLE = "yellow"


class ProgressView(Protocol):
    """Where a face sends a tool's progress boards."""

    def update(self, event: Progress) -> None:
        """A new state of one board (each event replaces the previous one)."""
        ...

    def covers(self, call_id: str) -> bool:
        """Whether the board of ``call_id`` is on screen now (its steps need no lines)."""
        ...

    def close(self) -> None:
        """The run ended or pauses: stop drawing (items still open show as stopped)."""
        ...


# --- plain lines -----------------------------------------------------------------------


class PlainProgress:
    """One line per item that starts or ends: ``started 1/3: Part 1``, ``1 of 3 done: ...``."""

    def __init__(self, say: Callable[[str], None]) -> None:
        """``say``: prints one line (with the run's elapsed time)."""
        self.say = say
        self.states: dict[tuple[str, str], State] = {}

    def update(self, event: Progress) -> None:
        """Print what changed since the last board."""
        total = len(event.items)
        for number, item in enumerate(event.items, 1):
            key = (event.call_id, item.label)
            was, now = self.states.get(key), item.state
            if was is now:
                continue
            self.states[key] = now
            note = f" ({item.note})" if item.note else ""
            if now is State.SEARCHING:
                self.say(f"started {number}/{total}: {item.label}")
            elif now is State.KEPT and was is None:
                self.say(f"kept from before {number}/{total}: {item.label}")
            elif now in FINISHED_STATES and now is not State.KEPT:
                self.say(f"{event.finished} of {total} done: {item.label} — {now.value}{note}")

    def covers(self, call_id: str) -> bool:
        """Plain lines cover nothing: every step is printed."""
        return False

    def close(self) -> None:
        """Nothing to stop."""


# --- the live display ------------------------------------------------------------------


@dataclass
class Tracked:
    """One board as the terminal knows it: the latest event and when each item ran."""

    board: Progress
    started_at: float
    """When the run started (the earliest ``started_at`` seen: a final board restarts it)."""
    began: dict[int, float] = field(default_factory=dict)
    """Item index -> when it left ``waiting``."""
    ended: dict[int, float] = field(default_factory=dict)
    """Item index -> when it finished."""
    stopped_at: float | None = None
    """When drawing stopped: the clocks freeze there, and open items show as stopped."""

    @classmethod
    def first(cls, board: Progress, now: float) -> Tracked:
        """A board seen for the first time at ``now``."""
        tracked = cls(board, board.started_at)
        tracked.update(board, now)
        return tracked

    def update(self, board: Progress, now: float) -> None:
        """Take a new state of the board, timing each item's work (an item first seen
        finished, e.g. kept from an earlier run, has no time)."""
        self.board = board
        self.started_at = min(self.started_at, board.started_at)
        for index, item in enumerate(board.items):
            finished = item.state in FINISHED_STATES
            if item.state is State.WAITING or (finished and index not in self.began):
                continue
            self.began.setdefault(index, now)
            if finished:
                self.ended.setdefault(index, now)
            else:
                self.ended.pop(index, None)


def render_board(tracked: Tracked, now: float) -> RenderableType:
    """The board as rich draws it: a header, one row per item, the board's note."""
    return _BoardView(tracked, now)


class _BoardView:
    """A board fitted to the terminal's width: every line is cut, never wrapped (a live
    display that wraps a line loses count of the rows it must redraw)."""

    def __init__(self, tracked: Tracked, now: float) -> None:
        self.tracked = tracked
        self.now = now

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        tracked, width = self.tracked, options.max_width
        board, stopped = tracked.board, tracked.stopped_at is not None
        now = tracked.stopped_at if stopped and tracked.stopped_at is not None else self.now
        total = len(board.items)
        counts = Text.assemble(
            f" · {board.finished} of {total} done · ",
            (elapsed(now - tracked.started_at), "dim"),
        )
        title = Text(board.title, style="bold")
        title.truncate(max(1, width - counts.cell_len), overflow="ellipsis")
        yield _line(title + counts, width)
        number_w = len(f"{total}.")
        label_w = min(LABEL_WIDTH, max((len(item.label) for item in board.items), default=1))
        state_w = max(len(word) for word in WORDS.values())
        frame = SPINNER[int(now * SPIN_RATE) % len(SPINNER)]
        for index, item in enumerate(board.items):
            state = shown_state(item.state, stopped=stopped)
            style = STYLES.get(state, ACTIVE_STYLE)
            began = tracked.began.get(index)
            took = elapsed(tracked.ended.get(index, now) - began) if began is not None else ""
            label = Text(item.label, style="" if state in FINISHED_STATES else "bold")
            label.truncate(label_w, overflow="ellipsis", pad=True)
            row = Text.assemble(
                (f"{index + 1}.".rjust(number_w), "dim"),
                " ",
                (MARKS.get(state, frame), style),
                " ",
                label,
                " ",
                (WORDS[state].ljust(state_w), style),
                " ",
                (took.rjust(5), "dim"),
                "  ",
                (item.note, "dim"),
            )
            yield _line(row, width)
        if board.note:
            yield _line(Text(board.note, style="dim"), width)


def _line(text: Text, width: int) -> Text:
    """``text`` cut to ``width`` cells (with an ellipsis), on one line."""
    text.no_wrap = True
    text.truncate(width, overflow="ellipsis")
    text.rstrip()
    return text


class LiveProgress:
    """The boards of a run redrawn in place on the terminal (rich ``Live``).

    Started by the first board, stopped by ``close``: before a question, when the report
    or the answer is printed, on Ctrl-C and at the end. The last frame stays on screen.
    While it runs, lines written to stderr appear above it.
    """

    def __init__(self, console: Console, clock: Callable[[], float] = time.time) -> None:
        """Draw on ``console``; ``clock`` gives the wall-clock time (boards carry it)."""
        self.console = console
        self.clock = clock
        self.boards: dict[str, Tracked] = {}
        self.live: Live | None = None

    def update(self, event: Progress) -> None:
        """Show the new state of a board, starting the display on the first one."""
        now = self.clock()
        tracked = self.boards.get(event.call_id)
        if tracked is None or tracked.stopped_at is not None:
            self.boards[event.call_id] = Tracked.first(event, now)
        else:
            tracked.update(event, now)
        if self.live is None:
            from rich.live import Live

            self.live = Live(
                get_renderable=self.render,
                console=self.console,
                refresh_per_second=REFRESH_PER_SECOND,
                redirect_stdout=False,  # the answer and the report are not the board's
                redirect_stderr=True,  # other progress lines go above the board
            )
            self.live.start()
        self.live.refresh()

    def render(self) -> RenderableType:
        """Every board open now (called by rich's refresh thread too)."""
        from rich.console import Group

        now = self.clock()
        return Group(*(render_board(tracked, now) for tracked in list(self.boards.values())))

    def covers(self, call_id: str) -> bool:
        """Whether ``call_id``'s board is being drawn."""
        return self.live is not None and call_id in self.boards

    def close(self) -> None:
        """Draw the last frame (clocks frozen, open items stopped) and stop; idempotent."""
        live, self.live = self.live, None
        if live is None:
            return
        now = self.clock()
        for tracked in self.boards.values():
            if tracked.stopped_at is None:
                tracked.stopped_at = now
        try:
            live.refresh()
        finally:
            live.stop()
        self.boards.clear()


def progress_view(say: Callable[[str], None]) -> ProgressView:
    """A live display when stderr is a terminal able to redraw, else plain lines."""
    import sys

    if not sys.stderr.isatty():
        return PlainProgress(say)
    from rich.console import Console

    console = Console(file=sys.stderr)
    if not console.is_terminal or console.is_dumb_terminal:
        return PlainProgress(say)
    return LiveProgress(console)
