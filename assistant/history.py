"""The chat history the browser shows, in the tables of Chainlit's SQLAlchemy data layer.

Chainlit does not create these tables, and a missing table or column only logs a warning
while nothing is saved: ``ensure_history_schema`` creates every table and adds any column a
newer Chainlit writes, so an old ``chainlit.sqlite`` (or, on PostgreSQL, the schema
``chat_history``) is upgraded in place. The columns are those Chainlit 2.12 writes
(``StepDict``, ``ElementDict``, ``Feedback`` and the user and thread rows of
``chainlit/data/sql_alchemy.py``).

This module imports nothing of Chainlit: the engine uses it to delete a conversation's
history with the rest of it, wherever the deletion starts (the UI or ``assistant delete``),
and the terminal records its conversations here (``open_thread``, ``add_message``,
``add_files``) in the rows Chainlit itself writes, so the browser's sidebar lists them and
reopening one shows its messages. Plain SQL with ``?`` placeholders, as the rest of
``assistant.storage``.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from assistant.storage.db import Database, Transaction
from tools.text import brief

MessageKind = Literal["user_message", "assistant_message"]
USER_MESSAGE: MessageKind = "user_message"
ASSISTANT_MESSAGE: MessageKind = "assistant_message"
ASSISTANT_AUTHOR = "Assistant"
"""The author of the assistant's messages: Chainlit's ``[UI] name`` (``.chainlit/config.toml``)."""
THREAD_NAME_CHARS = 80

TABLES: dict[str, dict[str, str]] = {
    "users": {
        "id": "TEXT PRIMARY KEY",
        "identifier": "TEXT NOT NULL UNIQUE",
        "metadata": "TEXT NOT NULL DEFAULT '{}'",
        "createdAt": "TEXT",
    },
    "threads": {
        "id": "TEXT PRIMARY KEY",
        "createdAt": "TEXT",
        "name": "TEXT",
        "userId": "TEXT",
        "userIdentifier": "TEXT",
        "tags": "TEXT",
        "metadata": "TEXT",
    },
    "steps": {
        "id": "TEXT PRIMARY KEY",
        "name": "TEXT NOT NULL",
        "type": "TEXT NOT NULL",
        "threadId": "TEXT NOT NULL",
        "parentId": "TEXT",
        "streaming": "BOOLEAN NOT NULL DEFAULT FALSE",
        "waitForAnswer": "BOOLEAN",
        "isError": "BOOLEAN",
        "metadata": "TEXT",
        "tags": "TEXT",
        "input": "TEXT",
        "output": "TEXT",
        "createdAt": "TEXT",
        "command": "TEXT",
        "modes": "TEXT",
        "start": "TEXT",
        "end": "TEXT",
        "generation": "TEXT",
        "showInput": "TEXT",
        "language": "TEXT",
        "indent": "INTEGER",
        "defaultOpen": "BOOLEAN",
        "autoCollapse": "BOOLEAN",
        "icon": "TEXT",
    },
    "elements": {
        "id": "TEXT PRIMARY KEY",
        "threadId": "TEXT",
        "type": "TEXT",
        "url": "TEXT",
        "chainlitKey": "TEXT",
        "name": "TEXT NOT NULL",
        "display": "TEXT",
        "objectKey": "TEXT",
        "size": "TEXT",
        "page": "INTEGER",
        "language": "TEXT",
        "forId": "TEXT",
        "mime": "TEXT",
        "props": "TEXT",
        "autoPlay": "BOOLEAN",
        "playerConfig": "TEXT",
    },
    "feedbacks": {
        "id": "TEXT PRIMARY KEY",
        "forId": "TEXT NOT NULL",
        "threadId": "TEXT",
        "value": "INTEGER NOT NULL",
        "comment": "TEXT",
    },
}

INDEXES = {
    "threads_user": 'threads("userId")',
    "steps_thread": 'steps("threadId", "createdAt")',
    "elements_thread": 'elements("threadId")',
    "feedbacks_step": 'feedbacks("forId")',
}


async def ensure_history_schema(db: Database) -> list[str]:
    """Create the tables and add missing columns; return what was added."""
    added: list[str] = []
    for table, columns in TABLES.items():
        body = ", ".join(f'"{name}" {kind}' for name, kind in columns.items())
        await db.execute(f'CREATE TABLE IF NOT EXISTS "{table}" ({body})')
        if db.dialect == "sqlite":
            present = {str(row[1]) for row in await db.fetchall(f'PRAGMA table_info("{table}")')}
        else:
            rows = await db.fetchall(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ?",
                (table,),
            )
            present = {str(row[0]) for row in rows}
        for name, kind in columns.items():
            if name not in present:
                # ALTER TABLE cannot add PRIMARY KEY/UNIQUE/NOT NULL-without-default columns.
                plain = kind.split()[0]
                await db.execute(f'ALTER TABLE "{table}" ADD COLUMN "{name}" {plain}')
                added.append(f"{table}.{name}")
    for name, target in INDEXES.items():
        await db.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON {target}')
    return added


def timestamp() -> str:
    """Now, as Chainlit writes a step's ``createdAt`` (UTC ISO 8601 with a ``Z``), always
    with microseconds so that text order is time order."""
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return now.isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class Message:
    """One message of a conversation's history, as the browser shows it."""

    kind: str
    author: str
    text: str


