"""The small SQLite pattern of wharf's stores: WAL, synchronous=FULL, numbered migrations (one
script each, applied in one transaction with the version bump), BEGIN IMMEDIATE transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


def open_db(path: str, migrations: list[str], foreign_keys: bool = False) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    if foreign_keys:
        db.execute("PRAGMA foreign_keys=ON")
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT version FROM schema_version").fetchone()
    version = row[0] if row else 0
    with transaction(db):
        if row is None:
            db.execute("INSERT INTO schema_version VALUES (0)")
        for i, script in enumerate(migrations[version:], start=version + 1):
            for stmt in script.split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute("UPDATE schema_version SET version = ?", (i,))
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
