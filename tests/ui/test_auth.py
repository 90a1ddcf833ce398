"""Sign-in settings: ASSISTANT_USERS, password checks, the kept auth secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.ui.auth import UsersError, check_password, ensure_secret, parse_users


def test_users_are_parsed_from_name_password_pairs() -> None:
    assert parse_users("alice:secret1, bob:s:e:c") == {"alice": "secret1", "bob": "s:e:c"}
    assert parse_users("") == {}
    assert parse_users(None) == {}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("alice", "name:password"),
        ("alice:", "name:password"),
        (":pw", "name:password"),
        ("al ice:pw", "may only use"),
        ("alice:a,alice:b", "listed twice"),
    ],
)
def test_malformed_users_are_refused_with_one_line(value: str, reason: str) -> None:
    with pytest.raises(UsersError, match=reason) as raised:
        parse_users(value)
    assert "ASSISTANT_USERS" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_passwords_are_checked_per_user() -> None:
    users = {"alice": "secret1", "bob": "secret2"}
    assert check_password(users, "alice", "secret1")
    assert not check_password(users, "alice", "secret2")
    assert not check_password(users, "carol", "secret1")
    assert not check_password(users, "alice", "")


def test_the_secret_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "auth_secret"
    first = ensure_secret(path)
    assert len(first) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert ensure_secret(path) == first
