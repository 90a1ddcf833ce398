"""The history database: schema creation and upgrade, ordered step writes, files, deletion."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from chainlit.context import init_http_context

from assistant.history import TABLES, ensure_history_schema
from assistant.storage import FileStore, SqliteDatabase, ensure_schema
from assistant.ui.datalayer import OrderedDataLayer, build_data_layer
from assistant.ui.files import StoreStorage


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


async def layer_on(tmp_path: Path, **kwargs: object) -> tuple[OrderedDataLayer, SqliteDatabase]:
    path = tmp_path / "chainlit.sqlite"
    await schema(path)
    store_db = await SqliteDatabase.open(tmp_path / "assistant.sqlite")
    await ensure_schema(store_db)
    files = FileStore(store_db)

    async def owner_of(user_id: str) -> str:
        return "alice"

    layer = build_data_layer(path, StoreStorage(lambda: files, owner_of), **kwargs)  # type: ignore[arg-type]
    return layer, store_db


async def test_step_writes_land_in_the_order_they_were_issued(tmp_path: Path) -> None:
    """Chainlit persists send() and each update() in its own task; the last must win."""
    layer, store_db = await layer_on(tmp_path)
    init_http_context(thread_id="t1")
    try:
        step = {
            "id": "s1",
            "threadId": "t1",
            "name": "Research",
            "type": "tool",
            "streaming": False,
            "output": "",
        }
        writes = [asyncio.create_task(layer.create_step(dict(step)))]
        for n in range(1, 20):
            writes.append(asyncio.create_task(layer.update_step({**step, "output": f"v{n}"})))
        await asyncio.gather(*writes)
        saved = await layer.get_step("s1")
        assert saved is not None
        assert saved["output"] == "v19"
        thread = await layer.get_thread("t1")
        assert thread is not None
        assert [s["output"] for s in thread["steps"]] == ["v19"]
    finally:
        await layer.close()
        await store_db.close()


async def test_an_unknown_thread_has_no_author(tmp_path: Path) -> None:
    layer, store_db = await layer_on(tmp_path)
    try:
        assert await layer.get_thread_author("no-such-thread") == ""
    finally:
        await layer.close()
        await store_db.close()


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


async def test_deleting_a_thread_deletes_it_in_the_engine_too(tmp_path: Path) -> None:
    deleted: list[tuple[str, str]] = []

    async def on_delete(thread_id: str, owner: str) -> None:
        deleted.append((thread_id, owner))

    layer, store_db = await layer_on(tmp_path, on_delete=on_delete)
    try:
        await layer.execute_sql(
            'INSERT INTO threads ("id", "name", "userIdentifier") VALUES (:id, :name, :who)',
            {"id": "t9", "name": "secret plans", "who": "alice"},
        )
        await layer.delete_thread("t9")
        assert deleted == [("t9", "alice")]
        assert await layer.get_thread_author("t9") == ""
    finally:
        await layer.close()
        await store_db.close()
