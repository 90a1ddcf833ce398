"""A scripted model that plays every role of the assistant, for tests and benchmarks.

It answers by looking at the request the way the real model would be asked: the structured
output schema (Plan, Introduction, Critique), the supervisor's tools, or which of the
project's prompt templates the request was made from (their fixed openings are read from
``assistant.prompts``, so rewording a prompt does not break the tests).
Each behaviour can be tweaked by the tests through attributes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

from assistant import prompts
from fakes.openai_server import ChatRequest, Json, Reply, Text, ToolCalls


def _opening(template: str) -> str:
    """The fixed text a prompt template starts with (up to its first placeholder)."""
    return template.split("{", 1)[0]


WORKER_PROMPT = _opening(prompts.WORKER)
SUMMARY_PROMPT = _opening(prompts.SUMMARIZE)


@dataclass
class Brain:
    """Rule-based replies; a test changes the attributes to script a situation."""

    sections: int = 3
    invent_citation: bool = False
    invent_url: bool = False
    plan_title: str = "A Report"
    answer: str = "Here is my answer."
    seen_feedback: list[str] = field(default_factory=list)
    section_delay: dict[str, float] = field(default_factory=dict)
    """Extra seconds before answering the worker of the section with this name."""

    def __call__(self, request: ChatRequest) -> Reply:
        """Reply to one chat-completions request."""
        prompt = request.last_user
        if request.schema_name == "Plan":
            return Json(self.plan(prompt))
        if request.schema_name == "Introduction":
            return Json({"introduction": "This report covers the topic."})
        if request.schema_name == "Critique":
            return Json({"acceptable": True, "issues": []})
        if prompt.startswith(WORKER_PROMPT):
            name = re.search(r"^Section: (.*)$", prompt, flags=re.M)
            time.sleep(self.section_delay.get(name.group(1) if name else "", 0.0))
            return Text(self.section(prompt))
        if prompt.startswith(SUMMARY_PROMPT):
            return Text("Summary: the person asked several questions.")
        if request.tools:
            return self.supervise(request)
        return Text("A drafted text.")

    def plan(self, prompt: str) -> dict[str, object]:
        """A plan with ``self.sections`` sections about the prompt's topic."""
        topic = re.search(r"Topic: (.*)", prompt)
        name = topic.group(1).strip() if topic else "the topic"
        if "feedback" in prompt:
            self.seen_feedback.append(prompt)
        return {
            "title": self.plan_title,
            "sections": [
                {
                    "name": f"Part {i}",
                    "description": f"Aspect {i} of {name}.",
                    "queries": [f"{name} aspect {i}"],
                }
                for i in range(1, self.sections + 1)
            ],
        }

    def section(self, prompt: str) -> str:
        """A section citing its first two sources (and inventions when asked)."""
        count = len(re.findall(r"^\[\d+\] ", prompt, flags=re.M))
        cites = "".join(f"[{n}]" for n in range(1, min(count, 2) + 1))
        text = f"Findings drawn from the sources {cites}. More detail follows [1]."
        if self.invent_citation:
            text += f" An invented claim [{count + 5}]."
        if self.invent_url:
            text += " See https://invented.example/fake-page for more."
        return text

    def supervise(self, request: ChatRequest) -> Reply:
        """The supervisor: route by keywords, then answer from the tool result."""
        if request.has_tool_result:
            return Text(f"Done. {request.last_message.get('content', '')[:60]}")
        text = request.last_user.lower()
        if text.startswith("research"):
            return ToolCalls([("research", {"topic": request.last_user[9:].strip()})])
        if text.startswith("calculate"):
            return ToolCalls([("calculate", {"expression": request.last_user[10:].strip()})])
        if text.startswith("search"):
            return ToolCalls([("web_search", {"query": request.last_user[7:].strip()})])
        if text.startswith("write"):
            return ToolCalls([("write", {"brief": request.last_user[6:].strip()})])
        return Text(self.answer)
