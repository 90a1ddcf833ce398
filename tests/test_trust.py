"""The promises people rely on, each proven against the real engine and its storage.

One decision per question, applied once; one run per thread at a time; an answered
question is never asked again; a conversation belongs to one person and deleting it
deletes all of it; nothing of a finished or stopped run stays in memory.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from assistant import approvals
from assistant.engine import Engine
from assistant.errors import InputError
from assistant.events import Answer, ApprovalNeeded, Document, Progress
from assistant.settings import Settings
from assistant.storage import (
    AlreadyDecided,
    ThreadBusy,
    ThreadKind,
    ThreadNotFound,
    ThreadStatus,
    WrongKind,
)
from assistant.storage.threads import this_host
from fakes.brain import WORKER_PROMPT, Brain
from fakes.openai_server import HttpError, ScriptedOpenAI
from fakes.search_server import FakeSearch
from tests.support import (
    OWNER,
    answer,
    both_backends,
    chat,
    checkpoint_tables,
    collect,
    of,
    pending,
    query,
    stored_bytes,
    the_approval,
    values,
)


def worker_calls(llm: ScriptedOpenAI) -> int:
    return sum(c.request.last_user.startswith(WORKER_PROMPT) for c in llm.calls)


async def planned(engine: Engine, thread: str, owner: str = OWNER) -> str:
    """A research request in a conversation, stopped at its plan; the question's id."""
    return the_approval(await chat(engine, thread, "research tides", owner)).interrupt_id


# --- one writer per thread ---------------------------------------------------------------


@both_backends
async def test_two_windows_approving_one_plan_run_the_research_once(
    engine: Engine, llm: ScriptedOpenAI, brain: Brain
) -> None:
    asked = await planned(engine, "t-two-approve")
    llm.latency = 0.2  # both answers arrive while the first research is still running

    async def approve() -> list[object]:
        return await answer(engine, "t-two-approve", asked, approvals.approve())

    outcomes = await asyncio.gather(approve(), approve(), return_exceptions=True)

    refused = [o for o in outcomes if isinstance(o, BaseException)]
    ran = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(ran) == 1 and len(refused) == 1
    assert isinstance(refused[0], ThreadBusy | AlreadyDecided | InputError)
    assert worker_calls(llm) == brain.sections  # every section prompt sent once
    assert len(of(Document, ran[0])) == 1  # one synthesis, one report


@both_backends
async def test_two_engines_on_one_database_run_a_thread_once(
    settings: Settings, llm: ScriptedOpenAI, brain: Brain
) -> None:
    """Two processes' engines (here two in one process) share one lease table."""
    async with Engine.open(settings) as first, Engine.open(settings) as second:
        asked = await planned(first, "t-two-engines")
        assert [p.interrupt_id for p in await pending(second, "t-two-engines")] == [asked]
        llm.latency = 0.2
        outcomes = await asyncio.gather(
            answer(first, "t-two-engines", asked, approvals.approve()),
            answer(second, "t-two-engines", asked, approvals.approve()),
            return_exceptions=True,
        )
        llm.latency = 0.0
        ran = [o for o in outcomes if not isinstance(o, BaseException)]
        refused = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(ran) == 1 and len(refused) == 1
        assert isinstance(refused[0], ThreadBusy | AlreadyDecided | InputError)
        assert worker_calls(llm) == brain.sections
        # the other engine sees the finished thread, and a later turn there works
        assert of(Answer, await chat(second, "t-two-engines", "thanks"))
        assert (await first.thread("t-two-engines", owner=OWNER)).pending == []


async def test_an_answer_after_the_question_was_answered_is_refused(engine: Engine) -> None:
    asked = await planned(engine, "t-late")
    await answer(engine, "t-late", asked, approvals.approve())
    with pytest.raises(InputError, match="no longer waiting"):
        await answer(engine, "t-late", asked, approvals.reject())


