"""Phoenix tracing: spans of a real CLI run reach a local OTLP collector; off costs nothing.

Every traced run happens in a subprocess, so OpenTelemetry's process-wide tracer provider
never leaks from one test into another.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from assistant.tracing import TracingError, traces_url, tracing_config
from fakes.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.conftest import ROOT, assistant_command

OPENINFERENCE_SCOPE = "openinference.instrumentation.langchain"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """A local OTLP/HTTP collector standing in for Phoenix."""
    pytest.importorskip(
        "openinference.instrumentation.langchain",
        reason="the tracing extra is not installed: pip install -e '.[tracing]'",
    )
    with OtlpReceiver() as started:
        yield started


def node(span: ReceivedSpan) -> str | None:
    """The LangGraph node a span ran in, from its OpenInference metadata."""
    metadata = json.loads(span.get("metadata") or "{}")
    return metadata.get("langgraph_node")


def test_a_research_run_is_traced_with_its_thread_id(
    cli_env: dict[str, str], receiver: OtlpReceiver
) -> None:
    env = {
        **cli_env,
        "PHOENIX_COLLECTOR_ENDPOINT": receiver.url,
        "PHOENIX_API_KEY": "phx-test-key",
        "ASSISTANT_TRACE_PROJECT": "tides",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "gzip",
    }
    result = subprocess.run(
        [*assistant_command(), "research", "ocean tides", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    thread = re.search(r"^thread (\S+) ", result.stderr, flags=re.M)
    assert thread, result.stderr

    # The CLI flushes at exit: everything has arrived when the process is gone.
    spans = receiver.spans
    model_calls = [s for s in spans if s.get("openinference.span.kind") == "LLM"]
    # the plan, a writer and a verifier per section, the introduction
    assert sorted(node(s) or "" for s in model_calls) == ["plan", "synthesize", *["worker"] * 6]
    assert {"research", "plan", "review", "worker", "synthesize"} <= {s.name for s in spans}
    assert {s.get("session.id") for s in spans} == {thread.group(1)}
    assert len({s.trace_id for s in spans}) == 1  # one run, one trace tree
    assert {s.scope for s in spans} == {OPENINFERENCE_SCOPE}  # nobody else's instrumentation
    assert {s.resource.get("openinference.project.name") for s in spans} == {"tides"}
    assert {h.get("authorization") for h in receiver.headers} == {"Bearer phx-test-key"}
    assert {h.get("content-encoding") for h in receiver.headers} == {"gzip"}


def test_a_bad_endpoint_stops_the_start_with_one_line(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "PHOENIX_COLLECTOR_ENDPOINT": "localhost:6006"}
    result = subprocess.run(
        [*assistant_command(), "threads"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: invalid setting PHOENIX_COLLECTOR_ENDPOINT: must be an http:// or https:// "
        "URL such as http://localhost:6006 (got 'localhost:6006')"
    ]


def imported_modules(args: list[str], env: dict[str, str]) -> set[str]:
    """Every module ``python -X importtime ARGS`` imported."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[1].strip() for line in lines[1:]}  # the first is a header


def test_without_the_variable_help_loads_no_tracing_code(cli_env: dict[str, str]) -> None:
    modules = imported_modules(["-m", "assistant", "--help"], cli_env)
    assert "assistant.cli" in modules
    assert not {m for m in modules if m.startswith(("opentelemetry", "openinference"))}
    assert "assistant.tracing" not in modules


def test_without_the_variable_the_engine_loads_no_openinference(cli_env: dict[str, str]) -> None:
    modules = imported_modules(["-c", "import assistant.engine, assistant.ui.runtime"], cli_env)
    assert "assistant.engine" in modules
    # langsmith (under langchain) imports the OpenTelemetry SDK by itself, so only
    # OpenInference can be checked here; our module is imported by the UI, and imports
    # nothing of OpenTelemetry until tracing is set up.
    assert not {m for m in modules if m.startswith("openinference")}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://localhost:6006", "http://localhost:6006/v1/traces"),
        ("http://localhost:6006/", "http://localhost:6006/v1/traces"),
        ("https://phoenix.example/v1/traces", "https://phoenix.example/v1/traces"),
        ("https://app.example/s/team", "https://app.example/s/team/v1/traces"),
    ],
)
def test_endpoint_becomes_the_traces_url(given: str, expected: str) -> None:
    assert traces_url(given) == expected


@pytest.mark.parametrize(
    "given", ["localhost:6006", "ftp://host", "http://", "http://host:99999", "http://h:4317"]
)
def test_bad_endpoints_are_refused(given: str) -> None:
    with pytest.raises(TracingError, match="PHOENIX_COLLECTOR_ENDPOINT"):
        traces_url(given)


def test_config_reads_key_headers_and_project() -> None:
    assert tracing_config({}) is None
    assert tracing_config({"PHOENIX_COLLECTOR_ENDPOINT": " "}) is None
    config = tracing_config(
        {
            "PHOENIX_COLLECTOR_ENDPOINT": "http://phoenix:6006",
            "PHOENIX_API_KEY": "k",
            "PHOENIX_CLIENT_HEADERS": "X-Team=blue%20sky, x-env=dev",
        }
    )
    assert config is not None
    assert config.project == "assistant"
    assert config.headers == {"x-team": "blue sky", "x-env": "dev", "authorization": "Bearer k"}
    with pytest.raises(TracingError, match="PHOENIX_CLIENT_HEADERS"):
        tracing_config({"PHOENIX_COLLECTOR_ENDPOINT": "http://p", "PHOENIX_CLIENT_HEADERS": "x"})
