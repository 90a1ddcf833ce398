"""An in-process chat model for unit tests, answering by the request's structure.

It never reads the prompt's wording: a forced tool (structured output by function calling,
or ``with_structured_output``) is answered with the shape registered for that schema; a
request with tools bound is answered by ``on_tools`` (default: no tool call); anything
else gets ``text``. Every request is recorded. For end-to-end tests over HTTP use the
scripted OpenAI server instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

ToolRule = Callable[[list[BaseMessage], list[str]], AIMessage]


class StructuredFake(BaseChatModel):
    """Answers: forced schema -> ``shapes[name]``; tools bound -> ``on_tools``; else ``text``."""

    text: str = "A plain answer [1]."
    shapes: dict[str, Any] = Field(default_factory=dict)
    """Schema name -> the arguments (a dict, or a callable making them) to answer with."""
    on_tools: ToolRule | None = None
    fail: Exception | None = None
    requests: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "structured-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Bind tools the way chat models do (OpenAI tool format)."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        tools = [t["function"]["name"] for t in kwargs.get("tools") or []]
        forced = _forced(kwargs.get("tool_choice"), tools)
        self.requests.append({"messages": messages, "tools": tools, "forced": forced})
        if self.fail is not None:
            raise self.fail
        if forced is not None:
            shape = self.shapes[forced]
            args = shape() if callable(shape) else shape
            reply = AIMessage("", tool_calls=[{"name": forced, "args": dict(args), "id": "call-1"}])
        elif tools and self.on_tools is not None:
            reply = self.on_tools(messages, tools)
        else:
            reply = AIMessage(self.text)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        """The same reply as one streamed chunk (tool calls as raw argument strings)."""
        reply = self._generate(messages, stop, run_manager, **kwargs).generations[0].message
        assert isinstance(reply, AIMessage)
        chunk = AIMessageChunk(
            content=reply.content,
            tool_call_chunks=[
                {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                for i, c in enumerate(reply.tool_calls)
            ],
        )
        yield ChatGenerationChunk(message=chunk)


def _forced(choice: Any, tools: list[str]) -> str | None:
    """The tool a request forces, if any."""
    if isinstance(choice, dict):
        return str(choice.get("function", {}).get("name") or choice.get("name") or "") or None
    if isinstance(choice, str) and choice in tools:
        return choice
    if choice in ("any", "required") and len(tools) == 1:
        return tools[0]
    return None


class FakeModels:
    """What the engine asks of its model factory, on one fake model."""

    def __init__(self, model: StructuredFake) -> None:
        self.model = model

    def get(self, name: str | None = None) -> StructuredFake:
        return self.model

    def whole(self, name: str | None = None) -> StructuredFake:
        """The same fake: it has no streaming to turn off."""
        return self.model

    def check(self) -> None:
        """Always configured."""

    async def structured(
        self, schema: type[BaseModel], prompt: str, name: str | None = None
    ) -> Any:
        bound = self.model.with_structured_output(schema, method="function_calling")
        return await bound.ainvoke(prompt)