@both_backends
async def test_two_messages_at_once_never_leave_one_unseen(
    engine: Engine, llm: ScriptedOpenAI
) -> None:
    await chat(engine, "t-two-send", "hello")
    llm.latency = 0.3
    outcomes = await asyncio.gather(
        chat(engine, "t-two-send", "first at once"),
        chat(engine, "t-two-send", "second at once"),
        return_exceptions=True,
    )
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], ThreadBusy)
    assert "busy in another window" in str(refused[0])
    said = [
        m.content for m in (await values(engine, "t-two-send"))["messages"] if m.type == "human"
    ]
    # the message that ran is in the agent's state; the refused one is nowhere
    assert said[0] == "hello" and len(said) == 2
    assert said[1] in ("first at once", "second at once")
    last_request = llm.calls[-1].request
    assert said[1] in last_request.last_user


async def held(engine: Engine, thread_id: str, holder: str, expires_at: float) -> None:
    """The thread's lease as another run holds it, or left it by dying (its row is there:
    the thread ran before)."""
    changed = await engine.storage.db.execute(
        "UPDATE leases SET holder = ?, expires_at = ?, ended = NULL WHERE thread_id = ?",
        (holder, expires_at, thread_id),
    )
    assert changed == 1


@both_backends
async def test_a_dead_runs_lease_is_taken_over_at_once(engine: Engine) -> None:
    await chat(engine, "t-dead-lease", "hello")
    dead = f"{this_host()}:999999999:gone"  # no such process on this host
    await held(engine, "t-dead-lease", dead, time.time() + 3600)
    assert not await engine.storage.threads.is_running("t-dead-lease")
    events = await chat(engine, "t-dead-lease", "after the crash")
    assert of(Answer, events)


async def test_a_run_in_another_container_with_the_same_host_name_is_not_judged_dead(
    engine: Engine,
) -> None:
    """Containers on host networking share a host name, not process ids."""
    await chat(engine, "t-container", "hello")
    elsewhere = f"{socket.gethostname()}/1:999999999:run"  # another pid namespace
    await held(engine, "t-container", elsewhere, time.time() + 3600)
    assert await engine.storage.threads.is_running("t-container")
    with pytest.raises(ThreadBusy):
        await chat(engine, "t-container", "hello again")


@both_backends
async def test_a_live_lease_elsewhere_makes_the_thread_busy(engine: Engine) -> None:
    await chat(engine, "t-live-lease", "hello")
    await held(engine, "t-live-lease", "another-machine:1:run", time.time() + 3600)
    with pytest.raises(ThreadBusy):
        await chat(engine, "t-live-lease", "hello again")
    view = await engine.thread("t-live-lease", owner=OWNER)
    assert view.running and not view.pending


@both_backends
async def test_a_run_refused_for_its_thread_takes_no_lease(engine: Engine) -> None:
    """Another owner's thread, or a deleted one: refused, and no lease is left behind that
    would make the thread busy (on PostgreSQL the row and the lease are one statement)."""
    await chat(engine, "t-no-lease", "hello")
    with pytest.raises(ThreadNotFound):
        await chat(engine, "t-no-lease", "hello", owner="bob")
    with pytest.raises(WrongKind):  # its owner, but a chat thread asked to research
        await collect(engine.research("t-no-lease", "tides", owner=OWNER))
    leases = "SELECT COUNT(*) FROM leases WHERE thread_id = ? AND ended IS NULL"
    assert await engine.storage.db.fetchone(leases, ("t-no-lease",)) == (0,)
    assert of(Answer, await chat(engine, "t-no-lease", "still mine"))
    await engine.delete("t-no-lease", owner=OWNER)
    with pytest.raises(ThreadNotFound):
        await chat(engine, "t-no-lease", "after deleting", owner=OWNER)
    assert await engine.storage.db.fetchone(leases, ("t-no-lease",)) == (0,)


@both_backends
async def test_an_expired_lease_elsewhere_is_taken_over(engine: Engine) -> None:
    await chat(engine, "t-expired", "hello")
    await held(engine, "t-expired", "another-machine:1:run", time.time() - 1)
    assert of(Answer, await chat(engine, "t-expired", "hello again"))


