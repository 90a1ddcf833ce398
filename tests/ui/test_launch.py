"""``assistant ui`` refuses bad settings with one line and exit code 2, before starting."""

from __future__ import annotations

import socket

import pytest

from assistant.ui.launch import run_ui


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ASSISTANT_MAX_PARALLEL", "0", "invalid setting ASSISTANT_MAX_PARALLEL"),
        ("ASSISTANT_USERS", "alice", "invalid setting ASSISTANT_USERS"),
        ("OPENAI_BASE_URL", "localhost:11434", "invalid setting OPENAI_BASE_URL"),
    ],
)
def test_a_bad_setting_stops_the_start_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert run_ui("127.0.0.1", 8000) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}")
    assert err.count("\n") == 1


def test_a_bad_port_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_ui("127.0.0.1", 70000) == 2
    assert "invalid port" in capsys.readouterr().err


def test_a_port_in_use_is_reported_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_ui("127.0.0.1", port) == 1
    assert (
        capsys.readouterr().err
        == f"error: cannot listen on 127.0.0.1:{port}: address already in use\n"
    )


def test_a_public_address_without_accounts_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_ui("0.0.0.0", 8000) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to serve 0.0.0.0 without sign-in")
    assert "ASSISTANT_USERS" in err and "ASSISTANT_ALLOW_NO_AUTH" in err
    assert err.count("\n") == 1
