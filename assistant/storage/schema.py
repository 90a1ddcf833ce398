"""The assistant's own tables, created and upgraded in place on start.

Each table is listed as data (column -> declaration); ``ensure_schema`` creates missing
tables and adds columns an older database lacks, on SQLite and on Postgres alike.
"""

from __future__ import annotations

from assistant.storage.db import Database

# Declarations use portable types; BLOB and REAL are mapped for Postgres below.
TABLES: dict[str, dict[str, str]] = {
    "threads": {
        "thread_id": "TEXT PRIMARY KEY",
        "kind": "TEXT NOT NULL",
        "title": "TEXT NOT NULL",
        "owner": "TEXT",
        "created_at": "REAL NOT NULL",
        "updated_at": "REAL NOT NULL",
        "status": "TEXT NOT NULL DEFAULT 'done'",
        "deleted_at": "REAL",
    },
    "leases": {
        "thread_id": "TEXT PRIMARY KEY",
        "holder": "TEXT NOT NULL",
        "expires_at": "REAL NOT NULL",
        # how the run that held it ended, written as it releases it (NULL: held, or left
        # by a holder that died)
        "ended": "TEXT",
    },
    "decisions": {
        "thread_id": "TEXT NOT NULL",
        "interrupt_id": "TEXT NOT NULL",
        "decision": "TEXT NOT NULL",
        "decided_by": "TEXT",
        "decided_at": "REAL NOT NULL",
    },
    "sections": {
        "run_id": "TEXT NOT NULL",
        "idx": "INTEGER NOT NULL",
        "payload": "TEXT NOT NULL",
        "created_at": "REAL NOT NULL",
        "thread_id": "TEXT",
    },
    "files": {
        "file_key": "TEXT PRIMARY KEY",
        "thread_id": "TEXT",
        "owner": "TEXT NOT NULL",
        "name": "TEXT NOT NULL",
        "mime": "TEXT NOT NULL",
        "size": "INTEGER NOT NULL",
        "data": "BLOB NOT NULL",
        "created_at": "REAL NOT NULL",
        "role": "TEXT NOT NULL DEFAULT 'file'",
    },
    "auth_sessions": {
        "sid": "TEXT PRIMARY KEY",
        "user_id": "TEXT NOT NULL",
        "created_at": "REAL NOT NULL",
        "last_seen": "REAL NOT NULL",
        "revoked_at": "REAL",
    },
    "login_failures": {
        "key": "TEXT PRIMARY KEY",
        "failures": "INTEGER NOT NULL",
        "first_at": "REAL NOT NULL",
        "last_at": "REAL NOT NULL",
    },
}

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "decisions": ("thread_id", "interrupt_id"),
    "sections": ("run_id", "idx"),
}

INDEXES = (
    "CREATE INDEX IF NOT EXISTS threads_owner_updated ON threads(owner, updated_at)",
    "CREATE INDEX IF NOT EXISTS sections_thread ON sections(thread_id)",
    "CREATE INDEX IF NOT EXISTS files_thread ON files(thread_id)",
    "CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions(user_id)",
)


def _declaration(declaration: str, dialect: str) -> str:
    if dialect == "postgres":
        return declaration.replace("BLOB", "BYTEA").replace("REAL", "DOUBLE PRECISION")
    return declaration


def create_table_sql(table: str, dialect: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for ``table`` in ``dialect``."""
    columns = [
        f"{name} {_declaration(declaration, dialect)}"
        for name, declaration in TABLES[table].items()
    ]
    if table in PRIMARY_KEYS:
        columns.append(f"PRIMARY KEY ({', '.join(PRIMARY_KEYS[table])})")
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(columns)})"


async def _columns(db: Database, table: str) -> set[str]:
    if db.dialect == "sqlite":
        rows = await db.fetchall(f"PRAGMA table_info({table})")
        return {str(row[1]) for row in rows}
    rows = await db.fetchall(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ?",
        (table,),
    )
    return {str(row[0]) for row in rows}


async def ensure_schema(db: Database) -> None:
    """Create every table and index; add columns missing from an older database."""
    for table in TABLES:
        await db.execute(create_table_sql(table, db.dialect))
        have = await _columns(db, table)
        for name, declaration in TABLES[table].items():
            if name not in have:
                # Added columns cannot be primary keys or NOT NULL without a default.
                added = declaration.replace(" PRIMARY KEY", "")
                if "NOT NULL" in added and "DEFAULT" not in added:
                    added = added.replace(" NOT NULL", "")
                await db.execute(
                    f"ALTER TABLE {table} ADD COLUMN {name} {_declaration(added, db.dialect)}"
                )
    for statement in INDEXES:
        await db.execute(statement)
