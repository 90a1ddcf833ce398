"""Keeping a long conversation within its context: older turns folded into a summary.

Past ``context_tokens`` (estimated with ``count_tokens_approximately``) the older half of
the budget is folded; past ``max_messages`` all but the last quarter of them. langchain's
``SummarizationMiddleware`` finds where to cut (never between a tool call and its result)
and writes the summary message; it is used here as a plain unit inside the model node, not
as an extra graph node, so a turn costs no extra checkpoint. It runs only at the
start of a request, so the request being answered is never folded away.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from langchain.agents.middleware import SummarizationMiddleware
from langchain_core.messages import AnyMessage, BaseMessage, get_buffer_string
from langchain_core.messages.utils import count_tokens_approximately

from assistant import prompts
from assistant.context import RunContext
from assistant.errors import describe
from assistant.models import ModelFactory

log = logging.getLogger(__name__)


class Summarizer:
    """Folds older turns of a conversation into a summary message."""

    def __init__(self, models: ModelFactory) -> None:
        """Summaries are written by the run's own model."""
        self._models = models
        self._units: dict[tuple[str, str, int], SummarizationMiddleware] = {}

    def _unit(self, context: RunContext, by: str) -> SummarizationMiddleware:
        """The unit folding past the token budget (keeping half of it) or past the message
        count (keeping a quarter as many messages: a long chatty thread folds rarely)."""
        limit = context.context_tokens if by == "tokens" else context.max_messages
        key = (context.model, by, limit)
        if key not in self._units:
            model = self._models.whole(context.model)
            # Tagged so its tokens never reach the person as if they were the answer.
            writer = model.with_config(tags=["nostream"])

            async def summarize(messages: Sequence[BaseMessage]) -> str:
                prompt = prompts.SUMMARIZE.format(conversation=get_buffer_string(messages))
                return str((await writer.ainvoke(prompt)).text).strip()

            self._units[key] = SummarizationMiddleware(
                model,
                trigger=(by, limit),  # type: ignore[arg-type]
                keep=(by, limit // 2 if by == "tokens" else max(4, limit // 4)),  # type: ignore[arg-type]
                summarizer=summarize,
            )
        return self._units[key]

    async def fold(
        self, messages: list[AnyMessage], context: RunContext
    ) -> list[AnyMessage] | None:
        """The state update that folds older turns, or None when none is needed.

        A failed summary leaves the conversation as it is (nothing is deleted).
        """
        over_tokens = count_tokens_approximately(messages) > context.context_tokens
        if not over_tokens and len(messages) <= context.max_messages:
            return None
        try:
            unit = self._unit(context, "tokens" if over_tokens else "messages")
            update: dict[str, Any] | None = await unit.abefore_model(
                {"messages": messages},
                None,  # type: ignore[arg-type]  # the unit reads no runtime
            )
        except Exception as exc:  # the answer matters more than the fold
            log.warning("could not summarise the conversation: %s", describe(exc))
            return None
        return list(update["messages"]) if update else None
