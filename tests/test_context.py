"""A run's context as other LangGraph clients send it: nothing, or some fields as JSON."""

from __future__ import annotations

import dataclasses

import pytest

from assistant.context import RunContext
from assistant.errors import InputError
from assistant.settings import MAX_PARALLEL, load_settings


def test_no_context_takes_the_settings() -> None:
    settings = load_settings(model="small", max_parallel=2, approve="research,write")
    context = RunContext.with_defaults(settings)()
    assert isinstance(context, RunContext)
    assert dataclasses.asdict(context) == dataclasses.asdict(RunContext.build(settings))


def test_partial_json_context_is_normalised() -> None:
    schema = RunContext.with_defaults(load_settings(model="small", models="big"))
    context = schema(**{"model": "big", "approve": ["calculate"], "max_parallel": "99"})
    assert context.model == "big"
    assert context.approve == frozenset({"calculate"})
    assert context.max_parallel == MAX_PARALLEL
    assert context.write_rounds == 2  # from the settings
    assert schema(approve="write, research").approve == frozenset({"write", "research"})
    assert schema(approve=[]).approve == frozenset()


def test_a_model_the_settings_do_not_allow_is_refused() -> None:
    schema = RunContext.with_defaults(load_settings(model="small"))
    with pytest.raises(InputError, match="'other' is not available here"):
        schema(model="other")
    assert RunContext(model="other").model == "other"  # the engine checks in build()