# --- a turn after a finished one -----------------------------------------------------------


@both_backends
async def test_a_run_knows_whether_the_one_before_reached_its_end(engine: Engine) -> None:
    """Read from the lease in the statement that takes it: the thread's status would still
    say "done" after a later run died without recording its end."""
    threads = engine.storage.threads

    async def start(holder: str) -> bool:
        begun = await threads.begin_run(
            "t-rest", kind=ThreadKind.CHAT, owner=OWNER, title="t", holder=holder, create=True
        )
        return begun.at_rest

    assert not await start("h1")  # a new thread
    await threads.end_run("t-rest", "h1", ThreadStatus.DONE)
    assert await start("h2")
    await threads.end_run("t-rest", "h2", ThreadStatus.INTERRUPTED, ThreadStatus.DONE)
    assert not await start("h3")  # stopped
    await threads.end_run("t-rest", "h3", ThreadStatus.DONE, ThreadStatus.INTERRUPTED)
    assert await start("h4")
    await held(engine, "t-rest", f"{this_host()}:999999999:gone", time.time() + 3600)  # died
    row = await threads.get("t-rest", OWNER)
    assert row is not None and row.status is ThreadStatus.DONE  # its row does not know
    assert not await start("h5")
    await threads.end_run("t-rest", "h5", ThreadStatus.WAITING, ThreadStatus.DONE)
    assert not await start("h6")
    with pytest.raises(ThreadBusy):  # h6 holds it
        await start("h7")


@both_backends
async def test_a_refused_run_after_one_that_died_leaves_the_thread_unsettled(
    engine: Engine,
) -> None:
    """A run refused before it starts (here an answer to no question) releases the lease as
    the run before left the thread: interrupted, though its row still said done."""
    await chat(engine, "t-died", "hello")
    await held(engine, "t-died", f"{this_host()}:999999999:gone", time.time() + 3600)
    with pytest.raises(InputError):
        await answer(engine, "t-died", "no-such-question", approvals.approve())
    info = await engine.storage.threads.get("t-died", OWNER)
    assert info is not None and info.status is ThreadStatus.INTERRUPTED
    begun = await engine.storage.threads.begin_run(
        "t-died", kind=ThreadKind.CHAT, owner=OWNER, title=None, holder="h", create=False
    )
    assert not begun.at_rest


def user_messages(llm: ScriptedOpenAI, last: str | None = None) -> list[str]:
    """What the person said, as the last model call (the last about ``last``) was sent it."""
    calls = [c for c in llm.calls if last is None or c.request.last_user == last]
    return [m["content"] for m in calls[-1].request.messages if m.get("role") == "user"]


def said(messages: list[Any]) -> list[tuple[str, str]]:
    return [(m.type, m.content) for m in messages]


@both_backends
async def test_a_turn_after_a_finished_one_writes_one_checkpoint(
    engine: Engine, llm: ScriptedOpenAI, brain: Brain
) -> None:
    """The message goes in as an update of the last checkpoint: no checkpoint for the input
    and none for LangGraph's start step."""
    config = {"configurable": {"thread_id": "t-one"}}
    graph = engine.graphs[ThreadKind.CHAT]

    async def checkpoints() -> int:
        return len([state async for state in graph.aget_state_history(config)])

    await chat(engine, "t-one", "first")
    first = await checkpoints()
    assert first == 3  # a new thread: the input, the start step, the model
    assert of(Answer, await chat(engine, "t-one", "second"))
    assert await checkpoints() == first + 1
    assert said((await values(engine, "t-one"))["messages"]) == [
        ("human", "first"),
        ("ai", brain.answer),
        ("human", "second"),
        ("ai", brain.answer),
    ]
    assert user_messages(llm) == ["first", "second"]


