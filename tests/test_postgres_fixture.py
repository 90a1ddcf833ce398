"""The throwaway PostgreSQL server: reachable, usable by LangGraph, cleaned after a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from fakes.postgres import TempPostgres, clean_abandoned
from tests.conftest import ROOT


def test_the_server_answers_on_loopback_only(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)


def test_each_test_can_have_a_fresh_database(postgres_db: str, postgres_url: str) -> None:
    with psycopg.connect(postgres_db) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables.fetchone() == (0,)
        conn.execute("CREATE TABLE t (x int)")
    assert postgres_db != postgres_url


async def test_async_postgres_saver_puts_and_gets_a_checkpoint(postgres_db: str) -> None:
    async with AsyncPostgresSaver.from_conn_string(postgres_db) as saver:
        await saver.setup()
        checkpoint = empty_checkpoint()
        config = {"configurable": {"thread_id": "t1", "checkpoint_ns": ""}}
        saved = await saver.aput(config, checkpoint, {"source": "input", "step": -1}, {})
        found = await saver.aget_tuple({"configurable": {"thread_id": "t1"}})
    assert found is not None
    assert found.checkpoint["id"] == checkpoint["id"]
    assert found.config["configurable"]["checkpoint_id"] == saved["configurable"]["checkpoint_id"]
    assert found.metadata["step"] == -1


OWNER = """
from fakes.postgres import TempPostgres
pg = TempPostgres().start()
print(pg.dir, (pg.data / "postmaster.pid").read_text().split()[0], flush=True)
input()
"""


def test_a_server_left_by_a_killed_test_process_is_cleaned_next_time(
    postgres_server: TempPostgres,
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    run_dir, postmaster = owner.stdout.readline().split()
    owner.kill()  # kill -9: no teardown runs
    owner.wait()
    assert Path(run_dir).exists()
    os.kill(int(postmaster), 0)  # its server still runs

    assert Path(run_dir) in clean_abandoned()
    assert not Path(run_dir).exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(int(postmaster), 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the abandoned server is still running")
    # The session's own server (its owner is alive) was left alone.
    assert postgres_server.dir is not None and postgres_server.dir.exists()
    with psycopg.connect(postgres_server.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
