"""Writing with an evaluator–optimizer loop: draft, structured critique, revise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field


class Critique(BaseModel):
    """The editor's structured verdict on a draft."""

    acceptable: bool = Field(description="True only if the draft needs no changes.")
    issues: list[str] = Field(description="Concrete problems, most important first.")


@dataclass(frozen=True)
class WritingPrompts:
    """The three prompts of the loop: ``{brief}``, ``{draft}`` and ``{critique}`` are filled."""

    writer: str
    critic: str
    reviser: str


async def write(
    brief: str,
    model: BaseChatModel,
    critic: Callable[[str], Awaitable[Critique]],
    prompts: WritingPrompts,
    *,
    max_rounds: int = 2,
) -> str:
    """Draft ``brief``, then critique (``critic`` answers a prompt with a ``Critique``) and
    revise at most ``max_rounds`` times; return the final text."""
    draft = str((await model.ainvoke(prompts.writer.format(brief=brief))).content).strip()
    for _ in range(max_rounds):
        verdict = await critic(prompts.critic.format(brief=brief, draft=draft))
        if verdict.acceptable or not verdict.issues:
            break
        critique = "\n".join(f"- {issue}" for issue in verdict.issues)
        revised = await model.ainvoke(
            prompts.reviser.format(brief=brief, draft=draft, critique=critique)
        )
        draft = str(revised.content).strip() or draft
    return draft
