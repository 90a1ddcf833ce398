"""The history database: schema creation and upgrade, ordered step writes, files, deletion
(the data layer on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import chainlit as cl
from chainlit.context import init_http_context
from fastapi import FastAPI

from assistant.history import TABLES, ThreadChange, ensure_history_schema
from assistant.settings import Settings
from assistant.storage import (
    FileStore,
    SqliteDatabase,
    Storage,
    StoredFile,
    ThreadKind,
    ThreadStatus,
    ensure_schema,
    open_storage,
)
from assistant.turn_queue import TurnQueue, waiting
from assistant.ui import runtime
from assistant.ui.datalayer import WRITE_WAIT_S, OrderedDataLayer, build_data_layer
from assistant.ui.files import StoreStorage, file_url
from assistant.ui.runtime import Runtime
from tests.support import both_backends


def columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        found = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
    conn.close()
    return found


async def schema(path: Path) -> list[str]:
    db = await SqliteDatabase.open(path)
    try:
        return await ensure_history_schema(db)
    finally:
        await db.close()


async def test_the_schema_is_created_with_every_column_chainlit_writes(tmp_path: Path) -> None:
    path = tmp_path / "chainlit.sqlite"
    assert await schema(path) == []
    for table, wanted in TABLES.items():
        assert columns(path, table) == set(wanted)
    assert {"command", "modes", "defaultOpen", "autoCollapse", "showInput", "generation"} <= (
        columns(path, "steps")
    )


async def test_an_old_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "chainlit.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            'CREATE TABLE steps ("id" TEXT PRIMARY KEY, "name" TEXT, "type" TEXT, '
            '"threadId" TEXT, "output" TEXT)'
        )
        conn.execute("INSERT INTO steps VALUES ('s1', 'old', 'tool', 't1', 'kept')")
    conn.close()
    added = await schema(path)
    assert "steps.command" in added
    assert "steps.defaultOpen" in added
    assert columns(path, "steps") == set(TABLES["steps"])
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT output FROM steps WHERE id = 's1'").fetchone() == ("kept",)
    conn.close()
    assert await schema(path) == []


@contextlib.asynccontextmanager
async def layer_on(
    settings: Settings, **kwargs: Any
) -> AsyncIterator[tuple[OrderedDataLayer, Storage]]:
    """The data layer on the settings' history database, with the engine's storage."""
    async with open_storage(settings) as storage:

        async def owner_of(user_id: str) -> str:
            return "alice"

        layer = build_data_layer(
            settings.postgres_url or settings.history_path,
            StoreStorage(lambda: storage.files, owner_of),
            lambda: storage.history,
            deleted_among=storage.threads.deleted_among,
            **kwargs,
        )
        try:
            yield layer, storage
        finally:
            await layer.close()


STEP = {"id": "s1", "threadId": "t1", "name": "Research", "type": "tool", "streaming": False}


@both_backends
async def test_step_writes_land_in_the_order_they_were_issued(settings: Settings) -> None:
    """Chainlit persists send() and each update() in its own task; the last must win."""
    async with layer_on(settings) as (layer, _):
        init_http_context(thread_id="t1")
        writes = [asyncio.create_task(layer.create_step({**STEP, "output": ""}))]
        for n in range(1, 20):
            writes.append(asyncio.create_task(layer.update_step({**STEP, "output": f"v{n}"})))
        await asyncio.gather(*writes)
        saved = await layer.get_step("s1")
        assert saved is not None
        assert saved["output"] == "v19"
        thread = await layer.get_thread("t1")
        assert thread is not None
        assert [s["output"] for s in thread["steps"]] == ["v19"]


@both_backends
async def test_writes_of_many_conversations_issued_at_once_all_land(settings: Settings) -> None:
    """They are written in batches: each write as it was issued, in order per step."""
    async with layer_on(settings) as (layer, _):
        init_http_context(thread_id="t0")
        writes = []
        for t in range(10):
            step = {**STEP, "id": f"s{t}", "threadId": f"t{t}", "output": ""}
            writes.append(asyncio.create_task(layer.create_step(step)))
            writes.append(asyncio.create_task(layer.update_step({**step, "output": f"done {t}"})))
        await asyncio.gather(*writes)
        for t in range(10):
            thread = await layer.get_thread(f"t{t}")
            assert thread is not None
            assert [s["output"] for s in thread["steps"]] == [f"done {t}"]


@both_backends
async def test_a_step_written_in_parts_keeps_every_part(settings: Settings) -> None:
    """An update carries only some columns: the others stay as the first write left them."""
    async with layer_on(settings) as (layer, _):
        init_http_context(thread_id="t5")
        first = {**STEP, "id": "s5", "threadId": "t5", "language": "python", "output": ""}
        await asyncio.gather(
            layer.create_step(first), layer.update_step({**STEP, "id": "s5", "threadId": "t5"})
        )
        saved = await layer.get_step("s5")
        assert saved is not None
        assert (saved["language"], saved["name"]) == ("python", "Research")


@both_backends
async def test_a_deleted_step_stays_deleted_and_one_written_again_comes_back(
    settings: Settings,
) -> None:
    async with layer_on(settings) as (layer, _):
        init_http_context(thread_id="t6")
        gone = {**STEP, "id": "gone", "threadId": "t6"}
        back = {**STEP, "id": "back", "threadId": "t6"}
        await asyncio.gather(
            layer.create_step(gone),
            layer.delete_step("gone"),
            layer.create_step(back),
            layer.delete_step("back"),
            layer.create_step({**back, "output": "again"}),
        )
        assert await layer.get_step("gone") is None
        again = await layer.get_step("back")
        assert again is not None and again["output"] == "again"


@both_backends
async def test_one_write_that_fails_does_not_lose_the_others(settings: Settings) -> None:
    async with layer_on(settings) as (layer, _):
        init_http_context(thread_id="t7")
        broken = {**STEP, "id": "broken", "threadId": "t7", "name": None}  # name is required
        await asyncio.gather(
            layer.create_step({**STEP, "id": "before", "threadId": "t7"}),
            layer.create_step(broken),
            layer.create_step({**STEP, "id": "after", "threadId": "t7"}),
        )
        assert await layer.get_step("before") is not None
        assert await layer.get_step("after") is not None
        assert await layer.get_step("broken") is None


@both_backends
async def test_thread_rows_are_written_as_chainlits_own_layer_writes_them(
    settings: Settings,
) -> None:
    """``update_thread`` goes to the history's own connection, with Chainlit's meaning:
    a bare call creates the row once; a name and an author are set; metadata is merged
    (None removes a key); the name defaults to the metadata's. Chainlit reads it back."""
    async with layer_on(settings) as (layer, storage):
        user = await storage.history.user_id("alice")
        await layer.update_thread("t5")
        created = (await layer.get_thread("t5") or {}).get("createdAt")
        assert created
        await layer.update_thread("t5", name="tides", user_id=user, metadata={"a": 1, "b": 2})
        await layer.update_thread("t5", metadata={"b": None, "c": {"d": 3}})
        layer._saved_threads.clear()  # as another process would, which has not seen it
        await layer.update_thread("t5")  # a bare call on an existing row changes nothing
        thread = await layer.get_thread("t5")
        assert thread is not None
        assert (thread["name"], thread["createdAt"]) == ("tides", created)
        assert (thread["userId"], thread["userIdentifier"]) == (user, "alice")
        assert json.loads(thread["metadata"]) == {"a": 1, "c": {"d": 3}}  # as Chainlit keeps it
        await layer.update_thread("t6", metadata={"name": "from metadata"})
        assert (await layer.get_thread("t6") or {}).get("name") == "from metadata"
        assert await layer.get_thread_author("t5") == "alice"


