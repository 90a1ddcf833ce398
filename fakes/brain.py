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
UNSUPPORTED = "The Moon is made of green cheese"
"""The claim ``Brain.unsupported_claim`` adds: no source ever says it."""
SUMMARY_PROMPT = _opening(prompts.SUMMARIZE)


@dataclass
class Brain:
    """Rule-based replies; a test changes the attributes to script a situation."""

    sections: int = 3
    unsupported_claim: bool = False
    """Each section also states something none of its sources says (``UNSUPPORTED``)."""
    invent_citation: bool = False
    invent_url: bool = False
    plan_title: str = "A Report"
    answer: str = "Here is my answer."
    seen_feedback: list[str] = field(default_factory=list)
    section_delay: dict[str, float] = field(default_factory=dict)
    """Extra seconds before answering the worker of the section with this name."""
    section_repeat: int = 1
    """Each section says its sentences this many times, in as many paragraphs (a long
    report)."""

    def __call__(self, request: ChatRequest) -> Reply:
        """Reply to one chat-completions request."""
        prompt = request.last_user
        if request.schema_name == "Plan":
            return Json(self.plan(prompt))
        if request.schema_name == "Introduction":
            return Json({"introduction": "This report covers the topic."})
        if request.schema_name == "SectionVerdicts":
            return Json(self.verdicts(prompt))
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
        """A section restating the first sentences of its first two sources, each citing the
        source it came from (plus an unsupported claim, inventions, when asked)."""
        sources = _sources(prompt.split("\nSources:\n", 1)[-1])
        claims = []
        for number in sorted(sources)[:2]:
            for sentence in _sentences(sources[number])[: 2 if number == 1 else 1]:
                claims.append(f"{sentence.rstrip('.!?')} [{number}].")
        if self.unsupported_claim and sources:
            claims.append(f"{UNSUPPORTED} [{min(sources)}].")
        text = " ".join(claims) or "Nothing could be found."
        text = "\n\n".join([text] * self.section_repeat)
        count = len(sources)
        if self.invent_citation:
            text += f" An invented claim [{count + 5}]."
        if self.invent_url:
            text += " See https://invented.example/fake-page for more."
        return text

    def verdicts(self, prompt: str) -> dict[str, object]:
        """The verifier: a claim is supported by a source that contains five of its words in
        a row, quoted from the source exactly."""
        claims_text, _, sources_text = prompt.partition("\nSources:\n")
        sources = {
            int(found.group(1)): found.group(2)
            for found in re.finditer(
                r"^Source \[(\d+)\]:\n(.*?)(?=^Source \[\d+\]:|\Z)", sources_text, re.M | re.S
            )
        }
        verdicts = []
        for found in re.finditer(r"^Claim (\d+) \(cites ([^)]*)\): (.*)$", claims_text, re.M):
            claim = re.sub(r"\[\d+\]", "", found.group(3))
            for number in map(int, re.findall(r"\d+", found.group(2))):
                quote = _shared_run(claim, sources.get(number, ""), 5)
                verdicts.append(
                    {
                        "claim": int(found.group(1)),
                        "source": number,
                        "supported": bool(quote),
                        "quote": quote,
                        "reason": "" if quote else f"source [{number}] does not say this",
                    }
                )
        return {"verdicts": verdicts}

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
        if text.startswith("remember") and "remember" in request.tool_names:
            fact = request.last_user[8:].strip(" :,")
            return ToolCalls([("remember", {"fact": fact.removeprefix("that ")})])
        if text.startswith("use "):  # "use TOOL {json arguments}": any tool, e.g. an MCP one
            name, _, args = request.last_user[4:].strip().partition(" ")
            return ToolCalls([(name, args.strip() or "{}")])
        return Text(self.answer)


def _sources(text: str) -> dict[int, str]:
    """A worker prompt's numbered sources: number -> excerpt text (header lines dropped)."""
    found: dict[int, str] = {}
    for block in re.finditer(r"^\[(\d+)\] [^\n]*\n(.*?)(?=^\[\d+\] |\Z)", text, re.M | re.S):
        lines = [
            line
            for line in block.group(2).splitlines()
            if not line.startswith(("URL: ", "(", "#")) and line.strip() not in ("", "[…]")
        ]
        found[int(block.group(1))] = "\n".join(lines)
    return found


def _sentences(text: str) -> list[str]:
    """Whole sentences (ending in . ! or ?) of three words or more; a line is never joined to
    the next (a page's title line is not a sentence)."""
    pieces = (p.strip() for line in text.splitlines() for p in re.split(r"(?<=[.!?])\s+", line))
    return [p for p in pieces if len(p.split()) >= 3 and p.endswith((".", "!", "?"))]


def _shared_run(claim: str, source: str, least: int) -> str:
    """The longest run of at least ``least`` words of ``claim`` found in ``source``, as the
    source writes it; "" if none."""

    def fold(word: str) -> str:
        return re.sub(r"\W", "", word.casefold())

    wanted = [fold(w) for w in claim.split()]
    spans = [(m.start(), m.end(), fold(m.group())) for m in re.finditer(r"\S+", source)]
    best = (0, 0, 0)  # length, first span, last span
    for i in range(len(spans)):
        for j in range(len(wanted)):
            length = 0
            while (
                i + length < len(spans)
                and j + length < len(wanted)
                and spans[i + length][2] == wanted[j + length]
            ):
                length += 1
            if length > best[0]:
                best = (length, i, i + length - 1)
    if best[0] < least:
        return ""
    return source[spans[best[1]][0] : spans[best[2]][1]]