class ChatHistory:
    """The chat history tables on one database."""

    def __init__(self, db: Database) -> None:
        """Use the history tables of ``db``."""
        self.db = db

    async def delete_thread(self, thread_id: str) -> list[str]:
        """Remove the thread's messages, steps, elements and feedback; return the elements'
        storage keys (their files are deleted by the caller)."""
        rows = await self.db.fetchall(
            'SELECT "objectKey" FROM elements WHERE "threadId" = ? AND "objectKey" IS NOT NULL',
            (thread_id,),
        )
        async with self.db.transaction() as tx:
            await tx.execute(
                'DELETE FROM feedbacks WHERE "threadId" = ? OR "forId" IN '
                '(SELECT "id" FROM steps WHERE "threadId" = ?)',
                (thread_id, thread_id),
            )
            await tx.execute('DELETE FROM elements WHERE "threadId" = ?', (thread_id,))
            await tx.execute('DELETE FROM steps WHERE "threadId" = ?', (thread_id,))
            await tx.execute('DELETE FROM threads WHERE "id" = ?', (thread_id,))
        return [str(row[0]) for row in rows]

    async def user_id(self, identifier: str) -> str:
        """The history id of the person signed in as ``identifier``, created if new (the
        row Chainlit's ``create_user`` writes; Chainlit keeps its id when it signs them in)."""
        await self.db.execute(
            'INSERT INTO users ("id", "identifier", "metadata", "createdAt") VALUES (?, ?, ?, ?) '
            'ON CONFLICT ("identifier") DO NOTHING',
            (str(uuid.uuid4()), identifier, "{}", timestamp()),
        )
        row = await self.db.fetchone('SELECT "id" FROM users WHERE "identifier" = ?', (identifier,))
        if row is None:  # pragma: no cover - the row was just written
            raise LookupError(f"no history user {identifier!r}")
        return str(row[0])

    async def open_thread(self, thread_id: str, *, identifier: str, name: str) -> None:
        """Make sure ``thread_id`` is in ``identifier``'s history, named ``name``.

        A thread the browser started keeps its name and author; a row Chainlit made
        without them (it writes the bare row first) gets them.
        """
        user = await self.user_id(identifier)
        await self.db.execute(
            'INSERT INTO threads ("id", "createdAt", "name", "userId", "userIdentifier", '
            '"metadata") VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT ("id") DO UPDATE SET '
            '"name" = COALESCE(threads."name", excluded."name"), '
            '"userId" = COALESCE(threads."userId", excluded."userId"), '
            '"userIdentifier" = COALESCE(threads."userIdentifier", excluded."userIdentifier")',
            (thread_id, timestamp(), brief(name, THREAD_NAME_CHARS), user, identifier, "{}"),
        )

    async def add_message(
        self, thread_id: str, kind: MessageKind, text: str, *, author: str
    ) -> str:
        """Append a message step (``user_message`` or ``assistant_message``) with the
        columns Chainlit writes for one; return its id. ``text`` must already be safe to
        show (``assistant.text.safe_markdown``)."""
        step_id = str(uuid.uuid4())
        now = timestamp()
        await self.db.execute(
            'INSERT INTO steps ("id", "name", "type", "threadId", "streaming", '
            '"waitForAnswer", "isError", "metadata", "output", "createdAt", "start", "end", '
            '"generation") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            (step_id, author, kind, thread_id, False, False, False, "{}", text, now, now, now,
             "{}"),
        )  # fmt: skip
        return step_id

    async def add_files(
        self, thread_id: str, step_id: str, files: Sequence[tuple[str, str, str]]
    ) -> None:
        """Attach stored files ``(key, name, mime)`` to a message as downloads: rows that
        point at the engine's file store (the UI serves them to their owner)."""
        for key, name, mime in files:
            await self.db.execute(
                'INSERT INTO elements ("id", "threadId", "type", "name", "display", '
                '"objectKey", "forId", "mime") VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
                (str(uuid.uuid4()), thread_id, "file", name, "inline", key, step_id, mime),
            )

    async def put_element(self, element: Mapping[str, Any]) -> None:
        """Insert the element row ``element`` (Chainlit's ``ElementDict``), or set its
        columns on the row with its id; keys that are not columns are left out."""
        known = TABLES["elements"]
        row = {
            column: json.dumps(value) if isinstance(value, dict | list) else value
            for column, value in element.items()
            if column in known and value is not None
        }
        await self.db.execute(_upsert("elements", tuple(row)), tuple(row.values()))

    async def messages(self, thread_id: str) -> list[Message]:
        """The thread's messages in order (what reopening it in the browser shows)."""
        rows = await self.db.fetchall(
            'SELECT "type", "name", "output" FROM steps WHERE "threadId" = ? AND "type" IN '
            '(?, ?) ORDER BY "createdAt"',
            (thread_id, USER_MESSAGE, ASSISTANT_MESSAGE),
        )
        return [Message(str(kind), str(name), str(text or "")) for kind, name, text in rows]

    async def save_steps(
        self,
        threads: Mapping[str, str],
        deleted: Sequence[str],
        steps: Sequence[Mapping[str, Any]],
    ) -> None:
        """Write a batch of history in one transaction: make sure each thread row exists
        (``threads``: id -> creation time; an existing row is left as it is), delete the
        ``deleted`` steps (with their feedback and elements), then upsert ``steps``, each
        setting only the columns it has (as Chainlit's layer does), so a step written in
        parts keeps every part.

        Steps with the same columns go to the database as one statement with many rows.
        """
        async with self.db.transaction() as tx:
            if threads:
                await tx.executemany(
                    'INSERT INTO threads ("id", "createdAt", "metadata") VALUES (?, ?, ?) '
                    'ON CONFLICT ("id") DO NOTHING',
                    [(thread_id, created, "{}") for thread_id, created in threads.items()],
                )
            if deleted:
                rows = [(step_id,) for step_id in deleted]
                await tx.executemany('DELETE FROM feedbacks WHERE "forId" = ?', rows)
                await tx.executemany('DELETE FROM elements WHERE "forId" = ?', rows)
                await tx.executemany('DELETE FROM steps WHERE "id" = ?', rows)
            await _upsert_steps(tx, steps)

    async def update_thread(
        self,
        thread_id: str,
        *,
        name: str | None = None,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """What Chainlit's ``update_thread`` does: see ``update_threads``."""
        await self.update_threads([ThreadChange(thread_id, name, user_id, metadata)])

    async def update_threads(self, changes: Sequence[ThreadChange]) -> None:
        """What Chainlit's ``update_thread`` does (``sql_alchemy.py``) for each of
        ``changes`` in turn, in one transaction: create the row if it is new; set the name
        and author given; merge ``metadata`` into the row's (a key given as None is
        removed); a bare change of an existing row changes nothing. The name defaults to
        the metadata's ``name``.

        A burst of new conversations is one lookup of their authors, one read of their
        rows and one statement per shape of row, instead of a transaction for each.
        """
        if not changes:
            return
        authors = await self._identifiers({c.user_id for c in changes if c.user_id})
        ids = list(dict.fromkeys(c.thread_id for c in changes))
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                f'SELECT "id", "metadata" FROM threads WHERE "id" IN ({_marks(ids)})', ids
            )
            merged = {str(row[0]): _json_object(row[1]) for row in rows}
            given: dict[str, dict[str, Any]] = {}  # each row's columns to set, in order
            for change in changes:
                thread_id = change.thread_id
                exists = thread_id in merged
                if exists and (change.name, change.user_id, change.metadata) == (None,) * 3:
                    continue
                metadata = merged.setdefault(thread_id, {})
                for key, value in (change.metadata or {}).items():
                    if value is None:
                        metadata.pop(key, None)
                    else:
                        metadata[key] = value
                name = change.name if change.name is not None else metadata.get("name") or None
                these = {
                    "id": thread_id,
                    "createdAt": None if exists else timestamp(),
                    "name": name,
                    "userId": change.user_id,
                    "userIdentifier": authors.get(change.user_id or ""),
                    "metadata": json.dumps(metadata),
                }
                row = given.setdefault(thread_id, {})
                row.update((c, value) for c, value in these.items() if value is not None)
            shapes: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
            for row in given.values():
                shapes.setdefault(tuple(row), []).append(tuple(row.values()))
            for columns, values in shapes.items():
                await tx.executemany(_upsert("threads", columns), values)

    async def _identifiers(self, user_ids: set[str]) -> dict[str, str]:
        """The sign-in names of the users whose history ids are ``user_ids``."""
        if not user_ids:
            return {}
        ids = sorted(user_ids)
        rows = await self.db.fetchall(
            f'SELECT "id", "identifier" FROM users WHERE "id" IN ({_marks(ids)})', ids
        )
        return {str(row[0]): str(row[1]) for row in rows}

    async def identifier_of(self, user_id: str) -> str | None:
        """The sign-in name of the user whose history id is ``user_id``."""
        return (await self._identifiers({user_id})).get(user_id)


