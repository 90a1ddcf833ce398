"""The terminal's conversations in the browser's history (``assistant.history``).

The browser records its own conversations: Chainlit writes each message through its data
layer. The terminal records what it shows in the same rows, so ``assistant ui`` lists a
terminal conversation in its sidebar and reopening it shows the person's messages, the
assistant's answers and the research reports with their downloads; a conversation the
browser started and the terminal continued (``assistant chat --thread ID``) gets the new
turns too. Everything is made safe to show first, as the browser does.

A history that cannot be written never ends a conversation: the first failure is told in
one line and this transcript stops recording.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from assistant.errors import describe
from assistant.events import Document
from assistant.history import (
    ASSISTANT_AUTHOR,
    ASSISTANT_MESSAGE,
    USER_MESSAGE,
    ChatHistory,
    MessageKind,
)
from assistant.presentation import report_for_chat
from assistant.text import safe_markdown

log = logging.getLogger(__name__)
T = TypeVar("T")


class Transcript:
    """What one terminal session records of one thread."""

    def __init__(
        self, history: ChatHistory, thread_id: str, identifier: str, warn: Callable[[str], None]
    ) -> None:
        """Record ``thread_id`` for the person signed in as ``identifier`` in the browser
        (the local user); ``warn`` prints the one line saying recording failed."""
        self.history = history
        self.thread_id = thread_id
        self.identifier = identifier
        self.warn = warn
        self.pending: str | None = None
        self.opened = False
        self.broken = False

    def said(self, text: str) -> None:
        """The person sent ``text``: recorded once the engine takes it (``flush``)."""
        self.pending = text

    def drop(self) -> None:
        """The engine refused the message (busy, invalid): it is not in the history."""
        self.pending = None

    async def flush(self) -> None:
        """Record the person's message, if one waits (the thread is named after the first)."""
        text, self.pending = self.pending, None
        if text is not None:
            await self._add(USER_MESSAGE, safe_markdown(text), name=text)

    async def answer(self, text: str) -> None:
        """Record the assistant's answer."""
        await self.flush()
        if text.strip():
            await self._add(ASSISTANT_MESSAGE, safe_markdown(text))

    async def document(self, event: Document) -> None:
        """Record a finished document (a report) as the chat shows it, with its downloads."""
        await self.flush()
        step = await self._add(ASSISTANT_MESSAGE, report_for_chat(event.markdown))
        if step is not None and event.files:
            files = [(ref.key, ref.name, ref.mime) for ref in event.files]
            await self._guarded(lambda: self.history.add_files(self.thread_id, step, files))

    async def _add(self, kind: MessageKind, text: str, *, name: str | None = None) -> str | None:
        """Append one message (opening the thread in the history first); its step id."""
        history, thread = self.history, self.thread_id
        if not self.opened:
            title = name or text
            await self._guarded(
                lambda: history.open_thread(thread, identifier=self.identifier, name=title)
            )
            self.opened = not self.broken
        author = self.identifier if kind == USER_MESSAGE else ASSISTANT_AUTHOR
        return await self._guarded(lambda: history.add_message(thread, kind, text, author=author))

    async def _guarded(self, write: Callable[[], Awaitable[T]]) -> T | None:
        """Run one history write; on failure say so once and record nothing more."""
        if self.broken:
            return None
        try:
            return await write()
        except Exception as exc:
            log.debug("recording thread %s in the history failed", self.thread_id, exc_info=True)
            self.broken = True
            self.warn(f"note: the browser's history was not updated: {describe(exc)}")
            return None
