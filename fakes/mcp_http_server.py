"""A streamable-HTTP MCP server for tests, built with the ``mcp`` SDK (FastMCP) and served by
uvicorn in a thread on 127.0.0.1: one tool, ``add``, answering only a bearer token."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from mcp.server.fastmcp import FastMCP

TOKEN = "s3cret"


def calculator_app(token: str) -> Callable[..., Awaitable[None]]:
    """An MCP server with ``add`` that answers only requests bearing ``token``."""
    server = FastMCP("calc", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    app = server.streamable_http_app()

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        expected = f"Bearer {token}".encode()
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


class CalculatorServer:
    """The calculator served by uvicorn in a thread on 127.0.0.1 (token ``TOKEN``)."""

    def __init__(self) -> None:
        app = calculator_app(TOKEN)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/mcp"

    def stop(self) -> None:
        self.server.should_exit = True
        self.server.force_exit = True  # do not wait for the client's open event stream
        self.thread.join(10)
        assert not self.thread.is_alive()
