"""The history database: schema creation and upgrade, ordered step writes, file storage."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from chainlit.context import init_http_context

from assistant.ui.datalayer import TABLES, build_data_layer, ensure_schema
from assistant.ui.files import LocalFileStorage


def columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        found = {row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')}
    conn.close()
    return found


def test_the_schema_is_created_with_every_column_chainlit_writes(tmp_path: Path) -> None:
    path = tmp_path / "chainlit.sqlite"
    assert ensure_schema(path) == []
    for table, wanted in TABLES.items():
        assert columns(path, table) == set(wanted)
    assert {"command", "modes", "defaultOpen", "autoCollapse", "showInput", "generation"} <= (
        columns(path, "steps")
    )


def test_an_old_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "chainlit.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            'CREATE TABLE steps ("id" TEXT PRIMARY KEY, "name" TEXT, "type" TEXT, '
            '"threadId" TEXT, "output" TEXT)'
        )
        conn.execute("INSERT INTO steps VALUES ('s1', 'old', 'tool', 't1', 'kept')")
    conn.close()
    added = ensure_schema(path)
    assert "steps.command" in added
    assert "steps.defaultOpen" in added
    assert columns(path, "steps") == set(TABLES["steps"])
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT output FROM steps WHERE id = 's1'").fetchone() == ("kept",)
    conn.close()
    assert ensure_schema(path) == []


async def test_step_writes_land_in_the_order_they_were_issued(tmp_path: Path) -> None:
    """Chainlit persists send() and each update() in its own task; the last must win."""
    path = tmp_path / "chainlit.sqlite"
    ensure_schema(path)
    layer = build_data_layer(path, LocalFileStorage(tmp_path / "files"))
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


async def test_an_unknown_thread_has_no_author(tmp_path: Path) -> None:
    path = tmp_path / "chainlit.sqlite"
    ensure_schema(path)
    layer = build_data_layer(path, LocalFileStorage(tmp_path / "files"))
    try:
        assert await layer.get_thread_author("no-such-thread") == ""
    finally:
        await layer.close()


async def test_files_are_stored_under_their_key_and_served_by_url(tmp_path: Path) -> None:
    storage = LocalFileStorage(tmp_path / "files")
    stored = await storage.upload_file("user-1/el-1/report.md", "# Report\n", "text/markdown")
    assert stored == {
        "object_key": "user-1/el-1/report.md",
        "url": "/assistant/files/user-1/el-1/report.md",
    }
    assert (tmp_path / "files" / "user-1" / "el-1" / "report.md").read_text() == "# Report\n"
    assert await storage.delete_file("user-1/el-1/report.md")
    assert not await storage.delete_file("user-1/el-1/report.md")


@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a/../../b", "a//b", "", "a/./b"])
def test_object_keys_cannot_leave_the_folder(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid object key"):
        LocalFileStorage(tmp_path).path_for(key)
