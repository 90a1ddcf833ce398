"""The chat settings panel: model, parallel workers and approvals, per conversation.

Chainlit keeps the panel's values in the session and saves them with the thread, so a
reopened conversation gets its own values back; ``run_config`` turns them into the
engine's per-run overrides (which win over the environment).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import chainlit as cl
from chainlit.input_widget import InputWidget, Slider, Switch, TextInput

from assistant.engine import RunConfig
from assistant.settings import TOOL_NAMES, Settings

MAX_PARALLEL = 16
TOOL_LABELS = {
    "research": "Ask before research (shows the plan first)",
    "web_search": "Ask before a web search",
    "calculate": "Ask before a calculation",
    "write": "Ask before writing a text",
}


def defaults(settings: Settings) -> dict[str, Any]:
    """The panel's values for a new conversation, from the environment."""
    values: dict[str, Any] = {
        "model": settings.model,
        "max_parallel": min(settings.max_parallel, MAX_PARALLEL),
    }
    values.update({f"approve_{tool}": tool in settings.approve for tool in TOOL_NAMES})
    return values


def widgets(values: Mapping[str, Any]) -> list[InputWidget]:
    """The panel, showing ``values``."""
    return [
        TextInput(
            id="model",
            label="Model",
            initial=str(values["model"]),
            description="Chat model name on the configured server.",
        ),
        Slider(
            id="max_parallel",
            label="Parallel research workers",
            initial=int(values["max_parallel"]),
            min=1,
            max=MAX_PARALLEL,
            step=1,
        ),
        *(
            Switch(id=f"approve_{tool}", label=TOOL_LABELS[tool], initial=values[f"approve_{tool}"])
            for tool in TOOL_NAMES
        ),
    ]


def merged(settings: Settings, saved: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults overlaid with a conversation's saved values (unknown keys dropped)."""
    values = defaults(settings)
    values.update({k: v for k, v in (saved or {}).items() if k in values and v is not None})
    return values


def run_config(values: Mapping[str, Any]) -> RunConfig:
    """The engine's per-run overrides for the panel's ``values``."""
    model = str(values.get("model") or "").strip() or None
    parallel = max(1, min(MAX_PARALLEL, int(values.get("max_parallel") or 1)))
    approve = [tool for tool in TOOL_NAMES if values.get(f"approve_{tool}")]
    return RunConfig(model=model, max_parallel=parallel, approve=approve)


async def show(settings: Settings, saved: Mapping[str, Any] | None) -> dict[str, Any]:
    """Send the panel (with the saved values, if any) and return the values in force."""
    values = merged(settings, saved)
    return dict(await cl.ChatSettings(widgets(values)).send())
