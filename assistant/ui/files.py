"""Files attached to messages (the report's ``.md``), kept on disk and downloadable later.

Chainlit serves a file from the live session only; after a reload it uses the URL the data
layer's storage client gives. ``LocalFileStorage`` keeps files under
``ASSISTANT_DATA_DIR/files`` and answers with a URL of ``download_route``, which serves a
file only to the user it belongs to (Chainlit names objects ``{user id}/{element id}/{name}``).
"""

from __future__ import annotations

import asyncio
import mimetypes
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from chainlit.auth import get_current_user
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.user import PersistedUser
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute

URL_PREFIX = "/assistant/files"


class LocalFileStorage(BaseStorageClient):
    """A Chainlit storage client on the local file system."""

    def __init__(self, root: Path) -> None:
        """Store files under ``root``."""
        self.root = root

    def path_for(self, object_key: str) -> Path:
        """The file of ``object_key``; ``ValueError`` if the key leaves ``root``."""
        parts = object_key.split("/")
        if any(part in ("", ".", "..") or "\\" in part for part in parts):
            raise ValueError(f"invalid object key {object_key!r}")
        return self.root.joinpath(*parts)

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        """Write ``data``; return its key and URL."""
        path = self.path_for(object_key)
        content = data.encode("utf-8") if isinstance(data, str) else data

        def write() -> None:
            if path.exists() and not overwrite:
                raise FileExistsError(object_key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)

        await asyncio.to_thread(write)
        return {"object_key": object_key, "url": await self.get_read_url(object_key)}

    async def delete_file(self, object_key: str) -> bool:
        """Remove the file; False if it was not there."""
        path = self.path_for(object_key)
        if not path.exists():
            return False
        await asyncio.to_thread(path.unlink)
        return True

    async def get_read_url(self, object_key: str) -> str:
        """The download URL (same origin, so the sign-in cookie goes with it)."""
        return f"{URL_PREFIX}/{quote(object_key)}"

    async def close(self) -> None:
        """Nothing to close."""


def download_route(storage: LocalFileStorage) -> APIRoute:
    """``GET /assistant/files/{key}``: the file, to its owner only (others get 404)."""

    async def download(
        object_key: str, user: Annotated[Any, Depends(get_current_user)]
    ) -> FileResponse:
        owner = object_key.split("/", 1)[0]
        if not isinstance(user, PersistedUser) or user.id != owner:
            raise HTTPException(status_code=404, detail="File not found")
        try:
            path = storage.path_for(object_key)
        except ValueError:
            raise HTTPException(status_code=404, detail="File not found") from None
        if not path.is_file():
            raise HTTPException(status_code=404, detail="File not found")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type, filename=path.name)

    return APIRoute(f"{URL_PREFIX}/{{object_key:path}}", download, methods=["GET"])


def install_route(app: FastAPI, route: APIRoute) -> None:
    """Add ``route`` ahead of Chainlit's catch-all page route, which would shadow it."""
    if not any(getattr(r, "path", None) == route.path for r in app.router.routes):
        app.router.routes.insert(0, route)
