"""One settings object, read from the environment and validated at start.

Precedence, highest first: the person's choices for a conversation (``RunContext.build``,
e.g. the chat settings panel) > environment variables > the defaults below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TOOL_NAMES: tuple[str, ...] = ("research", "web_search", "calculate", "write", "remember")
"""Every tool the supervisor can call; ``ASSISTANT_APPROVE`` names a subset."""

MAX_PARALLEL = 16
"""The most research workers one run may run at once, whatever is asked."""

SearchProviderName = Literal["duckduckgo", "searxng", "tavily"]
SEARCH_PROVIDERS: tuple[str, ...] = ("duckduckgo", "searxng", "tavily")
VerifyMode = Literal["remove", "mark", "off"]


def _env(name: str) -> Any:
    """Bind a field to exactly one environment variable name."""
    return AliasChoices(name)


class SettingsError(ValueError):
    """A setting has a bad value; ``str()`` is one line naming the variable."""


class Settings(BaseSettings):
    """Everything the assistant reads from its environment."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", populate_by_name=True, frozen=True
    )

    openai_api_key: SecretStr | None = Field(
        None, validation_alias=_env("OPENAI_API_KEY"), description="Key for the model server."
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=_env("OPENAI_BASE_URL"),
        description="Any OpenAI-compatible server (Ollama, vLLM, llama.cpp), e.g. http://localhost:11434/v1.",
    )
    model: str = Field(
        "gpt-5-mini", validation_alias=_env("ASSISTANT_MODEL"), description="Chat model name."
    )
    models: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        validation_alias=_env("ASSISTANT_MODELS"),
        description="Comma-separated model names a person may choose per conversation; "
        "ASSISTANT_MODEL is always one of them (default: only it).",
    )
    data_dir: Path = Field(
        default_factory=lambda: Path.home() / ".local" / "share" / "assistant",
        validation_alias=_env("ASSISTANT_DATA_DIR"),
        description="Where the SQLite databases live (and the sign-in secret, when "
        "CHAINLIT_AUTH_SECRET is not set).",
    )
    database_url: SecretStr | None = Field(
        None,
        validation_alias=_env("ASSISTANT_DATABASE_URL"),
        description="postgresql://user:password@host:5432/dbname puts every piece of state "
        "in that PostgreSQL database (checkpoints, threads, leases, files, sessions, the "
        "chat history), so several server processes can share it; unset: SQLite files "
        "under ASSISTANT_DATA_DIR.",
    )
    db_pool_size: int = Field(
        10,
        ge=2,
        le=100,
        validation_alias=_env("ASSISTANT_DB_POOL_SIZE"),
        description="PostgreSQL: the most connections one process opens for the engine "
        "(the chat history adds up to 13 more).",
    )
    search_providers: Annotated[tuple[SearchProviderName, ...], NoDecode] = Field(
        ("duckduckgo",),
        validation_alias=_env("ASSISTANT_SEARCH_PROVIDER"),
        description="Search provider, or a comma-separated fallback order (duckduckgo,searxng): "
        "when one is rate-limited or down, the next is tried.",
    )
    searxng_url: str | None = Field(None, validation_alias=_env("SEARXNG_URL"))
    tavily_api_key: SecretStr | None = Field(None, validation_alias=_env("TAVILY_API_KEY"))
    tavily_url: str = Field("https://api.tavily.com", validation_alias=_env("TAVILY_URL"))
    max_parallel: int = Field(
        4,
        ge=1,
        le=MAX_PARALLEL,
        validation_alias=_env("ASSISTANT_MAX_PARALLEL"),
        description="Research workers running at once.",
    )
    approve: Annotated[frozenset[str], NoDecode] = Field(
        frozenset({"research"}),
        validation_alias=_env("ASSISTANT_APPROVE"),
        description="Comma-separated tools that pause for approval; 'none' or 'all'.",
    )
    model_timeout: float = Field(
        60.0,
        gt=0,
        validation_alias=_env("ASSISTANT_MODEL_TIMEOUT"),
        description="Seconds before one model request is abandoned.",
    )
    model_retries: int = Field(
        3,
        ge=0,
        le=10,
        validation_alias=_env("ASSISTANT_MODEL_RETRIES"),
        description="Retries with backoff on 429, 5xx and connection errors.",
    )
    max_model_calls: int = Field(
        12,
        ge=1,
        le=200,
        validation_alias=_env("ASSISTANT_MAX_MODEL_CALLS"),
        description="Supervisor model calls allowed in one turn.",
    )
    max_tool_calls: int = Field(
        16,
        ge=1,
        le=200,
        validation_alias=_env("ASSISTANT_MAX_TOOL_CALLS"),
        description="Tool calls allowed in one turn.",
    )
    context_tokens: int = Field(
        16_000,
        ge=1_000,
        validation_alias=_env("ASSISTANT_CONTEXT_TOKENS"),
        description="Past this (estimated) size, older conversation is summarised.",
    )
    max_messages: int = Field(
        60,
        ge=10,
        validation_alias=_env("ASSISTANT_MAX_MESSAGES"),
        description="Past this many messages, older turns are folded into a summary; keeps "
        "checkpoints and requests bounded on long threads.",
    )
    search_results: int = Field(5, ge=1, le=20, validation_alias=_env("ASSISTANT_SEARCH_RESULTS"))
    search_rate: float = Field(
        2.0,
        gt=0,
        validation_alias=_env("ASSISTANT_SEARCH_RATE"),
        description="Search requests per second shared by all workers of a run.",
    )
    search_timeout: float = Field(15.0, gt=0, validation_alias=_env("ASSISTANT_SEARCH_TIMEOUT"))
    db_timeout: float = Field(
        10.0,
        gt=0,
        validation_alias=_env("ASSISTANT_DB_TIMEOUT"),
        description="Seconds to wait for a database another process has locked; on "
        "PostgreSQL also for a connection (to the server, or from the pool) and for a row "
        "lock.",
    )
    lease_seconds: float = Field(
        30.0,
        ge=5,
        le=600,
        validation_alias=_env("ASSISTANT_LEASE_SECONDS"),
        description="A run holds its conversation this long between renewals; a run whose "
        "process died on another machine frees it after this time.",
    )
    session_idle_hours: float = Field(
        72.0,
        gt=0,
        le=24 * 15,
        validation_alias=_env("ASSISTANT_SESSION_IDLE_HOURS"),
        description="A browser sign-in unused this long must sign in again (at most 15 days "
        "after signing in in any case).",
    )
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        validation_alias=_env("ASSISTANT_ALLOWED_ORIGINS"),
        description="Extra origins (scheme://host:port) allowed to call the UI server, e.g. "
        "the public address of a reverse proxy; the server's own address is always allowed.",
    )
    allow_no_auth: bool = Field(
        False,
        validation_alias=_env("ASSISTANT_ALLOW_NO_AUTH"),
        description="Serve a non-loopback address without accounts; only behind a proxy "
        "that does its own sign-in.",
    )
    fetch_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        validation_alias=_env("ASSISTANT_FETCH_ALLOW"),
        description="Hosts or CIDR ranges research may read although they are private or "
        "loopback addresses (an intranet), comma-separated; nothing else private is ever read.",
    )
    fetch_timeout: float = Field(
        15.0,
        gt=0,
        le=120,
        validation_alias=_env("ASSISTANT_FETCH_TIMEOUT"),
        description="Seconds one page may take to read (redirects and body included).",
    )
    section_source_tokens: int = Field(
        3_000,
        ge=200,
        le=50_000,
        validation_alias=_env("ASSISTANT_SECTION_SOURCE_TOKENS"),
        description="Source text (passages of pages and documents) given to each section's "
        "writer, in estimated tokens.",
    )
    verify: VerifyMode = Field(
        "remove",
        validation_alias=_env("ASSISTANT_VERIFY"),
        description="Every cited claim is checked against its source: 'remove' drops an "
        "unsupported sentence (or its citation), 'mark' flags it, 'off' skips the check.",
    )
    max_documents: int = Field(
        10,
        ge=1,
        le=100,
        validation_alias=_env("ASSISTANT_MAX_DOCUMENTS"),
        description="Documents a conversation may hold as research sources.",
    )
    max_document_mb: float = Field(
        20.0,
        gt=0,
        le=200,
        validation_alias=_env("ASSISTANT_MAX_DOCUMENT_MB"),
        description="Largest document accepted as a research source, in megabytes.",
    )
    memory: bool = Field(
        True,
        validation_alias=_env("ASSISTANT_MEMORY"),
        description="Long-term memory of each person's facts and preferences across "
        "conversations ('off' turns it off).",
    )
    memory_embeddings: str | None = Field(
        None,
        validation_alias=_env("ASSISTANT_MEMORY_EMBEDDINGS"),
        description="An embeddings model of the model server (/v1/embeddings) to find "
        "memories by meaning; without it they are found by words and recency.",
    )
    mcp_config: Path | None = Field(
        None,
        validation_alias=_env("ASSISTANT_MCP_CONFIG"),
        description="A JSON file of MCP servers whose tools the assistant may use: "
        '{"mcpServers": {"NAME": {"command": ..., "args": [...]} or {"url": ...}}}.',
    )
    mcp_start_timeout: float = Field(
        15.0,
        gt=0,
        le=300,
        validation_alias=_env("ASSISTANT_MCP_START_TIMEOUT"),
        description="Seconds an MCP server may take to start and list its tools; past it, "
        "its tools are unavailable for the turn and it is retried later.",
    )
    write_rounds: int = Field(
        2,
        ge=0,
        le=5,
        validation_alias=_env("ASSISTANT_WRITE_ROUNDS"),
        description="Critique-and-revise rounds of the write tool.",
    )

    @field_validator("approve", mode="before")
    @classmethod
    def _parse_approve(cls, value: Any) -> frozenset[str]:
        if isinstance(value, str):
            names = {part.strip().lower() for part in value.split(",") if part.strip()}
        else:
            names = {str(part) for part in value}
        if names in ({"none"}, set()):
            return frozenset()
        if names == {"all"}:
            return frozenset(TOOL_NAMES)
        unknown = sorted(names - set(TOOL_NAMES))
        if unknown:
            raise ValueError(
                f"unknown tool {', '.join(unknown)}; choose from {', '.join(TOOL_NAMES)}, "
                "'all' or 'none'"
            )
        return frozenset(names)

    @field_validator("search_providers", mode="before")
    @classmethod
    def _parse_providers(cls, value: Any) -> tuple[str, ...]:
        parts = value.split(",") if isinstance(value, str) else list(value or ())
        names = tuple(dict.fromkeys(str(p).strip().lower() for p in parts if str(p).strip()))
        unknown = [name for name in names if name not in SEARCH_PROVIDERS]
        if unknown or not names:
            raise ValueError(
                f"unknown search provider {', '.join(unknown) or '(none)'}; choose from "
                f"{', '.join(SEARCH_PROVIDERS)}, or several separated by commas"
            )
        return names

    @field_validator("fetch_allow", mode="before")
    @classmethod
    def _parse_allow(cls, value: Any) -> tuple[str, ...]:
        from tools.fetch import parse_allow

        text = value if isinstance(value, str) else ",".join(value or ())
        return parse_allow(text)

    @field_validator("models", "allowed_origins", mode="before")
    @classmethod
    def _parse_list(cls, value: Any) -> tuple[str, ...]:
        parts = value.split(",") if isinstance(value, str) else list(value or ())
        return tuple(dict.fromkeys(str(part).strip() for part in parts if str(part).strip()))

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin like https://chat.example.org")
        return tuple(origin.rstrip("/") for origin in value)

    @property
    def allowed_models(self) -> tuple[str, ...]:
        """The models a person may pick: ``ASSISTANT_MODEL`` first, then ``ASSISTANT_MODELS``."""
        return tuple(dict.fromkeys((self.model, *self.models)))

    @property
    def max_document_bytes(self) -> int:
        """``ASSISTANT_MAX_DOCUMENT_MB`` in bytes."""
        return int(self.max_document_mb * 1024 * 1024)

    @field_validator("openai_base_url", "searxng_url", "tavily_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url", mode="before")
    @classmethod
    def _check_database_url(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        url = str(value).strip()
        example = "postgresql://user:password@host:5432/assistant"
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres") or not url.startswith(
            f"{parts.scheme}://"
        ):
            raise ValueError(f"must be a PostgreSQL URL like {example}")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError(f"the port must be a number from 1 to 65535, as in {example}")
        return url

    @property
    def postgres_url(self) -> str | None:
        """``ASSISTANT_DATABASE_URL`` (None: SQLite files under ``data_dir``)."""
        return self.database_url.get_secret_value() if self.database_url else None

    @property
    def checkpoint_path(self) -> Path:
        """The LangGraph checkpoint database."""
        return self.data_dir / "checkpoints.sqlite"

    @property
    def history_path(self) -> Path:
        """The chat history the browser shows (Chainlit's tables)."""
        return self.data_dir / "chainlit.sqlite"

    @property
    def memory_path(self) -> Path:
        """Long-term memories (LangGraph's store)."""
        return self.data_dir / "memory.sqlite"

    @property
    def store_path(self) -> Path:
        """The assistant's own tables: threads, leases, decisions, sections, files, sessions."""
        return self.data_dir / "assistant.sqlite"


_FIELD_ENV = {
    name: field.validation_alias.choices[0]  # type: ignore[union-attr]
    for name, field in Settings.model_fields.items()
}
_SECRET_ENV = frozenset(
    _FIELD_ENV[name]
    for name, field in Settings.model_fields.items()
    if "SecretStr" in str(field.annotation)
)
"""Variables whose values are never shown in an error (keys, URLs with passwords)."""


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise ``SettingsError`` with one clear line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = str(error["loc"][0]) if error["loc"] else ""
        env = _FIELD_ENV.get(loc, loc)
        given = error.get("input")
        shown = (
            f" (got {given!r})"
            if isinstance(given, str | int | float) and env not in _SECRET_ENV
            else ""
        )
        message = error["msg"].removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {env}: {message}{shown}") from None
