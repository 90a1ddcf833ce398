"""Faults from outside: locked databases, shared data directories, killed turns, 429 bursts.

Each case checks that the person sees a clear message, the thread stays usable and nothing
already saved is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import empty_checkpoint

from assistant.engine import Engine
from assistant.errors import describe
from assistant.events import Answer
from assistant.settings import Settings
from assistant.storage import SqliteDatabase
from assistant.storage.db import connect_sqlite
from assistant.storage.sqlite_saver import SettledSqliteSaver
from fakes.brain import Brain
from fakes.openai_server import HttpError, ScriptedOpenAI, Text
from tests.conftest import assistant_command
from tests.support import both_backends, chat, values


def hold_write_lock(path: Path, seconds: float) -> threading.Event:
    """Another 'process' (its own connection) holds the write lock on ``path`` for a while."""
    held = threading.Event()

    def run() -> None:
        conn = sqlite3.connect(path, timeout=5, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        conn.execute("ROLLBACK")
        conn.close()

    threading.Thread(target=run, daemon=True).start()
    assert held.wait(5)
    return held


async def test_a_briefly_locked_database_is_waited_for(
    engine: Engine, settings: Settings, brain: Brain
) -> None:
    await chat(engine, "lock", "hello")
    hold_write_lock(settings.checkpoint_path, 0.5)
    events = await chat(engine, "lock", "hello again")
    assert [e for e in events if isinstance(e, Answer)][-1].text == brain.answer


async def test_a_database_locked_too_long_is_reported_and_the_thread_survives(
    settings: Settings, brain: Brain
) -> None:
    quick = settings.model_copy(update={"db_timeout": 0.3})
    async with Engine.open(quick) as engine:
        await chat(engine, "lock", "first message")
        hold_write_lock(quick.checkpoint_path, 1.5)
        with pytest.raises(Exception) as failure:
            await chat(engine, "lock", "second message")
        assert "locked by another process" in describe(failure.value)
        await asyncio.sleep(1.5)
        events = await chat(engine, "lock", "third message")
        assert [e for e in events if isinstance(e, Answer)][-1].text == brain.answer
        messages = (await values(engine, "lock"))["messages"]
        said = [m.content for m in messages if isinstance(m, HumanMessage)]
        assert said[0] == "first message" and said[-1] == "third message"


def test_two_processes_share_one_data_directory(cli_env: dict[str, str], tmp_path: Path) -> None:
    runs = [
        subprocess.Popen(
            [
                *assistant_command(),
                "research",
                f"topic {i}",
                "--yes",
                "--thread",
                f"p{i}",
                "--out",
                str(tmp_path / f"r{i}.md"),
            ],
            env=cli_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for process in runs:
        _, err = process.communicate(timeout=90)
        assert process.returncode == 0, err
    for i in range(2):
        assert "## Sources" in (tmp_path / f"r{i}.md").read_text()
    listed = subprocess.run(
        [*assistant_command(), "threads"], env=cli_env, capture_output=True, text=True, check=True
    ).stdout
    assert "p0" in listed and "p1" in listed


_OPEN_STORAGE = """
import asyncio, sys
from langgraph.store.sqlite.aio import AsyncSqliteStore
from assistant.settings import load_settings
from assistant.storage import open_storage

if sys.argv[2] == "broken":
    async def broken(self):
        raise RuntimeError("the store could not be set up")
    AsyncSqliteStore.setup = broken

async def main():
    async with open_storage(load_settings(data_dir=sys.argv[1])):
        pass

try:
    asyncio.run(main())
except RuntimeError as exc:
    print("failed:", exc)
else:
    print("opened")
