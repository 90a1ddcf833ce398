"""Files of a conversation, served to their owner only: reports, exports, attachments.

They live in the engine's file store (the database), so a deleted conversation takes them
with it and any server process can serve them. ``StoreStorage`` lets Chainlit keep the
elements it persists there too; ``download_route`` serves ``/assistant/files/{key}``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from chainlit.auth import get_current_user
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.user import PersistedUser
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import Response
from fastapi.routing import APIRoute

from assistant.storage import FileStore, StoredFile
from tools.export import ExportError

URL_PREFIX = "/assistant/files"


def file_url(key: str) -> str:
    """The download URL of a stored file (same origin: the sign-in cookie goes with it)."""
    return f"{URL_PREFIX}/{quote(key)}"


class StoreStorage(BaseStorageClient):
    """A Chainlit storage client writing into the engine's file store."""

    def __init__(self, files: Any, owner_of: Any) -> None:
        """``files()``: the running ``FileStore``; ``owner_of(user_id)``: its identifier."""
        self.files = files
        self.owner_of = owner_of

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        """Store ``data`` for the user the key names."""
        user_id = object_key.split("/", 1)[0]
        owner = await self.owner_of(user_id)
        store: FileStore = self.files()
        content = data.encode("utf-8") if isinstance(data, str) else data
        name = object_key.rsplit("/", 1)[-1] or uuid.uuid4().hex
        await store.put(StoredFile(object_key, None, owner, name, mime, content))
        return {"object_key": object_key, "url": file_url(object_key)}

    async def delete_file(self, object_key: str) -> bool:
        """Remove a stored element's file."""
        store: FileStore = self.files()
        return await store.delete(object_key)

    async def get_read_url(self, object_key: str) -> str:
        """The download URL."""
        return file_url(object_key)

    async def close(self) -> None:
        """Nothing to close."""


def download_route(engine: Any) -> APIRoute:
    """``GET /assistant/files/{key}``: the file, to its owner only (others get 404). A
    report's PDF or Word version is made on its first download (``Engine.file``)."""

    async def download(
        object_key: str, user: Annotated[Any, Depends(get_current_user)]
    ) -> Response:
        owner = user.identifier if isinstance(user, PersistedUser) else None
        try:
            found = await engine().file(object_key, owner=owner) if owner else None
        except ExportError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        if found is None:
            raise HTTPException(status_code=404, detail="File not found")
        disposition = f"attachment; filename*=UTF-8''{quote(found.name)}"
        return Response(
            found.data,
            media_type=found.mime,
            headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
        )

    return APIRoute(f"{URL_PREFIX}/{{object_key:path}}", download, methods=["GET"])


def install_route(app: FastAPI, route: APIRoute) -> None:
    """Add ``route`` ahead of Chainlit's catch-all page route, which would shadow it."""
    if not any(getattr(r, "path", None) == route.path for r in app.router.routes):
        app.router.routes.insert(0, route)
