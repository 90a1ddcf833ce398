"""What the chat shows for plans, tool requests, progress and the report."""

from __future__ import annotations

from assistant.ui.formatting import (
    plan_markdown,
    plural,
    progress,
    report_for_chat,
    sources_markdown,
    tool_request_markdown,
)

PLAN = {
    "topic": "tides",
    "title": "How tides work",
    "sections": [
        {"name": "The moon", "description": "Its pull.", "queries": ["moon tides", "lunar pull"]},
        {"name": "The sun", "description": "Spring and neap.", "queries": ["sun tides"]},
    ],
}


def test_the_plan_is_shown_section_by_section() -> None:
    shown = plan_markdown(PLAN)
    assert shown.startswith("### Research plan: How tides work\n")
    assert "Topic: *tides* · 2 sections, 3 web searches" in shown
    assert "1. **The moon** — Its pull.  \n   Searches: `moon tides`, `lunar pull`" in shown
    assert "2. **The sun** — Spring and neap." in shown


def test_markdown_in_plan_text_is_escaped() -> None:
    shown = plan_markdown({**PLAN, "title": "A *bold* [claim](http://x)"})
    assert "A \\*bold\\* \\[claim\\](http://x)" in shown


def test_a_tool_request_shows_its_arguments_as_json() -> None:
    shown = tool_request_markdown("calculate", {"expression": "6 * 7"})
    assert "**calculate**" in shown
    assert '```json\n{\n  "expression": "6 * 7"\n}\n```' in shown


def test_counts_read_naturally() -> None:
    assert plural(1, "section") == "1 section"
    assert plural(2, "web search") == "2 web searches"
    assert progress(3, 6) == "3 of 6 sections written"


def test_sources_become_links() -> None:
    shown = sources_markdown([{"url": "https://a.test/x", "title": "A [b]"}, {"url": ""}])
    assert shown == "- [A \\[b\\]](https://a.test/x)"


def test_the_report_sources_become_a_numbered_list_of_links() -> None:
    report = (
        "# Title\n\nText [1][2].\n\n## Sources\n\n"
        "[1] First — https://a.test/1\n[2] Second — https://b.test/2\n"
    )
    shown = report_for_chat(report)
    assert shown.startswith("# Title\n\nText [1][2].\n\n## Sources")
    assert "1. [First](https://a.test/1)\n2. [Second](https://b.test/2)" in shown
    assert report_for_chat("no sources here") == "no sources here"