@both_backends
async def test_a_later_turn_stopped_during_the_model_call_keeps_its_message_once(
    engine: Engine, llm: ScriptedOpenAI, brain: Brain
) -> None:
    await chat(engine, "t-cut", "first")
    answering = threading.Event()

    def slow_second(request):  # type: ignore[no-untyped-def]
        if request.last_user == "second" and not answering.is_set():
            answering.set()
            time.sleep(2)
        return brain(request)

    llm.responder = slow_second
    task = asyncio.create_task(chat(engine, "t-cut", "second"))
    assert await asyncio.to_thread(answering.wait, 30), "the model was never called"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    view = await engine.thread("t-cut", owner=OWNER)
    assert view.unfinished and not view.running  # the page offers to continue it
    assert view.info.status is ThreadStatus.INTERRUPTED
    assert said((await values(engine, "t-cut"))["messages"])[-1] == ("human", "second")
    assert of(Answer, await chat(engine, "t-cut", "third"))
    assert user_messages(llm, last="third") == ["first", "second", "third"]
    assert said((await values(engine, "t-cut"))["messages"]) == [
        ("human", "first"),
        ("ai", brain.answer),
        ("human", "second"),
        ("human", "third"),
        ("ai", brain.answer),
    ]


@both_backends
async def test_a_later_turn_whose_model_failed_is_continued(
    engine: Engine, llm: ScriptedOpenAI, brain: Brain
) -> None:
    await chat(engine, "t-fail", "first")
    llm.enqueue(*[HttpError(500, "Boom")] * 2)
    with pytest.raises(openai.InternalServerError):
        await chat(engine, "t-fail", "second")
    view = await engine.thread("t-fail", owner=OWNER)
    assert view.unfinished and view.info.status is ThreadStatus.FAILED
    events = await collect(engine.continue_run("t-fail", owner=OWNER))
    assert [a.text for a in of(Answer, events)] == [brain.answer]
    assert user_messages(llm) == ["first", "second"]
    assert said((await values(engine, "t-fail"))["messages"]) == [
        ("human", "first"),
        ("ai", brain.answer),
        ("human", "second"),
        ("ai", brain.answer),
    ]
    assert not (await engine.thread("t-fail", owner=OWNER)).unfinished


@both_backends
async def test_a_question_asked_in_a_later_turn_is_answered_and_the_next_turn_runs(
    engine: Engine, llm: ScriptedOpenAI, brain: Brain
) -> None:
    """The approval gate, a subgraph's question and the resume all work on a turn that went
    in as an update, and the turn after the answer is one again."""
    await chat(engine, "t-ask", "hello")
    asked = the_approval(await chat(engine, "t-ask", "research tides"))
    assert asked.request.action.name == "research"
    events = await answer(engine, "t-ask", asked.interrupt_id, approvals.approve())
    assert of(Document, events) and of(Answer, events)
    assert await pending(engine, "t-ask") == []
    assert of(Answer, await chat(engine, "t-ask", "thanks"))
    assert user_messages(llm) == ["hello", "research tides", "thanks"]
    assert not (await engine.thread("t-ask", owner=OWNER)).unfinished


# --- answered questions are never asked again ---------------------------------------------


async def stopped_after_approval(engine: Engine, llm: ScriptedOpenAI, thread: str) -> str:
    """Approve a plan, then stop the run while its workers work; the question's id."""
    asked = await planned(engine, thread)
    llm.latency = 0.5
    task = asyncio.create_task(answer(engine, thread, asked, approvals.approve()))
    await asyncio.sleep(0.3)  # the workers are waiting on the model
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    llm.latency = 0.0
    return asked


async def test_after_stop_the_approved_plan_is_not_asked_again(
    engine: Engine, llm: ScriptedOpenAI
) -> None:
    asked = await stopped_after_approval(engine, llm, "t-stop")
    view = await engine.thread("t-stop", owner=OWNER)
    assert view.pending == [] and view.unfinished and not view.running
    assert view.info.status is ThreadStatus.INTERRUPTED
    # a Reject of the stale plan (a window still showing its buttons) does nothing
    with pytest.raises(InputError, match="no longer waiting"):
        await answer(engine, "t-stop", asked, approvals.reject())
    assert len(engine.runs) == 0  # nothing of the stopped run stays in memory
    events = await collect(engine.continue_run("t-stop", owner=OWNER))
    assert not of(ApprovalNeeded, events)
    assert len(of(Document, events)) == 1


