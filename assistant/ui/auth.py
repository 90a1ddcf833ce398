"""Who may use the UI: password accounts from ``ASSISTANT_USERS`` or one local user.

With ``ASSISTANT_USERS="alice:secret1,bob:secret2"`` people sign in with a password;
without it the one local user is signed in automatically (Chainlit's header
authentication, so there is no login screen and the history still belongs to someone).
Chainlit signs its session cookies with ``CHAINLIT_AUTH_SECRET``; when that is not given,
``ensure_secret`` keeps one in the data directory so sign-ins survive restarts.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

USERS_ENV = "ASSISTANT_USERS"
LOCAL_USER = "local"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-")


class UsersError(ValueError):
    """``ASSISTANT_USERS`` is malformed; ``str()`` is one line saying how."""


def parse_users(value: str | None) -> dict[str, str]:
    """``"alice:secret1,bob:secret2"`` → ``{"alice": "secret1", "bob": "secret2"}``.

    An empty or missing value means no password accounts (the local user).
    """
    users: dict[str, str] = {}
    for entry in (value or "").split(","):
        if not entry.strip():
            continue
        name, colon, password = entry.strip().partition(":")
        if not colon or not name or not password:
            raise UsersError(
                f"invalid setting {USERS_ENV}: each entry must be name:password "
                f"(got {name or entry.strip()!r} without a password)"
            )
        if not set(name) <= _NAME_CHARS:
            raise UsersError(
                f"invalid setting {USERS_ENV}: user name {name!r} may only use letters, "
                "digits and . _ @ -"
            )
        if name in users:
            raise UsersError(f"invalid setting {USERS_ENV}: user {name!r} is listed twice")
        users[name] = password
    return users


def check_password(users: Mapping[str, str], name: str, password: str) -> bool:
    """True when ``password`` is ``name``'s, compared in constant time."""
    expected = users.get(name)
    # Compare against something even for unknown names, so timing does not reveal them.
    matches = hmac.compare_digest(
        (expected or secrets.token_urlsafe(16)).encode(), password.encode()
    )
    return expected is not None and matches


def ensure_secret(path: Path) -> str:
    """The auth secret stored at ``path``, created (mode 600) on first use."""
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    path.chmod(0o600)
    return secret
