"""Writing with an evaluator–optimizer loop: draft, structured critique, revise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel, Field

from assistant import prompts


class Critique(BaseModel):
    """The editor's structured verdict on a draft."""

    acceptable: bool = Field(description="True only if the draft needs no changes.")
    issues: list[str] = Field(description="Concrete problems, most important first.")


@dataclass
class WritingResult:
    """The final text and how it got there."""

    text: str
    rounds: int
    critiques: list[Critique] = field(default_factory=list)


async def write(
    brief: str,
    model: BaseChatModel,
    critic: Callable[[str], Awaitable[Critique]],
    *,
    max_rounds: int = 2,
) -> WritingResult:
    """Draft ``brief``, then critique (``critic`` answers a prompt with a ``Critique``) and
    revise at most ``max_rounds`` times."""
    draft = str((await model.ainvoke(prompts.WRITER.format(brief=brief))).content).strip()
    critiques: list[Critique] = []
    for _ in range(max_rounds):
        verdict = await critic(prompts.CRITIC.format(brief=brief, draft=draft))
        critiques.append(verdict)
        if verdict.acceptable or not verdict.issues:
            break
        critique = "\n".join(f"- {issue}" for issue in verdict.issues)
        revised = await model.ainvoke(
            prompts.REVISER.format(brief=brief, draft=draft, critique=critique)
        )
        draft = str(revised.content).strip() or draft
    return WritingResult(text=draft, rounds=len(critiques), critiques=critiques)