async def test_after_stop_the_next_message_is_answered_at_once(
    engine: Engine, llm: ScriptedOpenAI, brain: Brain
) -> None:
    await stopped_after_approval(engine, llm, "t-stop-msg")
    events = await chat(engine, "t-stop-msg", "hello instead")
    assert of(Answer, events)[-1].text == brain.answer


@both_backends
async def test_an_answer_survives_a_crash_of_the_run_it_started(
    settings: Settings, llm: ScriptedOpenAI, brain: Brain
) -> None:
    async with Engine.open(settings) as first:
        asked = await stopped_after_approval(first, llm, "t-crash")
    # a new process: the answer was recorded, the plan is not asked again
    async with Engine.open(settings) as second:
        view = await second.thread("t-crash", owner=OWNER)
        assert view.pending == [] and view.unfinished
        with pytest.raises(InputError):
            await answer(second, "t-crash", asked, approvals.reject())
        events = await collect(second.continue_run("t-crash", owner=OWNER))
    assert not of(ApprovalNeeded, events)
    [report] = of(Document, events)
    assert report.markdown.count("\n## ") == brain.sections + 1
    boards = of(Progress, events)
    assert boards and boards[-1].finished == brain.sections


async def test_a_gated_tool_approved_then_crashed_is_not_asked_again(
    settings: Settings, llm: ScriptedOpenAI
) -> None:
    from fakes.openai_server import Hang

    async with Engine.open(settings) as first:
        asked = the_approval(
            await chat(first, "t-tool-crash", "write a poem", approve=["write"])
        ).interrupt_id
        llm.enqueue(Hang(30))  # the write tool's first model call never answers
        task = asyncio.create_task(
            answer(first, "t-tool-crash", asked, approvals.approve(), approve=["write"])
        )
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    llm.reset()
    async with Engine.open(settings) as second:
        assert (await second.thread("t-tool-crash", owner=OWNER)).pending == []
        events = await collect(second.continue_run("t-tool-crash", owner=OWNER))
    assert not of(ApprovalNeeded, events)
    assert of(Answer, events)


# --- ownership and deletion --------------------------------------------------------------


@both_backends
async def test_another_person_cannot_use_a_thread(engine: Engine, llm: ScriptedOpenAI) -> None:
    asked = await planned(engine, "t-alice", owner="alice")
    calls = len(llm.calls)
    with pytest.raises(ThreadNotFound):
        await chat(engine, "t-alice", "hello", owner="bob")
    with pytest.raises(ThreadNotFound):
        await answer(engine, "t-alice", asked, approvals.approve(), owner="bob")
    with pytest.raises(ThreadNotFound):
        await collect(engine.continue_run("t-alice", owner="bob"))
    with pytest.raises(ThreadNotFound):
        await engine.thread("t-alice", owner="bob")
    with pytest.raises(ThreadNotFound):
        await engine.delete("t-alice", owner="bob")
    assert await engine.threads(owner="bob") == []
    assert [t.thread_id for t in await engine.threads(owner="alice")] == ["t-alice"]
    assert len(llm.calls) == calls  # nothing of bob's reached a model
    assert len(await pending(engine, "t-alice", owner="alice")) == 1


