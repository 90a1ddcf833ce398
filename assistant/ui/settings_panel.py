"""The chat settings panel: model, parallel workers and approvals, per conversation.

Chainlit keeps the panel's values in the session and saves them with the thread, so a
reopened conversation gets its own values back; ``choices`` turns them into the person's
``Choices``, which the engine validates and clamps (``RunContext.build``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import chainlit as cl
from chainlit.input_widget import InputWidget, Select, Slider, Switch

from assistant.context import Choices
from assistant.settings import MAX_PARALLEL, Settings


def approval_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """ "Ask before Research" for each tool."""
    return {name: f"Ask before {label.lower()}" for name, label in labels.items()}


def defaults(settings: Settings, tools: Sequence[str]) -> dict[str, Any]:
    """The panel's values for a new conversation, from the environment."""
    values: dict[str, Any] = {"model": settings.model, "max_parallel": settings.max_parallel}
    values.update({f"approve_{tool}": tool in settings.approve for tool in tools})
    return values


def widgets(
    values: Mapping[str, Any], models: Sequence[str], labels: Mapping[str, str]
) -> list[InputWidget]:
    """The panel, showing ``values``."""
    return [
        Select(
            id="model",
            label="Model",
            values=list(models),
            initial_value=str(values["model"]) if values["model"] in models else models[0],
            description="The models the operator made available (ASSISTANT_MODELS).",
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
            Switch(id=f"approve_{tool}", label=text, initial=bool(values[f"approve_{tool}"]))
            for tool, text in approval_labels(labels).items()
        ),
    ]


def merged(
    settings: Settings, tools: Sequence[str], saved: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The defaults overlaid with a conversation's saved values (unknown keys dropped)."""
    values = defaults(settings, tools)
    values.update({k: v for k, v in (saved or {}).items() if k in values and v is not None})
    return values


def choices(values: Mapping[str, Any]) -> Choices:
    """The person's choices for the panel's ``values`` (validated by the engine)."""
    try:
        parallel = int(values.get("max_parallel") or 0) or None
    except (TypeError, ValueError):
        parallel = None
    approve = [k[len("approve_") :] for k, v in values.items() if k.startswith("approve_") and v]
    return Choices.of(model=str(values.get("model") or ""), max_parallel=parallel, approve=approve)


async def show(
    settings: Settings, labels: Mapping[str, str], saved: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Send the panel (with the saved values, if any) and return the values in force."""
    values = merged(settings, list(labels), saved)
    return dict(await cl.ChatSettings(widgets(values, settings.allowed_models, labels)).send())
