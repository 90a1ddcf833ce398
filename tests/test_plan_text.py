"""The research plan as editable text: rendering, parsing, and clear errors."""

from __future__ import annotations

import pytest

from assistant.research.plan_text import plan_from_text, plan_to_text

PLAN = {
    "title": "Solar Power in 2025",
    "sections": [
        {
            "name": "Costs",
            "description": "What a panel costs and how that changed.",
            "queries": ["solar panel price 2025", "solar cost trend"],
        },
        {
            "name": "Grid Integration",
            "description": "How grids cope with solar peaks.",
            "queries": ["solar grid integration"],
        },
        {
            "name": "Outlook",
            "description": "Where the industry is heading.",
            "queries": ["solar outlook", "solar forecast", "solar growth"],
        },
    ],
}


def test_plan_survives_a_round_trip_through_text() -> None:
    assert plan_from_text(plan_to_text(PLAN)) == PLAN


def test_plan_text_is_readable() -> None:
    text = plan_to_text(PLAN)

    assert text.startswith("Title: Solar Power in 2025\n")
    assert "## Costs\nWhat a panel costs and how that changed.\n- solar panel price 2025\n" in text


def test_edited_text_is_parsed() -> None:
    text = """Title: My Report

## Background
Where it all began.
- solar history

## Today
What it looks like now,
over two lines.
* solar today
"""

    plan = plan_from_text(text)

    assert plan == {
        "title": "My Report",
        "sections": [
            {
                "name": "Background",
                "description": "Where it all began.",
                "queries": ["solar history"],
            },
            {
                "name": "Today",
                "description": "What it looks like now, over two lines.",
                "queries": ["solar today"],
            },
        ],
    }


def test_missing_queries_default_to_the_section_name() -> None:
    plan = plan_from_text("Title: T\n## Storage Options\nBatteries and more.\n")

    assert plan["sections"][0]["queries"] == ["Storage Options"]


def test_missing_description_defaults_to_the_section_name() -> None:
    plan = plan_from_text("Title: T\n## Storage Options\n- battery storage\n")

    assert plan["sections"][0]["description"] == "Storage Options"
    assert plan["sections"][0]["queries"] == ["battery storage"]


def test_missing_title_keeps_the_plans_title() -> None:
    assert plan_from_text("## Only Section\n", "Old title")["title"] == "Old title"


def test_missing_title_without_a_default_is_explained() -> None:
    with pytest.raises(ValueError, match="Title:"):
        plan_from_text("## Only Section\n")


def test_text_before_the_first_heading_is_refused() -> None:
    with pytest.raises(ValueError, match="before the first"):
        plan_from_text("Some stray text\n## Costs\nWhat it costs.\n- solar cost\n")


@pytest.mark.parametrize("text", ["", "Title: Nothing Here\n", "\n\n"])
def test_zero_sections_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="at least one '## Section name' line"):
        plan_from_text(text, "T")


def test_errors_read_as_sentences_not_pydantic_dumps() -> None:
    with pytest.raises(ValueError) as caught:
        plan_from_text("Title: T\n## " + "x" * 300 + "\n")
    assert "pydantic" not in str(caught.value) and "\n" not in str(caught.value)


def test_section_without_a_name_is_refused() -> None:
    with pytest.raises(ValueError):
        plan_from_text("Title: T\n## \nA description.\n- a query\n")
