"""Per-run options: what a conversation may override (chat settings panel, CLI flags).

They travel in ``config["configurable"]`` and fall back to the settings, so per-run options
win over the environment, which wins over the defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig

from assistant.settings import TOOL_NAMES, Settings


@dataclass(frozen=True)
class RunOptions:
    """The options one run uses."""

    model: str
    max_parallel: int
    approve: frozenset[str]

    @classmethod
    def from_config(cls, config: RunnableConfig | None, settings: Settings) -> RunOptions:
        """Read overrides from ``config["configurable"]`` on top of ``settings``."""
        conf: dict[str, Any] = dict((config or {}).get("configurable") or {})
        approve = conf.get("approve")
        return cls(
            model=str(conf.get("model") or settings.model),
            max_parallel=max(1, min(32, int(conf.get("max_parallel") or settings.max_parallel))),
            approve=settings.approve if approve is None else _tool_set(approve),
        )


def _tool_set(names: Iterable[str]) -> frozenset[str]:
    return frozenset(name for name in names if name in TOOL_NAMES)


def configurable(
    thread_id: str,
    *,
    model: str | None = None,
    max_parallel: int | None = None,
    approve: Iterable[str] | None = None,
) -> RunnableConfig:
    """A run config for ``thread_id`` carrying only the overrides that were given."""
    conf: dict[str, Any] = {"thread_id": thread_id}
    if model:
        conf["model"] = model
    if max_parallel:
        conf["max_parallel"] = max_parallel
    if approve is not None:
        conf["approve"] = sorted(approve)
    return {"configurable": conf, "recursion_limit": 100}