@both_backends
async def test_a_batch_of_thread_rows_is_what_the_same_calls_one_by_one_make(
    settings: Settings,
) -> None:
    """The data layer writes the thread rows of a batch in one transaction
    (``update_threads``): the rows are those the same ``update_thread`` calls make one by
    one, with several changes of one row in the batch applied in order."""
    async with layer_on(settings) as (layer, storage):
        history = storage.history
        alice, bob = await history.user_id("alice"), await history.user_id("bob")

        def changes(prefix: str) -> list[ThreadChange]:
            return [
                ThreadChange(f"{prefix}1"),
                ThreadChange(f"{prefix}1", "tides", alice, {"a": 1, "b": 2}),
                ThreadChange(f"{prefix}2", user_id=bob, metadata={"name": "from metadata"}),
                ThreadChange(f"{prefix}1", metadata={"b": None, "c": {"d": 3}}),
                ThreadChange(f"{prefix}3"),
                ThreadChange(f"{prefix}1"),  # bare, on a row that exists by now
            ]

        for change in changes("one-"):
            await history.update_thread(
                change.thread_id,
                name=change.name,
                user_id=change.user_id,
                metadata=change.metadata,
            )
        await history.update_threads(changes("all-"))
        columns = ("name", "userId", "userIdentifier", "metadata")
        for n in (1, 2, 3):
            one, batch = await layer.get_thread(f"one-{n}"), await layer.get_thread(f"all-{n}")
            assert one is not None and batch is not None
            assert batch["createdAt"]
            assert [batch.get(c) for c in columns] == [one.get(c) for c in columns]
        first = await layer.get_thread("all-1")
        assert first is not None
        assert (first["name"], first["userIdentifier"]) == ("tides", "alice")
        assert json.loads(first["metadata"]) == {"a": 1, "c": {"d": 3}}
        second = await layer.get_thread("all-2")
        assert second is not None
        assert (second["name"], second["userIdentifier"]) == ("from metadata", "bob")
        before = await layer.get_thread("all-1")
        await history.update_threads([ThreadChange("all-1"), ThreadChange("all-3")])
        assert await layer.get_thread("all-1") == before  # bare changes of existing rows
        await asyncio.gather(  # queued together: one batch of the data layer
            layer.update_thread("b1", name="tides"),
            layer.update_thread("b2", user_id=bob),
            layer.update_thread("b1", metadata={"k": 1}),
        )
        b1, b2 = await layer.get_thread("b1"), await layer.get_thread("b2")
        assert b1 is not None and b2 is not None
        assert (b1["name"], json.loads(b1["metadata"])) == ("tides", {"k": 1})
        assert b2["userIdentifier"] == "bob"


