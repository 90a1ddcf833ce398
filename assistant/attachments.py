"""The person's documents: files attached to a conversation that research reads as sources.

A document is read once, when it is attached (``tools.documents.load_document``: type checked
by its bytes, size and page limits, a timeout), and kept twice in the thread's files: the
original (role ``document``, for download) and its extracted text (role ``document-text``,
what each research run reads, so no run parses a PDF again). Both belong to their owner and
go with the conversation when it is deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

from assistant.errors import InputError
from assistant.settings import Settings
from assistant.storage import FileStore, StoredFile
from assistant.text import plural
from tools.documents import SUPPORTED, Document, DocumentError, load_document
from tools.extract import Segment

log = logging.getLogger(__name__)

ORIGINAL = "document"
TEXT = "document-text"
ACCEPTED = tuple(sorted({suffix for suffixes, _ in SUPPORTED.values() for suffix in suffixes}))
"""File name extensions accepted (".docx", ".htm", ".html", ".md", ".pdf", ".txt", ...)."""
MIME_TYPES = tuple(sorted({mime for _, mimes in SUPPORTED.values() for mime in mimes}))


@dataclass(frozen=True)
class Upload:
    """A file as it arrives: its name, bytes and the type the sender declared."""

    name: str
    data: bytes
    mime: str | None = None


@dataclass(frozen=True)
class Attached:
    """What became of one upload: ``error`` is None if it is now a source."""

    name: str
    pages: int = 0
    chars: int = 0
    error: str | None = None

    def line(self) -> str:
        """One line for the person: "report.pdf: 12 pages" or why it was refused."""
        if self.error is not None:
            return self.error
        return f"{self.name}: " + (
            plural(self.pages, "page") if self.pages else f"{self.chars:,} characters"
        )


def limits_text(settings: Settings) -> str:
    """The limits as the person is told them."""
    return (
        f"PDF, DOCX, Markdown, text or HTML; up to {settings.max_documents} per conversation, "
        f"{settings.max_document_mb:g} MB each"
    )


class Attachments:
    """Documents of conversations, on the thread's file store."""

    def __init__(self, files: FileStore, settings: Settings) -> None:
        """Limits from ``settings`` (``ASSISTANT_MAX_DOCUMENTS``, ``ASSISTANT_MAX_DOCUMENT_MB``)."""
        self.files = files
        self.settings = settings

    async def add(self, thread_id: str, owner: str, uploads: Sequence[Upload]) -> list[Attached]:
        """Read and keep ``uploads`` as sources of the thread; one outcome per upload.

        A file that cannot be read, or goes past the limits, is refused with a reason and
        does not stop the others. The thread must already be ``owner``'s.
        """
        have = await self.files.of_thread(thread_id, owner, TEXT)
        names = {stored.name for stored in have}
        room = self.settings.max_documents - len(have)
        outcomes = []
        for upload in uploads:
            name = PurePath(upload.name.replace("\\", "/")).name or "file"
            if room <= 0:
                outcomes.append(
                    Attached(
                        name,
                        error=f"{name}: not added, this conversation already has "
                        f"{self.settings.max_documents} documents (the limit)",
                    )
                )
                continue
            try:
                document = await asyncio.to_thread(
                    load_document,
                    upload.data,
                    name,
                    upload.mime,
                    max_bytes=self.settings.max_document_bytes,
                )
            except DocumentError as exc:
                outcomes.append(Attached(name, error=str(exc)))
                continue
            name = _unique(name, names)
            names.add(name)
            await self._keep(thread_id, owner, name, upload, document)
            room -= 1
            pages = len(document.segments) if document.kind == "pdf" else 0
            outcomes.append(Attached(name, pages, len(document.text)))
        return outcomes

    async def _keep(
        self, thread_id: str, owner: str, name: str, upload: Upload, document: Document
    ) -> None:
        digest = hashlib.sha256(thread_id.encode() + b"\0" + name.encode()).hexdigest()[:24]
        key = f"documents/{digest}"
        text = json.dumps(
            {
                "kind": document.kind,
                "title": document.title,
                "segments": [[seg.page, seg.text] for seg in document.segments],
            },
            ensure_ascii=False,
        ).encode("utf-8")
        mime = (upload.mime or "application/octet-stream").split(";")[0].strip()
        await self.files.put(StoredFile(key, thread_id, owner, name, mime, upload.data, ORIGINAL))
        await self.files.put(
            StoredFile(f"{key}.json", thread_id, owner, name, "application/json", text, TEXT)
        )

    async def documents(self, thread_id: str, owner: str) -> list[Document]:
        """The thread's documents as research reads them, in the order they were attached."""
        found = []
        for stored in await self.files.of_thread(thread_id, owner, TEXT):
            try:
                data = json.loads(stored.data)
                segments = tuple(
                    Segment(None if page is None else int(page), str(text))
                    for page, text in data["segments"]
                )
                found.append(Document(stored.name, data["kind"], segments, data.get("title", "")))
            except (ValueError, KeyError, TypeError):
                log.error("document %s of thread %s is unreadable; skipped", stored.key, thread_id)
        return found

    async def names(self, thread_id: str, owner: str) -> list[str]:
        """The names of the thread's documents."""
        return await self.files.names(thread_id, owner, TEXT)


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2).pdf``... if the conversation already has one so named."""
    if name not in taken:
        return name
    path = PurePath(name)
    for n in range(2, 1000):
        candidate = f"{path.stem} ({n}){path.suffix}"
        if candidate not in taken:
            return candidate
    raise InputError(f"Too many documents named {name}.")
