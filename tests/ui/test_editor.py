"""The arguments form's server side: which schemas it draws, what it sends, what is shown
after an edit. Pure functions, no server."""

from __future__ import annotations

from typing import Any

import chainlit as cl
import pytest

from assistant.approvals import approval_request
from assistant.research.schemas import EditedPlan
from assistant.ui.editor import editable, form_schema, parse
from assistant.ui.formatting import args_markdown


def test_a_pydantic_schema_with_references_becomes_plain_fields() -> None:
    schema = form_schema(EditedPlan.model_json_schema())
    assert schema is not None
    assert "$ref" not in str(schema) and "$defs" not in schema
    title, sections = schema["properties"]["title"], schema["properties"]["sections"]
    assert title == {
        "type": "string",
        "title": "Title",
        "description": "The report's title.",
        "maxLength": 300,
        "minLength": 1,
    }
    assert (sections["minItems"], sections["maxItems"]) == (1, 12)
    section = sections["items"]
    assert section["type"] == "object"
    assert section["required"] == ["name", "description", "queries"]
    assert section["properties"]["queries"] == {
        "type": "array",
        "title": "Queries",
        "description": "One to three web search queries.",
        "items": {"type": "string"},
    }


def test_an_mcp_style_schema_gets_fields_for_what_it_can_draw_and_json_for_the_rest() -> None:
    schema = form_schema(
        {
            "type": "object",
            "properties": {
                "timezone": {"type": "string", "description": "IANA name"},
                "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
                "mode": {"enum": ["fast", "slow"]},
                "either": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                "options": {"type": "object", "additionalProperties": True},
                "pairs": {"type": "array", "items": {"type": "array"}},
            },
            "required": ["timezone", "missing"],
        }
    )
    assert schema is not None
    fields = schema["properties"]
    assert fields["timezone"] == {"type": "string", "description": "IANA name"}
    assert fields["limit"] == {"type": "integer"}  # optional: not required
    assert fields["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert fields["either"]["type"] == "json"
    assert fields["options"]["type"] == "json"
    assert fields["pairs"]["type"] == "json"
    assert schema["required"] == ["timezone"]


@pytest.mark.parametrize(
    "schema",
    [None, {}, {"type": "string"}, {"type": "object", "properties": {}}, {"$ref": "#/$defs/X"}],
)
def test_no_form_without_fields(schema: Any) -> None:
    assert form_schema(schema) is None


def test_the_text_path_stays_for_requests_the_form_cannot_edit() -> None:
    plan = EditedPlan.model_json_schema()
    assert editable(approval_request("research", {}, "", args_schema=plan))
    assert not editable(approval_request("tool", {}, "", args_schema=None))
    assert not editable(
        approval_request("research", {}, "", args_schema=plan, allowed=["approve", "reject"])
    )


def test_save_and_cancel_payloads_are_checked() -> None:
    def action(payload: Any) -> cl.Action:
        return cl.Action(name="approval_edit", payload=payload)

    assert parse(action({"interrupt_id": "i", "args": {"a": 1}})) == ("i", {"a": 1})
    assert parse(action({"interrupt_id": "i", "cancel": True})) == ("i", None)
    for wrong in ({"args": {}}, {"interrupt_id": "i", "args": ["x"]}, {"interrupt_id": 3}):
        with pytest.raises(ValueError):
            parse(action(wrong))


def test_what_was_approved_is_shown_in_a_persons_words() -> None:
    schema = form_schema(EditedPlan.model_json_schema())
    shown = args_markdown(
        {
            "title": "Tides *edited*",
            "sections": [
                {"name": "Moon", "description": "Its pull.", "queries": ["moon tides", "lunar"]}
            ],
        },
        schema,
    )
    assert shown.splitlines() == [
        "**Title:** Tides \\*edited\\*  ",
        "**Sections:**",
        "1. **Moon** — Its pull. · Queries: `moon tides`, `lunar`",
    ]
    assert args_markdown({"expression": "6 * 8"}) == "**Expression:** 6 \\* 8"
