"""A server safe to expose: the checks every request to the chat UI passes first.

One ASGI middleware in front of Chainlit's app, for plain HTTP and for the socket:

- **Host** (single-user mode only): a request must name this machine by a loopback name
  or address, so a web page cannot reach the local assistant by DNS rebinding.
- **Origin**: a request that carries an ``Origin`` (every browser request a page on another
  site can make, and every socket) must come from the app itself or from an origin the
  operator lists (``ASSISTANT_ALLOWED_ORIGINS``).
- **Sessions**: a sign-in token is accepted only while its session is live: not logged out,
  used recently, and its user still allowed (in ``ASSISTANT_USERS``, or ``local`` while
  there are no accounts). Logging out ends the session on the server.
- **Sign-in throttling**: repeated failed sign-ins are refused for a while, per account
  and per address.
- **Headers**: a Content-Security-Policy (no remote images or scripts, no framing),
  ``X-Frame-Options``, ``nosniff``, a strict referrer policy; cookies get ``Secure`` when
  the page is served over https.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

AUTH_COOKIE = "access_token"
SESSION_KEY = "sid"
"""The key of the session id in a user's metadata (and so in the signed token)."""
LOGIN_PATH = "/login"
UNCHECKED_PREFIXES = (
    "/assets/",
    "/public/",
    "/favicon",
    "/logo",
    "/avatars/",
    "/project/translations",
)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        # Chainlit's page starts with a small inline script, and its styles are inline.
        # Custom elements (public/elements/*.jsx, e.g. the arguments form) are compiled in
        # the page and run with `new Function`: 'unsafe-eval'. It adds no way in for text
        # a model or a web page wrote (Markdown is rendered without HTML), and scripts
        # still come from this server only.
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
        "style-src 'self' 'unsafe-inline'",
        # No remote images: a prompt-injected image URL can carry nothing out.
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "media-src 'self' blob:",
        "connect-src 'self' ws: wss:",
        "frame-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


@dataclass(frozen=True)
class Policy:
    """Who may use this server, from where."""

    users: Collection[str]
    """Accounts from ``ASSISTANT_USERS``; empty means single-user mode (``local``)."""
    local_user: str
    allowed_origins: Collection[str]
    secret: str


def is_loopback_host(host: str) -> bool:
    """Whether a ``Host`` header value names this machine by a loopback name or address."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name
    elif name.count(":") == 1:
        name = name.rsplit(":", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _origin_allowed(origin: str, host: str, allowed: Collection[str]) -> bool:
    if origin.rstrip("/") in allowed:
        return True
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    own = host.lower()
    netloc = parts.netloc.lower()
    default = {"http": ":80", "https": ":443"}[parts.scheme]
    return netloc == own or netloc + default == own or netloc == own + default


def _token(headers: dict[str, str]) -> str | None:
    cookies = SimpleCookie()
    try:
        cookies.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header carries no usable token
        return None
    if AUTH_COOKIE in cookies:
        return cookies[AUTH_COOKIE].value
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


class SecurityMiddleware:
    """The checks above, in front of ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        policy: Policy,
        auth_store: Callable[[Scope], Any],
    ) -> None:
        """``auth_store(scope)``: the ``AuthStore`` of the running server."""
        self.app = app
        self.policy = policy
        self.auth_store = auth_store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on (or answer it with a refusal)."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host", "")
        path = str(scope.get("path", ""))
        if not self.policy.users and not is_loopback_host(host):
            await _refuse(scope, send, receive, 421, "This server only answers on this machine.")
            return
        origin = headers.get("origin")
        if origin and not _origin_allowed(origin, host, self.policy.allowed_origins):
            log.warning("refused a request from origin %s to %s", origin, path)
            await _refuse(scope, send, receive, 403, "Requests from other sites are not allowed.")
            return
        if scope["type"] == "http" and path == LOGIN_PATH and scope.get("method") == "POST":
            await self._login(scope, receive, send)
            return
        token = _token(headers)
        if token and not path.startswith(UNCHECKED_PREFIXES) and not await self._live(scope, token):
            await _refuse(
                scope, send, receive, 401, "Your sign-in has ended: sign in again.", clear=True
            )
            return
        await self.app(scope, receive, _with_headers(scope, send))

    async def _live(self, scope: Scope, token: str) -> bool:
        """Whether ``token`` belongs to a live session of a user who may still sign in."""
        try:
            claims = jwt.decode(token, self.policy.secret, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return True  # not ours to judge: Chainlit refuses it on its own
        identifier = str(claims.get("identifier") or "")
        allowed = (
            identifier in self.policy.users
            if self.policy.users
            else (identifier == self.policy.local_user)
        )
        sid = (claims.get("metadata") or {}).get(SESSION_KEY)
        if not allowed or not isinstance(sid, str):
            return False
        store = self.auth_store(scope)
        return store is not None and bool(await store.check_session(sid, identifier))

    async def _login(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse sign-in while throttled; count failures and successes."""
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        form = parse_qs(body.decode("utf-8", "replace"))
        account = (form.get("username") or [""])[0][:200]
        address = str((scope.get("client") or ("unknown",))[0])
        store = self.auth_store(scope)
        wait = await store.retry_after(account, address) if store is not None else 0.0
        if wait > 0:
            minutes = max(1, math.ceil(wait / 60))
            await _refuse(
                scope,
                send,
                receive,
                429,
                f"Too many failed sign-ins: try again in {minutes} minute"
                f"{'s' if minutes != 1 else ''}.",
                extra=[(b"retry-after", str(math.ceil(wait)).encode())],
            )
            return
        status: dict[str, int] = {}

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await _with_headers(scope, send)(message)

        await self.app(scope, replay, watch)
        if store is not None and status.get("code") == 401:
            await store.failed(account, address)
        elif store is not None and status.get("code") == 200:
            await store.succeeded(account)


def _with_headers(scope: Scope, send: Send) -> Send:
    """``send`` adding the security headers, and ``Secure`` to cookies over https."""
    secure = scope.get("scheme") in ("https", "wss")

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (name, value)
                for name, value in message.get("headers", [])
                if name.lower() not in {h for h, _ in SECURITY_HEADERS}
            ]
            if secure:
                headers = [
                    (name, value + b"; Secure")
                    if name.lower() == b"set-cookie" and b"secure" not in value.lower()
                    else (name, value)
                    for name, value in headers
                ]
            message["headers"] = [*headers, *SECURITY_HEADERS]
        await send(message)

    return wrapped


async def _refuse(
    scope: Scope,
    send: Send,
    receive: Receive,
    status: int,
    detail: str,
    *,
    clear: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer with ``status`` (an HTTP error, or a closed socket)."""
    if scope["type"] == "websocket":
        await receive()  # the websocket.connect message
        await send({"type": "websocket.close", "code": 4401 if status == 401 else 4403})
        return
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
        *(extra or []),
    ]
    if clear:
        headers.append((b"set-cookie", f"{AUTH_COOKIE}=; Max-Age=0; Path=/; HttpOnly".encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def session_id(token: str, secret: str) -> str | None:
    """The session id inside a valid sign-in token."""
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"])
    except jwt.InvalidTokenError:
        return None
    sid = (claims.get("metadata") or {}).get(SESSION_KEY)
    return sid if isinstance(sid, str) else None