@both_backends
async def test_writes_wait_for_the_turns_to_be_quiet_but_reads_here_do_not(
    settings: Settings,
) -> None:
    """Under a burst the history is written while the turns wait for the model, not
    before their requests; what this process wrote, a read through it sees at once."""
    queue = TurnQueue(width=1)
    async with layer_on(settings, quiet=queue.lull) as (layer, storage):
        init_http_context(thread_id="t8")

        async def landed(step_id: str) -> bool:
            row = await storage.history.db.fetchone(
                'SELECT "id" FROM steps WHERE "id" = ?', (step_id,)
            )
            return row is not None

        model = asyncio.Event()
        computing = asyncio.Event()

        async def turn() -> None:
            async with queue.turn():
                computing.set()
                await model.wait()  # computing: its place is held
                async with waiting():  # the model's request is out
                    await asyncio.sleep(0.3)

        running = asyncio.create_task(turn())
        await computing.wait()
        first = asyncio.create_task(layer.create_step({**STEP, "id": "s8", "threadId": "t8"}))
        named = asyncio.create_task(layer.update_thread("t8", name="tides"))
        await asyncio.sleep(0.05)
        assert not first.done() and not named.done()
        assert not await landed("s8")
        assert await layer.get_step("s8") is not None  # a read writes what is queued first
        await asyncio.gather(first, named)
        assert (await layer.get_thread("t8") or {}).get("name") == "tides"
        second = asyncio.create_task(layer.create_step({**STEP, "id": "s9", "threadId": "t8"}))
        await asyncio.sleep(0.05)
        assert not await landed("s9")
        model.set()  # the turn waits for the model: a quiet moment
        await asyncio.wait_for(second, 0.2)
        assert await landed("s9")
        await running
        async with queue.turn():  # never quiet: written after WRITE_WAIT_S all the same
            await asyncio.wait_for(
                layer.create_step({**STEP, "id": "s10", "threadId": "t8"}), WRITE_WAIT_S + 1
            )
        assert await landed("s10")
        async with queue.turn():  # what is queued when the layer closes is written
            late = asyncio.create_task(layer.create_step({**STEP, "id": "s11", "threadId": "t8"}))
            await asyncio.sleep(0)
            await asyncio.wait_for(layer.close(), 1)
            await late
        assert await landed("s11")