@dataclass(frozen=True)
class ThreadChange:
    """The arguments of one of Chainlit's ``update_thread`` calls (``update_threads``)."""

    thread_id: str
    name: str | None = None
    user_id: str | None = None
    metadata: Mapping[str, Any] | None = None


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


def _json_object(text: Any) -> dict[str, Any]:
    """A row's JSON object column as a dict ({} if it is empty or not an object)."""
    if isinstance(text, dict):
        return dict(text)
    try:
        value = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


async def _upsert_steps(tx: Transaction, steps: Sequence[Mapping[str, Any]]) -> None:
    """Upsert ``steps``; keys that are not columns of ``steps`` are left out."""
    known = TABLES["steps"]
    shapes: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for step in steps:
        columns = tuple(column for column in step if column in known)
        shapes.setdefault(columns, []).append(tuple(step[column] for column in columns))
    for columns, rows in shapes.items():
        await tx.executemany(_upsert("steps", columns), rows)


def _upsert(table: str, columns: Sequence[str]) -> str:
    """Insert a row of ``columns`` into ``table``, or set them on the row with its "id"."""
    names = ", ".join(f'"{column}"' for column in columns)
    marks = _marks(columns)
    updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c != "id")
    return (
        f'INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ("id") DO UPDATE SET {updates}'
    )
