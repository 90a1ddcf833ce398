"""The chat settings panel's values become the person's choices."""

from __future__ import annotations

from assistant.settings import load_settings
from assistant.ui.settings_panel import choices, defaults, merged, widgets

TOOLS = ["research", "web_search", "calculate", "write"]


def test_new_conversations_start_from_the_environment() -> None:
    settings = load_settings(model="m1", max_parallel=6, approve="research,write")
    values = defaults(settings, TOOLS)
    assert values["model"] == "m1"
    assert values["max_parallel"] == 6
    assert values["approve_research"] and values["approve_write"]
    assert not values["approve_calculate"]


def test_saved_values_win_and_unknown_keys_are_dropped() -> None:
    values = merged(load_settings(), TOOLS, {"model": "m2", "approve_research": False, "junk": 1})
    assert values["model"] == "m2"
    assert values["approve_research"] is False
    assert "junk" not in values


def test_choices_carry_model_workers_and_approvals() -> None:
    values = merged(load_settings(), TOOLS, {"model": " m3 ", "max_parallel": 40.0})
    values |= {"approve_research": False, "approve_calculate": True}
    chosen = choices(values)
    assert chosen.model == "m3"
    assert chosen.max_parallel == 40  # clamped by the engine, in one place
    assert chosen.approve == frozenset({"calculate"})
    assert choices({**values, "model": "  "}).model is None


def test_the_model_is_picked_from_the_operators_list() -> None:
    settings = load_settings(model="small", models="small,big")
    panel = widgets(defaults(settings, TOOLS), settings.allowed_models, dict.fromkeys(TOOLS, "X"))
    model = panel[0]
    assert model.to_dict()["items"] == [
        {"label": "small", "value": "small"},
        {"label": "big", "value": "big"},
    ]
