"""Typed shapes of the research workflow: the plan, a section's result, the run state."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, TypedDict

from pydantic import BaseModel, Field, field_validator

MIN_SECTIONS = 3
MAX_SECTIONS = 8
MAX_EDITED_SECTIONS = 12


class SectionPlan(BaseModel):
    """One section of the plan."""

    name: str = Field(description="Short section heading.")
    description: str = Field(description="One sentence: what the section must cover.")
    queries: list[str] = Field(description="One to three web search queries.")

    @field_validator("name", "description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be empty")
        return value

    @field_validator("queries")
    @classmethod
    def _clean_queries(cls, value: list[str]) -> list[str]:
        queries = [" ".join(q.split()) for q in value if q.strip()]
        if not queries:
            raise ValueError("needs at least one search query")
        return queries[:3]


class Plan(BaseModel):
    """The planner's structured output."""

    title: str = Field(description="Title of the report.")
    sections: list[SectionPlan] = Field(description="Three to eight sections, in order.")


class EditedPlan(BaseModel):
    """Arguments a person may send back when editing the plan."""

    topic: str
    title: str | None = None
    sections: list[SectionPlan] = Field(min_length=1, max_length=MAX_EDITED_SECTIONS)


class ReportFrame(BaseModel):
    """The synthesiser's structured output: what frames the verified sections."""

    title: str = Field(description="Title of the report.")
    introduction: str = Field(description="One paragraph introducing the report.")


class Source(TypedDict):
    """A search result a section cited."""

    url: str
    title: str


class SectionResult(TypedDict):
    """What one worker produced, persisted the moment it finished."""

    index: int
    name: str
    status: Literal["ok", "failed"]
    text: str
    sources: list[Source]
    error: str | None
    removed: list[str]


class WorkerTask(TypedDict):
    """The payload ``Send`` gives each worker."""

    run_id: str
    topic: str
    index: int
    total: int
    section: dict[str, Any]


class ResearchState(TypedDict, total=False):
    """The research subgraph's state (checkpointed)."""

    topic: str
    run_id: str
    needs_review: bool
    feedback: list[str]
    plan: dict[str, Any]
    status: Literal["planned", "approved", "rejected", "done"]
    reject_reason: str | None
    sections: Annotated[list[SectionResult], operator.add]
    report: str
    report_path: str
