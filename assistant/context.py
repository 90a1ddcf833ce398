"""One run's context: everything a run needs to know, built once, validated in one place.

``RunContext.build`` combines the settings with what the person chose for their
conversation (the chat settings panel, CLI flags): the choices win over the environment,
which wins over the defaults. The context travels through LangGraph's ``context_schema``;
nodes read ``runtime.context`` and tools ``runtime.context`` of their ``ToolRuntime``.
Other LangGraph clients (LangGraph Server, Studio) pass a context as a JSON object, which
LangGraph reads into the schema as keyword arguments: ``RunContext.with_defaults`` gives a
schema whose defaults are the settings, and every context normalises loose JSON values.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from assistant.errors import InputError
from assistant.settings import MAX_PARALLEL, Settings, VerifyMode
from assistant.storage.threads import LOCAL_OWNER


@dataclass(frozen=True)
class Choices:
    """What a person may choose for a conversation; None leaves the setting in force."""

    model: str | None = None
    max_parallel: int | None = None
    approve: frozenset[str] | None = None

    @classmethod
    def of(
        cls,
        *,
        model: str | None = None,
        max_parallel: int | None = None,
        approve: Iterable[str] | None = None,
    ) -> Choices:
        """Choices from loose values (a form, flags)."""
        return cls(
            model=(model or "").strip() or None,
            max_parallel=max_parallel,
            approve=None if approve is None else frozenset(approve),
        )


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """The context of one run (a turn, a resume, a continue)."""

    owner: str = field(default=LOCAL_OWNER, metadata={"doc": "Who the run is for."})
    model: str = field(default="gpt-5-mini", metadata={"doc": "Chat model for every call."})
    max_parallel: int = field(default=4, metadata={"doc": "Research workers at once."})
    approve: frozenset[str] = field(
        default=frozenset({"research"}), metadata={"doc": "Tools that pause for approval."}
    )
    max_model_calls: int = field(default=12, metadata={"doc": "Model calls per request."})
    max_tool_calls: int = field(default=16, metadata={"doc": "Tool calls per request."})
    context_tokens: int = field(
        default=16_000, metadata={"doc": "Past this size, older turns are summarised."}
    )
    max_messages: int = field(
        default=60, metadata={"doc": "Past this many messages, older turns are summarised."}
    )
    write_rounds: int = field(default=2, metadata={"doc": "Critique rounds of `write`."})
    section_source_tokens: int = field(
        default=3_000, metadata={"doc": "Source text per research section (tokens)."}
    )
    verify: VerifyMode = field(
        default="remove", metadata={"doc": "Checking cited claims: remove, mark or off."}
    )
    memory: bool = field(
        default=True, metadata={"doc": "Recall and keep the person's long-term memories."}
    )
    approve_mcp: bool = field(
        default=True,
        metadata={"doc": "MCP tools pause for approval (unless their server's config says not)."},
    )

    allowed_models: ClassVar[tuple[str, ...]] = ()
    """Models a context may name (empty: not checked; ``with_defaults`` sets the settings')."""

    def __post_init__(self) -> None:
        """Normalise values given as JSON (a list or "a,b" for ``approve``), clamp
        ``max_parallel`` and refuse a model the settings do not allow."""
        if self.allowed_models and self.model not in self.allowed_models:
            raise InputError(
                f"The model {self.model!r} is not available here; choose one of: "
                f"{', '.join(self.allowed_models)}."
            )
        approve: Any = self.approve
        if isinstance(approve, str):
            approve = approve.split(",")
        object.__setattr__(
            self, "approve", frozenset(str(name).strip() for name in approve if str(name).strip())
        )
        object.__setattr__(self, "max_parallel", max(1, min(MAX_PARALLEL, int(self.max_parallel))))

    @classmethod
    def with_defaults(cls, settings: Settings) -> type[RunContext]:
        """This class with ``settings`` as its defaults and its allowed models.

        For clients that pass no context, or only some of its fields (LangGraph Server
        reads a run's JSON ``context`` into the graph's ``context_schema``).
        """
        defaults = cls.build(settings)
        hints = typing.get_type_hints(cls)
        schema = dataclasses.make_dataclass(
            cls.__name__,
            [
                (
                    item.name,
                    hints[item.name],
                    field(default=getattr(defaults, item.name), metadata=item.metadata),
                )
                for item in dataclasses.fields(cls)
            ],
            bases=(cls,),
            namespace={
                "allowed_models": settings.allowed_models,
                "__doc__": cls.__doc__,
                "__module__": cls.__module__,
            },
            frozen=True,
            kw_only=True,
        )
        return typing.cast(type[RunContext], schema)

    @classmethod
    def build(
        cls, settings: Settings, choices: Choices | None = None, *, owner: str = LOCAL_OWNER
    ) -> RunContext:
        """The context for ``owner`` from ``settings`` and their ``choices``.

        A model outside ``ASSISTANT_MODELS`` is refused (it would run on the operator's key);
        ``max_parallel`` is clamped to 1..``MAX_PARALLEL``.
        """
        choices = choices or Choices()
        model = choices.model or settings.model
        if model not in settings.allowed_models:
            raise InputError(
                f"The model {model!r} is not available here; choose one of: "
                f"{', '.join(settings.allowed_models)}."
            )
        return cls(
            owner=owner,
            model=model,
            max_parallel=choices.max_parallel or settings.max_parallel,
            approve=settings.approve if choices.approve is None else choices.approve,
            max_model_calls=settings.max_model_calls,
            max_tool_calls=settings.max_tool_calls,
            context_tokens=settings.context_tokens,
            max_messages=settings.max_messages,
            write_rounds=settings.write_rounds,
            section_source_tokens=settings.section_source_tokens,
            verify=settings.verify,
            memory=settings.memory,
            # ASSISTANT_APPROVE=none turns every approval off, MCP tools' too; nothing a
            # person chooses for a conversation can.
            approve_mcp=bool(settings.approve),
        )
