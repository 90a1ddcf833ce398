"""Settings come from the environment, are validated at start and fail in one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.settings import TOOL_NAMES, SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings()
    assert s.openai_api_key is None
    assert s.openai_base_url is None
    assert s.model == "gpt-5-mini"
    assert s.search_providers == ("duckduckgo",)
    assert s.max_parallel == 4
    assert s.approve == frozenset({"research"})
    assert s.model_timeout == 60.0
    assert s.model_retries == 3
    assert s.max_model_calls == 12
    assert s.max_tool_calls == 16
    assert s.context_tokens == 16_000
    assert s.search_results == 5
    assert s.write_rounds == 2


def test_default_data_dir_follows_home(tmp_path: Path) -> None:
    assert load_settings().data_dir == tmp_path / "home" / ".local" / "share" / "assistant"


def test_paths_live_in_the_data_dir(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path / "d")
    assert s.checkpoint_path == tmp_path / "d" / "checkpoints.sqlite"
    assert s.store_path == tmp_path / "d" / "assistant.sqlite"
    assert s.history_path == tmp_path / "d" / "chainlit.sqlite"


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://localhost:11434/v1/")
    monkeypatch.setenv("ASSISTANT_MODEL", "llama3")
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "x"))
    monkeypatch.setenv("ASSISTANT_MAX_PARALLEL", "8")
    monkeypatch.setenv("ASSISTANT_SEARCH_PROVIDER", "searxng")
    monkeypatch.setenv("SEARXNG_URL", "http://127.0.0.1:8888")
    s = load_settings()
    assert s.openai_api_key is not None and s.openai_api_key.get_secret_value() == "sk-test"
    assert "sk-test" not in repr(s)
    assert s.openai_base_url == "http://localhost:11434/v1"  # trailing slash dropped
    assert s.model == "llama3"
    assert s.data_dir == tmp_path / "x"
    assert s.max_parallel == 8
    assert s.search_providers == ("searxng",)
    assert s.searxng_url == "http://127.0.0.1:8888"


def test_overrides_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MAX_PARALLEL", "8")
    assert load_settings(max_parallel=2).max_parallel == 2


def test_empty_base_url_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    assert load_settings().openai_base_url is None


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("ASSISTANT_MAX_PARALLEL", "abc", "integer"),
        ("ASSISTANT_MAX_PARALLEL", "0", "greater than or equal to 1"),
        ("ASSISTANT_MAX_PARALLEL", "17", "less than or equal to 16"),
        ("ASSISTANT_APPROVE", "foo", "unknown tool foo"),
        ("ASSISTANT_APPROVE", "research, rm_rf", "unknown tool rm_rf"),
        ("ASSISTANT_SEARCH_PROVIDER", "bing", "duckduckgo"),
        ("OPENAI_BASE_URL", "ftp://x", "must start with http:// or https://"),
        ("SEARXNG_URL", "localhost:8888", "must start with http://"),
        ("ASSISTANT_MODEL_TIMEOUT", "-1", "greater than 0"),
        ("ASSISTANT_MODEL_RETRIES", "many", "integer"),
        ("ASSISTANT_CONTEXT_TOKENS", "10", "greater than or equal to 1000"),
        ("ASSISTANT_SEARCH_RATE", "0", "greater than 0"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"invalid setting {name}: ")
    assert says in text
    assert repr(value) in text


def test_invalid_override_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"^invalid setting ASSISTANT_MAX_TOOL_CALLS: "):
        load_settings(max_tool_calls=0)


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("all", frozenset(TOOL_NAMES)),
        ("ALL", frozenset(TOOL_NAMES)),
        ("none", frozenset()),
        ("", frozenset()),
        ("research, web_search", frozenset({"research", "web_search"})),
        (" Calculate ,write,", frozenset({"calculate", "write"})),
    ],
)
def test_approve_list(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: frozenset[str]
) -> None:
    monkeypatch.setenv("ASSISTANT_APPROVE", value)
    assert load_settings().approve == expected


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValueError):
        s.max_parallel = 2


def test_models_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().allowed_models == ("gpt-5-mini",)
    monkeypatch.setenv("ASSISTANT_MODELS", "big, small ,big")
    monkeypatch.setenv("ASSISTANT_MODEL", "small")
    assert load_settings().allowed_models == ("small", "big")


@pytest.mark.parametrize("origins", ["chat.example.org", "https://a.b/path", "ftp://x.y"])
def test_allowed_origins_must_be_origins(monkeypatch: pytest.MonkeyPatch, origins: str) -> None:
    monkeypatch.setenv("ASSISTANT_ALLOWED_ORIGINS", origins)
    with pytest.raises(SettingsError, match="ASSISTANT_ALLOWED_ORIGINS"):
        load_settings()


def test_search_providers_take_a_fallback_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_SEARCH_PROVIDER", "duckduckgo, searxng")
    assert load_settings().search_providers == ("duckduckgo", "searxng")
    monkeypatch.setenv("ASSISTANT_SEARCH_PROVIDER", "duckduckgo,bing")
    with pytest.raises(
        SettingsError, match="ASSISTANT_SEARCH_PROVIDER: unknown search provider bing"
    ):
        load_settings()


def test_fetch_allow_takes_hosts_and_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_FETCH_ALLOW", "wiki.corp, 10.1.0.0/16 127.0.0.1")
    assert load_settings().fetch_allow == ("wiki.corp", "10.1.0.0/16", "127.0.0.1/32")
