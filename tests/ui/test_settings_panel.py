"""The chat settings panel's values become the engine's per-run overrides."""

from __future__ import annotations

from assistant.settings import load_settings
from assistant.ui.settings_panel import defaults, merged, run_config


def test_new_conversations_start_from_the_environment() -> None:
    settings = load_settings(model="m1", max_parallel=6, approve="research,write")
    values = defaults(settings)
    assert values["model"] == "m1"
    assert values["max_parallel"] == 6
    assert values["approve_research"] and values["approve_write"]
    assert not values["approve_calculate"]


def test_saved_values_win_and_unknown_keys_are_dropped() -> None:
    values = merged(load_settings(), {"model": "m2", "approve_research": False, "junk": 1})
    assert values["model"] == "m2"
    assert values["approve_research"] is False
    assert "junk" not in values


def test_run_config_carries_model_workers_and_approvals() -> None:
    values = merged(load_settings(), {"model": " m3 ", "max_parallel": 40.0})
    values |= {"approve_research": False, "approve_calculate": True}
    options = run_config(values)
    assert options.model == "m3"
    assert options.max_parallel == 16
    assert list(options.approve or []) == ["calculate"]
    assert run_config({**values, "model": "  "}).model is None
