"""What every local test server shares: serving in a background thread, stopping so that the
port refuses afterwards, and use as a context manager.

    class FakeThing(LoopbackServer):
        def start(self) -> FakeThing:
            self._serve(_Server(("127.0.0.1", 0), handler), "FakeThing")
            return self

Handlers that keep connections alive register them with ``_track`` (in ``setup``, and again
with ``add=False`` in ``finish``), so ``stop`` can drop them: a keep-alive connection would
otherwise keep answering after the listening socket closed.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Self


class BurstServer(ThreadingHTTPServer):
    """A threaded HTTP server that takes bursts of connections: the default listen backlog
    (5) drops them, and a dropped one waits a full second for TCP's SYN retry, which makes
    concurrency look serialised."""

    request_queue_size = 256
    daemon_threads = True


class LoopbackServer:
    """A test server's life cycle: ``start`` (subclasses), ``stop``, ``with``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:  # pragma: no cover - every server defines it
        raise NotImplementedError

    def _serve(self, server: ThreadingHTTPServer, name: str) -> None:
        """Serve ``server`` from a background thread (polling for shutdown every 20 ms)."""
        self._server = server
        self._thread = serve_in_thread(server, name)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        """Register (``add``) or forget a handler's open connection."""
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)

    def _before_stop(self) -> None:
        """Wake handlers that are waiting, before the server shuts down (none by default)."""

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections, so the port refuses afterwards."""
        server, self._server = self._server, None
        if server is None:
            return
        self._before_stop()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_in_thread(server: ThreadingHTTPServer, name: str) -> threading.Thread:
    """Start ``server.serve_forever`` in a daemon thread called ``name``."""
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name=name, daemon=True)
    thread.start()
    return thread
