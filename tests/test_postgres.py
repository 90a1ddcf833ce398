"""The PostgreSQL backend: one-line start-up errors, schemas created and upgraded in place,
processes starting at once, files as bytes. (The engine's promises run on it too: see
``both_backends`` in test_trust, test_resume, test_robustness and test_cli.)"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from assistant.errors import describe
from assistant.history import TABLES as HISTORY_TABLES
from assistant.settings import Settings, SettingsError, load_settings
from assistant.storage import FileStore, PostgresDatabase, StoredFile, open_storage
from assistant.storage.postgres import HISTORY_SCHEMA, for_psycopg
from assistant.storage.schema import TABLES
from assistant.ui.launch import run_ui
from fakes.postgres import TempPostgres, free_port
from tests.conftest import assistant_command

FIX = "check ASSISTANT_DATABASE_URL."


def test_placeholders_become_psycopg_ones_outside_quotes() -> None:
    sql = "SELECT '?', \"a?\" FROM t WHERE x = ? AND y LIKE 'a%' AND z = ?"
    assert for_psycopg(sql) == (
        "SELECT '?', \"a?\" FROM t WHERE x = %s AND y LIKE 'a%%' AND z = %s"
    )


def test_a_database_url_that_is_not_postgresql_is_refused_without_echoing_it() -> None:
    for url in ("mysql://root:hunter2@db/app", "postgresql://u:hunter2@db:99999/app"):
        with pytest.raises(SettingsError) as refused:
            load_settings(database_url=url)
        assert str(refused.value).startswith("invalid setting ASSISTANT_DATABASE_URL: ")
        assert "hunter2" not in str(refused.value)
    settings = load_settings(database_url="postgres://u:hunter2@db/app")
    assert "hunter2" not in repr(settings)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


@pytest.fixture(scope="module")
def bad_urls(postgres_server: TempPostgres) -> dict[str, tuple[str, int, str]]:
    """Each failure: its URL, the exit code and the line a person sees."""
    postgres_server.add_password_user("carol", "right-password")
    at = f"127.0.0.1:{postgres_server.port}"
    closed = free_port()
    empty = postgres_server.create_database()
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute("CREATE ROLE reader LOGIN")  # may connect, may not create tables
    return {
        "no rights": (
            empty.replace("postgres@", "reader@"),
            2,
            f"The database at {at} does not let reader create the assistant's tables "
            "(permission denied for schema public): grant it CREATE on the database and its "
            "schema, or " + FIX,
        ),
        "wrong password": (
            f"postgresql://carol:wrong-password@{at}/postgres",
            2,
            f"The database at {at} refused the connection (wrong password for user carol): " + FIX,
        ),
        "no such database": (
            f"postgresql://postgres@{at}/nowhere",
            2,
            f"The database at {at} refused the connection (no database nowhere): " + FIX,
        ),
        "nothing listens": (
            f"postgresql://postgres@127.0.0.1:{closed}/postgres",
            1,
            f"Cannot connect to the database at 127.0.0.1:{closed} (connection refused): " + FIX,
        ),
        "not a URL": (
            "mysql://root:wrong-password@db/app",
            2,
            "invalid setting ASSISTANT_DATABASE_URL: must be a PostgreSQL URL like "
            "postgresql://user:password@host:5432/assistant",
        ),
    }


CASES = ["wrong password", "no such database", "nothing listens", "not a URL"]
"""Found before the server starts; "no rights" only once it creates its tables."""


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "wrong-password" not in stderr
    return lines[0]


@pytest.mark.parametrize("case", [*CASES, "no rights"])
def test_the_command_line_says_what_is_wrong_with_the_database_in_one_line(
    case: str, bad_urls: dict[str, tuple[str, int, str]], cli_env: dict[str, str]
) -> None:
    url, code, line = bad_urls[case]
    result = subprocess.run(
        [*assistant_command(), "threads"],
        env={**cli_env, "ASSISTANT_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert one_error_line(result.stderr) == f"error: {line}"
    assert result.returncode == code


@pytest.mark.parametrize("case", CASES)
def test_the_ui_does_not_start_on_a_bad_database(
    case: str,
    bad_urls: dict[str, tuple[str, int, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, code, line = bad_urls[case]
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", url)
    assert run_ui("127.0.0.1", free_port()) == code
    assert one_error_line(capsys.readouterr().err) == f"error: {line}"


def test_a_database_that_never_answers_is_given_up_on_in_time(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with silent_server() as port:
        monkeypatch.setenv("ASSISTANT_DATABASE_URL", f"postgresql://u:pw@127.0.0.1:{port}/db")
        monkeypatch.setenv("ASSISTANT_DB_TIMEOUT", "1")
        assert run_ui("127.0.0.1", free_port()) == 1
    assert one_error_line(capsys.readouterr().err) == (
        f"error: Cannot connect to the database at 127.0.0.1:{port} (no answer within 2 s): " + FIX
    )


def test_a_ui_server_that_cannot_create_its_tables_exits_with_one_line(
    bad_urls: dict[str, tuple[str, int, str]], cli_env: dict[str, str], tmp_path: Path
) -> None:
    url, code, line = bad_urls["no rights"]
    result = subprocess.run(
        [*assistant_command(), "ui", "--port", str(free_port())],
        env={**cli_env, "ASSISTANT_DATABASE_URL": url, "CHAINLIT_AUTH_SECRET": "s" * 48},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert "Traceback" not in result.stderr
    assert [e for e in result.stderr.splitlines() if e.startswith("error")] == [f"error: {line}"]
    assert result.returncode == code


# --- schemas ---------------------------------------------------------------------------------


def columns(url: str, schema: str, table: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s",
            (schema, table),
        ).fetchall()
    return {str(row[0]) for row in rows}


async def test_every_table_is_created_in_its_schema(settings_pg: Settings) -> None:
    url = settings_pg.postgres_url
    assert url is not None
    async with open_storage(settings_pg):
        pass
    for table, wanted in TABLES.items():
        assert columns(url, "public", table) == set(wanted)
    for table, wanted in HISTORY_TABLES.items():
        assert columns(url, HISTORY_SCHEMA, table) == set(wanted)
    assert {"checkpoints", "checkpoint_writes", "checkpoint_blobs"} <= tables_in(url, "public")


def tables_in(url: str, schema: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {str(row[0]) for row in rows}


async def test_an_old_database_is_upgraded_in_place(settings_pg: Settings) -> None:
    url = settings_pg.postgres_url
    assert url is not None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE threads (thread_id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
            "title TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL, "
            "updated_at DOUBLE PRECISION NOT NULL)"
        )
        conn.execute("INSERT INTO threads VALUES ('old', 'chat', 'kept', 1, 2)")
        conn.execute(f"CREATE SCHEMA {HISTORY_SCHEMA}")
        conn.execute(
            f'CREATE TABLE {HISTORY_SCHEMA}.steps ("id" TEXT PRIMARY KEY, "name" TEXT, '
            '"type" TEXT, "threadId" TEXT, "output" TEXT)'
        )
        conn.execute(f"INSERT INTO {HISTORY_SCHEMA}.steps VALUES ('s1', 'n', 'tool', 't', 'kept')")
    async with open_storage(settings_pg) as storage:
        [old] = await storage.threads.list_for("local")
        assert (old.thread_id, old.title, old.status.value) == ("old", "kept", "done")
    assert columns(url, "public", "threads") == set(TABLES["threads"])
    assert columns(url, HISTORY_SCHEMA, "steps") == set(HISTORY_TABLES["steps"])
    with psycopg.connect(url) as conn:
        kept = conn.execute(f"SELECT output, streaming FROM {HISTORY_SCHEMA}.steps").fetchall()
    assert kept == [("kept", None)]
    async with open_storage(settings_pg):  # and again: nothing left to change
        pass


async def test_processes_starting_at_once_on_an_empty_database_all_start(
    settings_pg: Settings,
) -> None:
    async def start() -> None:
        async with open_storage(settings_pg):
            pass

    await asyncio.gather(*(start() for _ in range(4)))


async def test_a_file_stored_through_one_connection_pool_is_read_through_another(
    settings_pg: Settings,
) -> None:
    url = settings_pg.postgres_url
    assert url is not None
    data = bytes(range(256)) * 1000
    async with open_storage(settings_pg) as storage:
        await storage.files.put(StoredFile("k/report.pdf", "t1", "alice", "r.pdf", "x/y", data))
        other = await PostgresDatabase.open(url)
        try:
            found = await FileStore(other).get("k/report.pdf", "alice")
            assert await FileStore(other).get("k/report.pdf", "bob") is None
        finally:
            await other.close()
    assert found is not None and found.data == data and found.mime == "x/y"


async def test_after_a_server_restart_one_statement_fails_in_one_line_then_all_work() -> None:
    with TempPostgres() as server:
        db = await PostgresDatabase.open(server.url, max_size=4)
        try:
            await asyncio.gather(*(db.fetchone("SELECT pg_sleep(0.05)") for _ in range(4)))
            server.restart()  # every pooled connection is now dead
            with pytest.raises(psycopg.OperationalError) as failed:
                await db.fetchone("SELECT 1")
            assert describe(failed.value).startswith("The database connection failed (")
            assert "\n" not in describe(failed.value)
            for _ in range(6):
                assert await db.fetchone("SELECT 1") == (1,)
        finally:
            await db.close()


@pytest.fixture
def settings_pg(postgres_db: str, tmp_path: Path) -> Settings:
    """Settings on a fresh PostgreSQL database (no model needed)."""
    return load_settings(database_url=postgres_db, data_dir=tmp_path / "data")
