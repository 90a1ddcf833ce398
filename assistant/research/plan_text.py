"""A research plan as plain text a person can edit (terminal editor or chat box).

Title: The report's title

## Section name
What the section must cover.
- a search query
- another search query
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from assistant.research.schemas import MAX_EDITED_SECTIONS, EditedPlan


def plan_to_text(plan: dict[str, Any]) -> str:
    """Render ``plan`` (title and sections) in the editable format."""
    lines = [f"Title: {plan.get('title') or ''}", ""]
    for section in plan["sections"]:
        lines.append(f"## {section['name']}")
        lines.append(section["description"])
        lines.extend(f"- {query}" for query in section["queries"])
        lines.append("")
    return "\n".join(lines)


def plan_from_text(text: str, default_title: str | None = None) -> dict[str, Any]:
    """Parse the editable format; raise ``ValueError`` with a clear reason if it is wrong.

    Without a ``Title:`` line the plan keeps ``default_title``.
    """
    title: str | None = None
    sections: list[dict[str, Any]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.lower().startswith("title:") and not sections:
            title = line[6:].strip() or None
        elif line.startswith("#"):
            sections.append({"name": line.lstrip("#").strip(), "description": "", "queries": []})
        elif not sections:
            raise ValueError(f"text before the first '## Section' heading: {line!r}")
        elif line.startswith(("- ", "* ")):
            sections[-1]["queries"].append(line[2:].strip())
        else:
            current = sections[-1]
            current["description"] = f"{current['description']} {line}".strip()
    title = title or default_title
    if not title:
        raise ValueError("the plan needs a 'Title: ...' line first")
    if not sections:
        raise ValueError("the plan needs at least one '## Section name' line")
    if len(sections) > MAX_EDITED_SECTIONS:
        raise ValueError(f"the plan has {len(sections)} sections; at most {MAX_EDITED_SECTIONS}")
    for section in sections:
        if not section["name"]:
            raise ValueError("a '##' line has no section name after it")
        if not section["description"]:
            section["description"] = section["name"]
        if not section["queries"]:
            section["queries"] = [section["name"]]
    try:
        edited = EditedPlan.model_validate({"title": title, "sections": sections})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = " ".join(str(part) for part in first["loc"])
        raise ValueError(f"{where}: {first['msg']}") from None
    return {"title": edited.title, "sections": [s.model_dump() for s in edited.sections]}