"""


def _open_storage(data_dir: Path, how: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    return subprocess.Popen(
        [sys.executable, "-c", _OPEN_STORAGE, str(data_dir), how],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_first_starts_at_once_set_up_one_data_directory_one_after_the_other(
    tmp_path: Path,
) -> None:
    """Four processes opening a fresh data directory at the same moment all succeed (two
    first starts of the CLI once raced in LangGraph's store migrations: "UNIQUE constraint
    failed: store_migrations.v")."""
    starts = [_open_storage(tmp_path / "data", "ok") for _ in range(4)]
    for start in starts:
        out, err = start.communicate(timeout=60)
        assert (start.returncode, out.strip()) == (0, "opened"), err


def test_a_failed_set_up_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    """A set-up that fails after its connection opened closes it: the process ends with
    the error instead of hanging on the connection's thread."""
    start = _open_storage(tmp_path / "data", "broken")
    out, err = start.communicate(timeout=60)
    assert "failed: the store could not be set up" in out, err


@both_backends
@pytest.mark.parametrize("turn", ["first", "later"])
def test_kill_during_a_chat_turn_then_the_turn_is_finished(
    cli_env: dict[str, str], llm: ScriptedOpenAI, brain: Brain, turn: str
) -> None:
    """A later turn's message goes in as an update of the last checkpoint, the first one's
    as the graph's input: either is kept by a process killed during the model call."""
    calls_before_kill = threading.Event()

    def slow_then_normal(request):  # type: ignore[no-untyped-def]
        if request.last_user == "tell me about tides" and not calls_before_kill.is_set():
            calls_before_kill.set()
            time.sleep(5)
        return brain(request)

    llm.responder = slow_then_normal

    def session(typed: str) -> subprocess.CompletedProcess[str]:
        """``assistant chat`` on the thread, until its input ends."""
        return subprocess.run(
            [*assistant_command(), "chat", "--thread", "killed"],
            env=cli_env,
            input=typed,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    if turn == "later":
        assert session("hello\n").returncode == 0
    chat = subprocess.Popen(
        [*assistant_command(), "chat", "--thread", "killed"],
        env=cli_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert chat.stdin is not None
    chat.stdin.write("tell me about tides\n")
    chat.stdin.flush()
    assert calls_before_kill.wait(30), "the model was never called"
    os.kill(chat.pid, signal.SIGKILL)
    chat.wait(timeout=10)

    again = session("")
    assert again.returncode == 0, again.stderr
    assert "interrupted; finishing it" in again.stderr
    assert brain.answer in again.stdout
    asked = [c.request for c in llm.calls if c.request.last_user == "tell me about tides"]
    human = [m["content"] for m in asked[-1].messages if m.get("role") == "user"]
    # the message was kept once, not lost and not duplicated
    assert human == (["hello"] if turn == "later" else []) + ["tell me about tides"]


async def test_a_burst_of_429s_with_retry_after_recovers(
    settings: Settings, llm: ScriptedOpenAI
) -> None:
    patient = settings.model_copy(update={"model_retries": 3})
    limited = HttpError(429, "slow down", {"Retry-After": "0", "retry-after-ms": "10"})
    llm.enqueue(limited, limited, limited, Text("finally"))
    async with Engine.open(patient) as engine:
        events = await chat(engine, "burst", "hello")
    assert [e for e in events if isinstance(e, Answer)][-1].text == "finally"
    assert [c.status for c in llm.calls] == [429, 429, 429, 200]


async def test_a_transaction_stopped_half_way_leaves_the_database_usable(tmp_path: Path) -> None:
    """A task stopped while its transaction begins (Stop during an approval's record, a
    server shutting down during a history batch): the ``BEGIN`` runs in the connection's
    thread all the same, so it is rolled back after it, and the connection is not left
    inside a transaction holding SQLite's write lock (every later transaction would fail,
    other processes would wait for the lock, and nothing written after would commit)."""
    db = await SqliteDatabase.open(tmp_path / "assistant.sqlite")
    try:
        await db.execute("CREATE TABLE notes (text TEXT)")

        async def write(text: str) -> None:
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO notes VALUES (?)", (text,))

        for _ in range(3):
            stopped = asyncio.ensure_future(write("never"))
            await asyncio.sleep(0)  # its BEGIN is on its way to the connection's thread
            stopped.cancel()
            with pytest.raises(asyncio.CancelledError):
                await stopped
        assert not db.conn.in_transaction
        await write("kept")
    finally:
        await db.close()
    with sqlite3.connect(tmp_path / "assistant.sqlite") as other:  # committed, lock free
        assert other.execute("SELECT text FROM notes").fetchall() == [("kept",)]
        other.execute("INSERT INTO notes VALUES ('another process')")


async def test_a_checkpoint_write_stopped_half_way_leaves_no_lock_behind(tmp_path: Path) -> None:
    """A run stopped while its checkpoint is written (LangGraph cancels the write it waits
    for): the write runs to its commit, so ``checkpoints.sqlite`` is not left locked for
    another process on the same data directory, whichever moment the stop comes at."""
    path = tmp_path / "checkpoints.sqlite"
    conn = await connect_sqlite(path, 5.0)
    saver = SettledSqliteSaver(conn)
    await saver.setup()
    config: Any = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    try:
        for moment in range(8):  # event-loop rounds before the stop
            checkpoint = empty_checkpoint()
            writes = saver.aput_writes(
                {"configurable": {**config["configurable"], "checkpoint_id": checkpoint["id"]}},
                [("messages", f"write {moment}")],
                "task",
            )
            for write in (saver.aput(config, checkpoint, {}, {}), writes):
                stopped = asyncio.ensure_future(write)
                for _ in range(moment):
                    await asyncio.sleep(0)
                stopped.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stopped
                await asyncio.sleep(0.02)  # the write, if begun, reaches its commit
                assert not conn.in_transaction, moment
                with contextlib.closing(sqlite3.connect(path, timeout=0)) as other:
                    other.execute("BEGIN IMMEDIATE")  # the write lock is free
                    other.rollback()
    finally:
        await conn.close()