@both_backends
async def test_at_shutdown_the_queued_history_is_written_before_the_engine_closes(
    settings: Settings,
) -> None:
    """Chainlit closes its data layer after the app's shutdown hook has closed the engine
    the history is written through: what is queued is written first."""
    app = FastAPI()
    opened = await Runtime.open(settings, {})
    runtime.attach(app, opened)
    layer = runtime.history(app, settings)
    init_http_context(thread_id="t12")
    async with opened.engine.queue.turn():  # a turn computes: writes wait for quiet
        write = asyncio.create_task(layer.create_step({**STEP, "id": "s12", "threadId": "t12"}))
        await asyncio.sleep(0.05)
        assert not write.done()
        await asyncio.wait_for(runtime.shut_down(app, layer), 5)
    assert write.done() and write.exception() is None
    assert runtime.detach(app) is None  # closed
    await layer.close()
    async with open_storage(settings) as storage:
        row = await storage.history.db.fetchone('SELECT "id" FROM steps WHERE "id" = ?', ("s12",))
    assert row is not None


@both_backends
async def test_an_unknown_thread_has_no_author(settings: Settings) -> None:
    async with layer_on(settings) as (layer, _):
        assert await layer.get_thread_author("no-such-thread") == ""


@both_backends
async def test_a_report_already_stored_is_linked_not_uploaded_again(settings: Settings) -> None:
    async with layer_on(settings) as (layer, storage):
        await storage.files.put(StoredFile("abc/report.md", "t2", "alice", "r.md", "text/md", b"#"))
        await layer.update_thread("t2", name="tides", user_id=None)
        init_http_context(thread_id="t2")
        element = cl.File(name="report.md", url=file_url("abc/report.md"), for_id="m1")
        element.thread_id = "t2"
        await layer.create_element(element)
        thread = await layer.get_thread("t2")
        assert thread is not None
        [linked] = thread["elements"]
        assert linked["objectKey"] == "abc/report.md"
        assert linked["url"] == "/assistant/files/abc/report.md"
        assert len(await storage.files.keys_of("t2")) == 1  # no second copy


@both_backends
async def test_a_thread_deleted_elsewhere_gets_no_more_writes(settings: Settings) -> None:
    """Another process (``assistant delete``, another server) deleted the thread while a
    window here was still open on it: nothing brings its rows back."""
    async with layer_on(settings) as (layer, storage):
        init_http_context(thread_id="t3")
        await layer.create_step({**STEP, "id": "s3", "threadId": "t3", "output": "before"})
        assert await layer.get_thread("t3") is not None
        await storage.threads.begin_run(
            "t3", kind=ThreadKind.CHAT, owner="alice", title="x", holder="h", create=True
        )
        await storage.threads.end_run("t3", "h", ThreadStatus.DONE)
        await storage.threads.tombstone("t3", "alice")  # the engine's deletion, elsewhere
        await storage.history.delete_thread("t3")
        await layer.create_step({**STEP, "id": "s4", "threadId": "t3", "output": "after"})
        await layer.update_thread("t3", metadata={"chat_settings": {}})
        assert await layer.get_thread("t3") is None
        assert await layer.get_step("s4") is None


async def test_elements_chainlit_uploads_go_to_the_file_store(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "assistant.sqlite")
    await ensure_schema(db)
    files = FileStore(db)

    async def owner_of(user_id: str) -> str:
        return {"user-1": "alice"}[user_id]

    storage = StoreStorage(lambda: files, owner_of)
    try:
        stored = await storage.upload_file("user-1/el-1/report.md", "# Report\n", "text/markdown")
        assert stored == {
            "object_key": "user-1/el-1/report.md",
            "url": "/assistant/files/user-1/el-1/report.md",
        }
        found = await files.get("user-1/el-1/report.md", "alice")
        assert found is not None and found.data == b"# Report\n"
        assert await files.get("user-1/el-1/report.md", "bob") is None
        assert await storage.delete_file("user-1/el-1/report.md")
        assert not await storage.delete_file("user-1/el-1/report.md")
    finally:
        await db.close()


@both_backends
async def test_deleting_a_thread_deletes_it_in_the_engine_too(settings: Settings) -> None:
    deleted: list[tuple[str, str]] = []

    async def on_delete(thread_id: str, owner: str) -> None:
        deleted.append((thread_id, owner))

    async with layer_on(settings, on_delete=on_delete) as (layer, _):
        await layer.execute_sql(
            'INSERT INTO threads ("id", "name", "userIdentifier") VALUES (:id, :name, :who)',
            {"id": "t9", "name": "secret plans", "who": "alice"},
        )
        await layer.delete_thread("t9")
        assert deleted == [("t9", "alice")]
        assert await layer.get_thread_author("t9") == ""
