"""Chat models, built from the settings on demand (never at import time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.errors import ConfigurationError
from assistant.settings import Settings

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel


class ModelFactory:
    """Builds one client per model name and keeps it for the life of the app.

    The openai client retries 429, 5xx and connection errors itself, with exponential
    backoff that honours ``Retry-After``; ``ASSISTANT_MODEL_RETRIES`` sets how often.
    """

    def __init__(self, settings: Settings) -> None:
        """Remember the settings; no client is created yet."""
        self._settings = settings
        self._models: dict[str, BaseChatModel] = {}

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
            from langchain_openai import ChatOpenAI

            key = self._settings.openai_api_key
            self._models[name] = ChatOpenAI(
                model=name,
                api_key=key.get_secret_value() if key else "not-needed",  # type: ignore[arg-type]
                base_url=self._settings.openai_base_url,
                timeout=self._settings.model_timeout,
                max_retries=self._settings.model_retries,
                stream_usage=True,
            )
        return self._models[name]
