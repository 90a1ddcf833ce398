"""The research progress at the terminal: the live board as rich draws it, and plain lines."""

from __future__ import annotations

import re
from io import StringIO

from rich.console import Console

from assistant.events import Progress, ProgressItem, State
from assistant.terminal import LiveProgress, PlainProgress, Tracked, render_board

START = 1_000.0
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def board(*states: tuple[State, str], note: str = "", started: float = START) -> Progress:
    items = tuple(
        ProgressItem(f"Part {i}", state, item_note)
        for i, (state, item_note) in enumerate(states, 1)
    )
    return Progress("call-1", "Researching: Tides", items, started, note)


def console() -> tuple[Console, StringIO]:
    out = StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def drawn(renderable: object) -> list[str]:
    """What a 100-column terminal shows, without colours, right-trimmed."""
    screen, out = console()
    screen.print(renderable)
    return [ANSI.sub("", line).rstrip() for line in out.getvalue().splitlines()]


def row(lines: list[str], label: str) -> list[str]:
    """The cells of the row naming ``label``."""
    found = [line for line in lines if f" {label} " in f"{line} "]
    assert len(found) == 1, lines
    return found[0].split()


def test_the_board_shows_each_section_its_state_time_and_note() -> None:
    tracked = Tracked.first(
        board((State.WAITING, ""), (State.WAITING, ""), (State.WAITING, "")), START
    )
    tracked.update(board((State.SEARCHING, ""), (State.WAITING, ""), (State.WAITING, "")), 1_001)
    tracked.update(board((State.READING, ""), (State.SEARCHING, ""), (State.WAITING, "")), 1_002)
    done = board((State.DONE, "3 sources"), (State.READING, ""), (State.WAITING, ""))
    tracked.update(done, 1_005)

    lines = drawn(render_board(tracked, now=1_012.4))

    assert lines[0] == "Researching: Tides · 1 of 3 done · 0:12"
    assert row(lines, "Part 1") == ["1.", "✓", "Part", "1", "done", "0:04", "3", "sources"]
    second = row(lines, "Part 2")
    assert second[0] == "2." and second[1] in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"  # it spins
    assert second[4:] == ["reading", "pages", "0:10"]  # running since 1_002, still going
    assert row(lines, "Part 3") == ["3.", "·", "Part", "3", "waiting"]


def test_every_state_has_the_browsers_word() -> None:
    from assistant.presentation import WORDS

    states = [State.KEPT, State.FAILED, State.WRITING, State.CHECKING, State.SEARCHING]
    tracked = Tracked.first(board(*[(state, "") for state in states]), START)
    lines = "\n".join(drawn(render_board(tracked, now=START)))
    for state in states:
        assert WORDS[state] in lines
    assert "kept from before" in lines and "checking claims" in lines


def test_a_failed_section_says_why_and_the_board_its_note() -> None:
    failed = board((State.FAILED, "search failed: timed out"), (State.DONE, "2 sources"))
    tracked = Tracked.first(board((State.SEARCHING, ""), (State.SEARCHING, "")), START)
    tracked.update(failed, START + 3)
    tracked.update(
        board(*[(i.state, i.note) for i in failed.items], note="Writing the report…"), START + 3
    )
    lines = drawn(render_board(tracked, now=START + 5))
    assert row(lines, "Part 1")[1:] == [
        "✗", "Part", "1", "failed", "0:03", "search", "failed:", "timed", "out",
    ]  # fmt: skip
    assert lines[0].startswith("Researching: Tides · 2 of 2 done")
    assert lines[-1] == "Writing the report…"


def test_a_stopped_board_freezes_its_clock_and_stops_open_sections() -> None:
    tracked = Tracked.first(
        board((State.DONE, "1 source"), (State.READING, ""), (State.WAITING, "")), 0
    )
    tracked.started_at = START
    tracked.stopped_at = START + 7
    lines = drawn(render_board(tracked, now=START + 60))
    assert lines[0].endswith("1 of 3 done · 0:07")
    assert row(lines, "Part 1")[1:5] == ["✓", "Part", "1", "done"]
    assert row(lines, "Part 2")[1:5] == ["■", "Part", "2", "stopped"]
    assert row(lines, "Part 3")[1:5] == ["■", "Part", "3", "stopped"]


def test_a_final_board_does_not_restart_the_clock() -> None:
    tracked = Tracked.first(board((State.SEARCHING, "")), START)
    tracked.update(board((State.DONE, "2 sources"), started=START + 30), START + 30)
    assert drawn(render_board(tracked, now=START + 31))[0].endswith("· 0:31")


def test_long_labels_and_notes_stay_on_one_line() -> None:
    long = Progress(
        "c", "Researching: " + "x" * 150, (ProgressItem("y" * 150, State.DONE, "z" * 150),), START
    )
    lines = drawn(render_board(Tracked.first(long, START), now=START))
    assert all(len(line) <= 100 for line in lines)
    assert len(lines) == 2
    assert lines[0].endswith("x… · 1 of 1 done · 0:00")  # the title gives way, not the counts
    assert lines[1].startswith("1. ✓ yyy") and "y… done " in lines[1] and lines[1].endswith("z…")


def test_the_live_display_draws_in_place_and_its_last_frame_stays() -> None:
    clock = iter([START + n for n in range(100)])
    screen, out = console()
    live = LiveProgress(screen, clock=lambda: next(clock))
    live.update(board((State.SEARCHING, ""), (State.WAITING, "")))
    assert live.covers("call-1") and not live.covers("other")
    live.update(board((State.DONE, "2 sources"), (State.READING, "")))
    live.close()
    live.close()  # idempotent: every exit path closes it
    assert not live.covers("call-1")
    shown = out.getvalue()
    assert "\x1b[1A" in shown or "\x1b[2K" in shown  # redrawn in place, not appended
    last = [
        ANSI.sub("", line).rstrip() for line in shown.split("Researching: Tides")[-1].splitlines()
    ]
    assert last[0].startswith(" · 1 of 2 done")
    assert "stopped" in last[2] and "done" in last[1]
    assert shown.endswith("\x1b[?25h") or "\x1b[?25h" in shown  # the cursor is shown again


def test_plain_lines_when_not_on_a_terminal() -> None:
    said: list[str] = []
    plain = PlainProgress(said.append)
    plain.update(board((State.SEARCHING, ""), (State.KEPT, "kept from before")))
    plain.update(board((State.READING, ""), (State.KEPT, "kept from before")))
    plain.update(board((State.DONE, "3 sources"), (State.KEPT, "kept from before")))
    plain.close()
    assert said == [
        "started 1/2: Part 1",
        "kept from before 2/2: Part 2",
        "2 of 2 done: Part 1 — done (3 sources)",
    ]
    assert not plain.covers("call-1")
