"""What the terminal records of a conversation in the browser's history."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from assistant.engine import Engine
from assistant.events import Document, FileRef
from assistant.history import ChatHistory, ensure_history_schema
from assistant.storage import SqliteDatabase
from assistant.transcript import Transcript
from tests.support import both_backends, query


async def test_messages_are_recorded_once_the_engine_takes_them(tmp_path: Path) -> None:
    db = await SqliteDatabase.open(tmp_path / "chainlit.sqlite")
    try:
        await ensure_history_schema(db)
        history = ChatHistory(db)
        said: list[str] = []
        transcript = Transcript(history, "t1", "local", said.append)
        transcript.said("refused message")
        transcript.drop()  # the engine refused it: never in the history
        transcript.said("hello ![x](https://evil.test/leak)")
        await transcript.flush()
        await transcript.flush()  # once
        await transcript.answer("an answer")
        await transcript.document(
            Document("c", "T", "# T\n\nText [1].\n\n## Sources\n\n[1] A — https://a.test/\n",
                     (FileRef("run/t.md", "t.md", "text/markdown"),))
        )  # fmt: skip
        shown = [(m.kind, m.author, m.text) for m in await history.messages("t1")]
        assert shown[0] == ("user_message", "local", "hello [image: x]")  # made safe
        assert shown[1] == ("assistant_message", "Assistant", "an answer")
        assert shown[2][2].startswith("# T") and "1. [A](https://a.test/)" in shown[2][2]
        assert len(shown) == 3 and said == []
        row = await db.fetchone(
            'SELECT "name", "userIdentifier" FROM threads WHERE "id" = ?', ("t1",)
        )
        assert row == ("hello ![x](https://evil.test/leak)", "local")
    finally:
        await db.close()


class Broken:
    """A history whose database fails."""

    def __init__(self) -> None:
        self.calls = 0

    async def open_thread(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        raise sqlite3.OperationalError("database is locked")

    async def add_message(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        return "never"


async def test_a_history_that_cannot_be_written_is_told_once_and_left_alone() -> None:
    said: list[str] = []
    broken = Broken()
    transcript = Transcript(broken, "t1", "local", said.append)  # type: ignore[arg-type]
    transcript.said("hello")
    await transcript.flush()
    await transcript.answer("an answer")
    await transcript.answer("another")
    assert len(said) == 1
    assert said[0].startswith("note: the browser's history was not updated: ")
    assert "database is locked" in said[0]
    assert broken.calls == 1


@both_backends
async def test_the_terminals_history_rows_on_either_backend(engine: Engine) -> None:
    history = engine.storage.history
    await history.open_thread("t-rows", identifier="local", name="first words")
    user = await history.add_message("t-rows", "user_message", "first words", author="local")
    said = await history.add_message("t-rows", "assistant_message", "an answer", author="A")
    await history.add_files("t-rows", said, [("run/r.md", "r.md", "text/markdown")])
    await history.open_thread("t-rows", identifier="local", name="not the name")
    assert await history.user_id("local") == await history.user_id("local")
    assert [(m.kind, m.text) for m in await history.messages("t-rows")] == [
        ("user_message", "first words"),
        ("assistant_message", "an answer"),
    ]
    rows = query(engine.settings, "history", 'SELECT "name" FROM threads WHERE "id" = ?', "t-rows")
    assert rows == [("first words",)]
    elements = query(engine.settings, "history", 'SELECT "forId", "objectKey" FROM elements')
    assert elements == [(said, "run/r.md")] and user != said
    assert await history.delete_thread("t-rows") == ["run/r.md"]
    assert await history.messages("t-rows") == []
