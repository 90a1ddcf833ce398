"""Files a person attaches to a message: read by the engine as research sources.

Chainlit accepts the upload (``configure`` sets its limits from the settings, so the browser
states them and refuses larger files before sending); the engine reads each file and keeps
it with the conversation. The person gets one note listing what was added and what was not,
with the reason; the model is told which documents it can now research.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import chainlit as cl
from chainlit.config import SpontaneousFileUploadFeature, config

from assistant.attachments import ACCEPTED, Attached, Upload, limits_text
from assistant.engine import Engine
from assistant.settings import Settings
from assistant.text import escape

ACCEPT = {
    "application/pdf": [".pdf"],
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": [".docx"],
    "text/*": [],
    "application/octet-stream": list(ACCEPTED),  # what browsers send when they do not know
}
"""MIME types (and, for the vague ones, extensions) the upload button accepts; the engine
checks every file's bytes anyway."""


def configure(settings: Settings) -> None:
    """Let people attach documents, within ``ASSISTANT_MAX_DOCUMENTS``/``_MB``."""
    config.features.spontaneous_file_upload = SpontaneousFileUploadFeature(
        enabled=True,
        accept=ACCEPT,
        max_files=settings.max_documents,
        max_size_mb=max(1, math.ceil(settings.max_document_mb)),
    )


async def uploads_of(message: cl.Message) -> list[Upload]:
    """The files attached to ``message``."""
    found = []
    for element in message.elements or []:
        if not isinstance(element, cl.File | cl.Pdf | cl.Text):
            continue
        data: Any = element.content
        if element.path:  # an upload: saved in the session's folder
            data = await asyncio.to_thread(Path(element.path).read_bytes)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if data:
            found.append(Upload(element.name, bytes(data), element.mime))
    return found


async def attach(
    engine: Engine, thread_id: str, owner: str, uploads: list[Upload], title: str
) -> tuple[str, list[str]]:
    """Add ``uploads`` to the conversation: the note for the person and the names added."""
    outcomes = await engine.add_documents(thread_id, uploads, owner=owner, title=title)
    return note(outcomes, engine.settings), [o.name for o in outcomes if o.error is None]


def note(outcomes: list[Attached], settings: Settings) -> str:
    """What became of the attached files, in Markdown."""
    added = [o for o in outcomes if o.error is None]
    refused = [o for o in outcomes if o.error is not None]
    lines = []
    if added:
        lines.append("**Added as research sources:**")
        lines.extend(f"- {escape(o.line())}" for o in added)
    if refused:
        lines.append("**Not added:**")
        lines.extend(f"- {escape(o.line())}" for o in refused)
        lines.append(f"Accepted: {limits_text(settings)}.")
    return "\n".join(lines)


def told_to_model(text: str, names: list[str]) -> str:
    """The person's message with a line telling the model which documents were attached."""
    if not names:
        return text
    listed = ", ".join(names)
    return f"{text}\n\n(Attached documents, now sources for research: {listed})".strip()
