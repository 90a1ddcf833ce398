"""Sign-in sessions that can be revoked, and throttling of failed sign-ins.

A session id travels inside the signed token; the token is only accepted while its
session row is live (not revoked, used recently enough, not too old). Logging out revokes
the row, so a copied token stops working at once. Failed sign-ins are counted per account
and per address in a window; past the limit, sign-in is refused until the window passes.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from assistant.storage.db import Database

TOUCH_EVERY_S = 60.0
"""A session's last use is written at most this often (not on every request)."""


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives."""

    idle_seconds: float = 3 * 24 * 3600
    max_age_seconds: float = 15 * 24 * 3600


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failed sign-ins a window allows."""

    window_seconds: float = 15 * 60
    per_account: int = 5
    per_address: int = 20


class AuthStore:
    """Sessions and failed sign-ins on one database."""

    def __init__(
        self,
        db: Database,
        sessions: SessionPolicy = SessionPolicy(),
        throttle: ThrottlePolicy = ThrottlePolicy(),
    ) -> None:
        """Use the ``auth_sessions`` and ``login_failures`` tables of ``db``."""
        self.db = db
        self.policy = sessions
        self.throttle = throttle

    async def open_session(self, user_id: str) -> str:
        """A new session for ``user_id``; returns its id."""
        sid = secrets.token_urlsafe(24)
        now = time.time()
        await self.db.execute(
            "INSERT INTO auth_sessions (sid, user_id, created_at, last_seen) VALUES (?, ?, ?, ?)",
            (sid, user_id, now, now),
        )
        return sid

    async def check_session(self, sid: str, user_id: str) -> bool:
        """Whether ``sid`` is a live session of ``user_id`` (and note that it was used)."""
        row = await self.db.fetchone(
            "SELECT created_at, last_seen, revoked_at FROM auth_sessions "
            "WHERE sid = ? AND user_id = ?",
            (sid, user_id),
        )
        if row is None:
            return False
        created, last_seen, revoked = row
        now = time.time()
        if revoked is not None:
            return False
        if now - last_seen > self.policy.idle_seconds:
            return False
        if now - created > self.policy.max_age_seconds:
            return False
        if now - last_seen > TOUCH_EVERY_S:
            await self.db.execute(
                "UPDATE auth_sessions SET last_seen = ? WHERE sid = ?", (now, sid)
            )
        return True

    async def revoke(self, sid: str) -> None:
        """End a session (logout)."""
        await self.db.execute(
            "UPDATE auth_sessions SET revoked_at = ? WHERE sid = ? AND revoked_at IS NULL",
            (time.time(), sid),
        )

    async def revoke_user(self, user_id: str) -> None:
        """End every session of ``user_id``."""
        await self.db.execute(
            "UPDATE auth_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            (time.time(), user_id),
        )

    async def retry_after(self, account: str, address: str) -> float:
        """Seconds until sign-in may be tried again for this account or address (0: now)."""
        now = time.time()
        wait = 0.0
        for key, limit in self._keys(account, address):
            row = await self.db.fetchone(
                "SELECT failures, first_at FROM login_failures WHERE key = ?", (key,)
            )
            if row is None:
                continue
            failures, first_at = row
            remaining = first_at + self.throttle.window_seconds - now
            if remaining > 0 and failures >= limit:
                wait = max(wait, remaining)
        return wait

    async def failed(self, account: str, address: str) -> None:
        """Count a failed sign-in against the account and the address."""
        now = time.time()
        window = self.throttle.window_seconds
        for key, _ in self._keys(account, address):
            await self.db.execute(
                "INSERT INTO login_failures (key, failures, first_at, last_at) "
                "VALUES (?, 1, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                "failures = CASE WHEN login_failures.first_at < ? THEN 1 "
                "ELSE login_failures.failures + 1 END, "
                "first_at = CASE WHEN login_failures.first_at < ? THEN excluded.first_at "
                "ELSE login_failures.first_at END, last_at = excluded.last_at",
                (key, now, now, now - window, now - window),
            )

    async def succeeded(self, account: str) -> None:
        """A correct password clears the account's failures (not the address's)."""
        await self.db.execute("DELETE FROM login_failures WHERE key = ?", (f"account:{account}",))

    def _keys(self, account: str, address: str) -> list[tuple[str, int]]:
        return [
            (f"account:{account}", self.throttle.per_account),
            (f"address:{address}", self.throttle.per_address),
        ]