@both_backends
async def test_delete_removes_everything_and_the_id_cannot_be_taken_over(
    engine: Engine, settings: Settings, llm: ScriptedOpenAI
) -> None:
    secret = "my secret project codename is BLUEFINCH"
    await chat(engine, "t-delete", secret, owner="alice")
    asked = the_approval(await chat(engine, "t-delete", "research tides", owner="alice"))
    await answer(engine, "t-delete", asked.interrupt_id, approvals.approve(), owner="alice")
    await engine.storage.history.db.execute(
        'INSERT INTO threads ("id", "name", "userIdentifier") VALUES (?, ?, ?)',
        ("t-delete", secret, "alice"),
    )
    await engine.storage.history.db.execute(
        'INSERT INTO steps ("id", "name", "type", "threadId", "output") VALUES (?, ?, ?, ?, ?)',
        ("s1", "alice", "user_message", "t-delete", secret),
    )
    assert query(
        settings, "checkpoints", "SELECT 1 FROM checkpoints WHERE thread_id = ?", "t-delete"
    )
    assert query(settings, "store", "SELECT 1 FROM files WHERE thread_id = ?", "t-delete")
    assert any(b"BLUEFINCH" in data for data in stored_bytes(settings).values())

    await engine.delete("t-delete", owner="alice")

    for table in checkpoint_tables(settings):
        assert (
            query(settings, "checkpoints", f"SELECT 1 FROM {table} WHERE thread_id = ?", "t-delete")
            == []
        )
    assert query(
        settings, "store", "SELECT title FROM threads WHERE thread_id = ?", "t-delete"
    ) == [("",)]
    for table in ("sections", "files", "decisions", "leases"):
        assert (
            query(settings, "store", f"SELECT 1 FROM {table} WHERE thread_id = ?", "t-delete") == []
        )
    assert query(settings, "history", 'SELECT 1 FROM steps WHERE "threadId" = ?', "t-delete") == []
    assert query(settings, "history", 'SELECT 1 FROM threads WHERE "id" = ?', "t-delete") == []
    # not the words anywhere: SQLite's files (no free page, no write-ahead log still holds
    # them), PostgreSQL's every table
    for where, data in stored_bytes(settings).items():
        assert b"BLUEFINCH" not in data, f"{where} still holds it"
    assert await engine.threads(owner="alice") == []

    # nobody can take the id over, and nothing of the old conversation reaches a model
    llm.reset()
    for who in ("bob", "alice"):
        with pytest.raises(ThreadNotFound):
            await chat(engine, "t-delete", "what was the codename?", owner=who)
    assert llm.calls == []


async def test_chat_and_research_threads_refuse_the_other_command(engine: Engine) -> None:
    await chat(engine, "t-a-chat", "hello")
    with pytest.raises(WrongKind, match="chat thread"):
        await collect(engine.research("t-a-chat", "tides", owner=OWNER))
    await collect(engine.research("t-a-research", "tides", owner=OWNER))
    with pytest.raises(WrongKind, match="research thread"):
        await chat(engine, "t-a-research", "hello")


# --- files on disk -------------------------------------------------------------------------


async def test_the_data_directory_and_its_files_are_private(
    engine: Engine, settings: Settings
) -> None:
    await chat(engine, "t-private", "hello")
    assert stat.S_IMODE(os.stat(settings.data_dir).st_mode) == 0o700
    for path in settings.data_dir.iterdir():
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


async def test_an_existing_world_readable_data_directory_is_tightened(
    llm: ScriptedOpenAI, search: FakeSearch, tmp_path: Path
) -> None:
    from fakes import local_settings

    data = tmp_path / "open"
    data.mkdir(mode=0o755)
    (data / "checkpoints.sqlite").touch(mode=0o644)
    async with Engine.open(local_settings(llm, search, data)):
        pass
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    assert stat.S_IMODE((data / "checkpoints.sqlite").stat().st_mode) == 0o600


async def test_status_is_recorded_per_thread(engine: Engine) -> None:
    await planned(engine, "t-status-wait")
    await collect(engine.research("t-status-r", "tides", owner=OWNER))
    [asked] = await pending(engine, "t-status-r")
    await collect(
        engine.resume("t-status-r", {asked.interrupt_id: approvals.reject()}, owner=OWNER)
    )
    statuses = {t.thread_id: t.status for t in await engine.threads(owner=OWNER)}
    assert statuses == {
        "t-status-wait": ThreadStatus.WAITING,
        "t-status-r": ThreadStatus.REJECTED,
    }
    assert (await engine.thread("t-status-r", owner=OWNER)).info.kind is ThreadKind.RESEARCH
