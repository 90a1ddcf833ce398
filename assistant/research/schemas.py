"""Typed shapes of the research workflow: the plan, a section's result, the run state."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal, NotRequired, TypedDict

from pydantic import BaseModel, Field, field_validator

MIN_SECTIONS = 3
MAX_SECTIONS = 8
MAX_EDITED_SECTIONS = 12
MAX_QUERIES = 3


class SectionPlan(BaseModel):
    """One section of the plan."""

    name: str = Field(description="Short section heading.", max_length=200)
    description: str = Field(
        description="One sentence: what the section must cover.", max_length=2000
    )
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
        queries = [" ".join(q.split())[:300] for q in value if q.strip()]
        if not queries:
            raise ValueError("needs at least one search query")
        return queries[:MAX_QUERIES]


class Plan(BaseModel):
    """The planner's structured output, and the plan a person approves."""

    title: str = Field(description="Title of the report.", max_length=300)
    sections: list[SectionPlan] = Field(description="Three to eight sections, in order.")


class EditedPlan(BaseModel):
    """The plan as a person may send it back when editing (the approval's arguments)."""

    title: str = Field(min_length=1, max_length=300, description="The report's title.")
    sections: list[SectionPlan] = Field(min_length=1, max_length=MAX_EDITED_SECTIONS)

    @field_validator("title")
    @classmethod
    def _one_line(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be empty")
        return value


class Introduction(BaseModel):
    """The synthesiser's structured output: the paragraph that opens the report."""

    introduction: str = Field(description="One paragraph introducing the report.")


class Source(TypedDict):
    """A web page (``url``) or a page of the person's document (``url`` empty; ``title`` is
    "file name, page p") that a section was written from."""

    url: str
    title: str


def source_key(source: Source) -> str:
    """What makes two sources the same one: the URL, else the document's name and page."""
    return source["url"].rstrip("/") or "file:" + source["title"]


class SectionResult(TypedDict):
    """What one worker produced, persisted the moment it finished."""

    index: int
    name: str
    status: Literal["ok", "failed"]
    text: str
    sources: list[Source]
    error: str | None
    removed: list[str]
    kept: NotRequired[bool]
    """Restored from before a stop or a crash (not written again in this run)."""
    attempt: NotRequired[float]
    """When the run that wrote it started: older than the last attempt means kept."""
    read: NotRequired[int]
    """Web pages read in full."""
    fallbacks: NotRequired[list[str]]
    """Pages that could not be read ("Title: why"); their search snippet was used."""
    via: NotRequired[list[str]]
    """The search providers that answered."""
    documents: NotRequired[int]
    """The person's documents among the section's sources."""
    verification: NotRequired[dict[str, Any]]
    """How its cited claims fared against their sources (``verify.Verified.record``)."""


class WorkerTask(TypedDict):
    """The payload ``Send`` gives each worker."""

    run_id: str
    call_id: str
    thread_id: str
    topic: str
    index: int
    total: int
    section: SectionPlan
    names: list[str]
    """Every section's name, for the progress board."""
    title: str
    """The report's title."""
    web: NotRequired[bool]
    """Search the web (False: the person's documents only)."""


class ResearchState(TypedDict, total=False):
    """The research graph's state (checkpointed)."""

    topic: str
    run_id: str
    call_id: str
    thread_id: str
    needs_review: bool
    web: bool
    feedback: list[str]
    plan: Plan
    revision: int
    status: Literal["planned", "approved", "rejected", "done"]
    reject_reason: str | None
    sections: Annotated[list[SectionResult], operator.add]
    report: str
    report_file: str


CHECKPOINTED = (Plan, SectionPlan)
"""This workflow's types kept in checkpoints (the serializer revives only listed types)."""
