"""The one SQLite pattern of wharf's stores (containers, images, snapshots, networks, volumes).

``open_db`` opens a database in WAL mode and brings its schema up to date: migrations are
numbered by their place in a list (an SQL script, or a function for what SQL alone cannot
say), each applied in one transaction together with the version bump, so a crash leaves the
schema at one version or the next. The version lives in a one-row table::

    schema_version
    └── version INTEGER      the number of migrations applied

A database that recorded its version in ``PRAGMA user_version`` (the container store did) is
adopted at that version. A database newer than the code is refused rather than guessed at.
Writes go through ``transaction`` (BEGIN IMMEDIATE: one writer at a time, no upgrade deadlock).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from wharf.errors import FailedPrecondition

Migration = str | Callable[[sqlite3.Connection], None]


def open_db(
    path: str,
    migrations: Sequence[Migration],
    *,
    foreign_keys: bool = False,
    synchronous: str = "FULL",
    timeout: float = 30.0,
) -> sqlite3.Connection:
    """A connection to ``path`` with its schema migrated to ``len(migrations)``.

    ``synchronous="NORMAL"`` suits a store whose last transactions may be lost on power loss
    without harm (WAL keeps it consistent either way)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=timeout)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    if foreign_keys:
        db.execute("PRAGMA foreign_keys=ON")
    try:
        migrate(db, migrations, path)
    except BaseException:
        db.close()  # refused (newer, or a migration failed): not left for the GC to close
        raise
    return db


def schema_version(db: sqlite3.Connection) -> int:
    row = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    got = db.execute("SELECT version FROM schema_version").fetchone()
    return 0 if got is None else int(got[0])


def migrate(db: sqlite3.Connection, migrations: Sequence[Migration], path: str = "") -> None:
    """Apply the migrations ``db`` has not had, each in its own transaction."""
    with transaction(db):
        current = schema_version(db)
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        if db.execute("SELECT version FROM schema_version").fetchone() is None:
            db.execute("INSERT INTO schema_version VALUES (?)", (current,))
    if current > len(migrations):
        raise FailedPrecondition(
            f"database {path}: schema version {current} is newer than this wharf's ({len(migrations)})"
        )
    for number in range(current, len(migrations)):
        step = migrations[number]
        with transaction(db):
            if isinstance(step, str):
                for stmt in step.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
            else:
                step(db)
            db.execute("UPDATE schema_version SET version = ?", (number + 1,))


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed when the block ends, rolled back if it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    commit(db)


def commit(db: sqlite3.Connection) -> None:
    """COMMIT; when it fails (a full disk: SQLITE_FULL) the transaction may still be open, and
    is rolled back so that the connection can begin the next one."""
    try:
        db.execute("COMMIT")
    except sqlite3.Error:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
