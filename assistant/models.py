"""Chat models, built from the settings on demand (never at import time)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, SecretStr

from assistant.compat import aiohttp_model_client, rejects_json_schema, wire_chat_openai
from assistant.errors import AssistantError, ConfigurationError
from assistant.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


def open_model_http() -> Any:
    """The HTTP client every model call goes through; ``async with`` it to close it on exit.

    The openai SDK's aiohttp transport (``openai.DefaultAioHttpClient``, the SDK's own
    ``aiohttp`` extra): the same requests, timeouts, retries, proxies and TLS as its default
    client, with aiohttp's compiled HTTP parser reading the streamed replies: about a tenth
    less server CPU a turn under load (docs/performance.md). Its connection pool opens on the
    first call, in that call's event loop.
    """
    return aiohttp_model_client()()


class ModelFactory:
    """Builds one client per model name and keeps it for the life of the app.

    The openai client retries 429, 5xx and connection errors itself, with exponential
    backoff that honours ``Retry-After``; ``ASSISTANT_MODEL_RETRIES`` sets how often.
    """

    def __init__(self, settings: Settings, http: Any = None) -> None:
        """Remember the settings; no client is created yet.

        ``http``: the HTTP client of every model (``open_model_http``; None: the openai
        SDK's default, one per model).
        """
        self._settings = settings
        self.http = http
        self._models: dict[str, BaseChatModel] = {}
        self._no_json_schema: set[str] = set()  # models whose server rejected json_schema
        self._whole: dict[str, BaseChatModel] = {}  # the same clients, not streaming

    def check(self) -> None:
        """Raise ``ConfigurationError`` when no model server can be reached in principle."""
        if self._settings.openai_api_key is None and self._settings.openai_base_url is None:
            raise ConfigurationError(
                "OPENAI_API_KEY is not set: export it, or set OPENAI_BASE_URL to an "
                "OpenAI-compatible server (Ollama, vLLM, llama.cpp)."
            )

    def get(self, name: str | None = None) -> BaseChatModel:
        """The chat model called ``name`` (default: ``ASSISTANT_MODEL``)."""
        name = name or self._settings.model
        if name not in self._models:
            self.check()
            key = self._settings.openai_api_key
            self._models[name] = wire_chat_openai()(
                model=name,
                api_key=key or SecretStr("not-needed"),
                base_url=self._settings.openai_base_url,
                timeout=self._settings.model_timeout,
                max_retries=self._settings.model_retries,
                stream_usage=True,
                http_async_client=self.http,
            )
        return self._models[name]

    def whole(self, name: str | None = None) -> BaseChatModel:
        """Model ``name`` answering in one piece, for calls nobody reads token by token
        (structured output, research sections, drafts, summaries): a streamed answer costs
        the client a parsed chunk and a callback per few characters, which eight sections
        written at once pay on one event loop."""
        name = name or self._settings.model
        if name not in self._whole:
            self._whole[name] = self.get(name).model_copy(update={"disable_streaming": True})
        return self._whole[name]

    async def structured(self, schema: type[T], prompt: str, name: str | None = None) -> T:
        """Ask model ``name`` for an answer shaped as ``schema``.

        JSON-schema output first (OpenAI, vLLM, Ollama); a server that rejects
        ``response_format: json_schema`` (llama-cpp-python's, for one) gets a forced tool
        call instead, and that choice is kept for the model from then on.
        """
        name = name or self._settings.model
        # Some servers also stream tool calls oddly (llama-cpp-python repeats the name in
        # every delta): structured output is asked for in one piece.
        model = self.whole(name)
        if name not in self._no_json_schema:
            try:
                return _checked(schema, await model.with_structured_output(schema).ainvoke(prompt))
            except Exception as exc:
                if not rejects_json_schema(exc):
                    raise _unreadable(schema, exc) from exc
                log.warning("%s: no json_schema output here; using function calling", name)
                self._no_json_schema.add(name)
        method: Any = "function_calling"
        try:
            result = await model.with_structured_output(schema, method=method).ainvoke(prompt)
        except Exception as exc:
            raise _unreadable(schema, exc) from exc
        return _checked(schema, result)


def _checked(schema: type[T], result: Any) -> T:
    if not isinstance(result, schema):
        raise AssistantError(
            f"The model did not return the structured answer asked of it ({schema.__name__})."
        )
    return result


def _unreadable(schema: type[BaseModel], exc: Exception) -> Exception:
    """Parsing failures become one clear line; transport errors pass through unchanged."""
    from langchain_core.exceptions import OutputParserException
    from pydantic import ValidationError

    if isinstance(exc, OutputParserException | ValidationError):
        return AssistantError(
            f"The model's answer did not have the shape asked of it ({schema.__name__}); "
            "a more capable model may be needed."
        )
    return exc


def memory_embeddings(settings: Settings, http: Any = None) -> Any:
    """The embeddings client of ``ASSISTANT_MEMORY_EMBEDDINGS`` (a model of the server's
    ``/v1/embeddings``), or None: memories are then found by words. ``http``: as
    ``ModelFactory``'s."""
    if not settings.memory or not settings.memory_embeddings:
        return None
    from langchain_openai import OpenAIEmbeddings

    key = settings.openai_api_key
    return OpenAIEmbeddings(
        model=settings.memory_embeddings,
        api_key=key or SecretStr("not-needed"),
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout,
        max_retries=settings.model_retries,
        # Send the text itself: counting tokens with tiktoken would download its tables.
        check_embedding_ctx_length=False,
        http_async_client=http,
    )
