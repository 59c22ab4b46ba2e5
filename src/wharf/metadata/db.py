"""The metadata database: ``<root>/metadata.db``, SQLite, schema versioned by migrations.

Schema (update this drawing with every migration; a migration test MUST come with each one)::

    schema_version                       (migration 1)
    └── version INTEGER                  one row: the number of migrations applied

    images                               (migration 1)  one row per name; an image has 1..n names
    ├── name              TEXT PK        normalised reference "docker.io/library/busybox:latest",
    │                                    "...@sha256:<hex>", or "moby-dangling@<digest>" for an
    │                                    image whose last tag moved to another image
    ├── target_media_type TEXT           what was pulled/loaded: an index or a manifest
    ├── target_digest     TEXT
    ├── target_size       INTEGER
    ├── config_digest     TEXT           the image ID (platform manifest's config), indexed
    ├── created_at        REAL           unix time the name was first set
    └── updated_at        REAL           unix time the name last moved (Docker's LastTagTime)

    images.labels         TEXT '{}'      (migration 2) JSON object of wharf-side labels

    leases                               (migration 2) protect blobs/snapshots from GC
    ├── id         TEXT PK
    ├── created_at REAL
    └── expires_at REAL                  a lease of a dead process expires
    lease_resources                      (migration 2)
    ├── lease_id   TEXT → leases.id ON DELETE CASCADE
    ├── kind       TEXT                  "content" | "snapshot"
    └── ref        TEXT                  digest or snapshot key

Every change is one transaction (``with db.txn():``); WAL journal, ``synchronous=FULL``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from wharf.errors import FailedPrecondition


def _m1_images(c: sqlite3.Connection) -> None:
    c.execute(
        """CREATE TABLE images (
            name TEXT PRIMARY KEY,
            target_media_type TEXT NOT NULL,
            target_digest TEXT NOT NULL,
            target_size INTEGER NOT NULL,
            config_digest TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    c.execute("CREATE INDEX images_config ON images(config_digest)")
    c.execute("CREATE INDEX images_target ON images(target_digest)")


def _m2_labels_leases(c: sqlite3.Connection) -> None:
    c.execute("ALTER TABLE images ADD COLUMN labels TEXT NOT NULL DEFAULT '{}'")
    c.execute(
        "CREATE TABLE leases (id TEXT PRIMARY KEY, created_at REAL NOT NULL, expires_at REAL NOT NULL)"
    )
    c.execute(
        """CREATE TABLE lease_resources (
            lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL,
            PRIMARY KEY (lease_id, kind, ref)
        )"""
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m1_images, _m2_labels_leases]


class MetadataDB:
    """A connection with the schema migrated to ``len(migrations)``."""

    def __init__(self, path: str, migrations: list[Callable[[sqlite3.Connection], None]] | None = None):
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.migrate(MIGRATIONS if migrations is None else migrations)

    def version(self) -> int:
        self.conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = self.conn.execute("SELECT version FROM schema_version").fetchone()
        return 0 if row is None else int(row[0])

    def migrate(self, migrations: list[Callable[[sqlite3.Connection], None]]) -> None:
        """Apply the migrations not yet applied, each in its own transaction."""
        with self.txn():
            current = self.version()
        if current > len(migrations):
            raise FailedPrecondition(
                f"metadata {self.path}: schema version {current} is newer than "
                f"this wharf's ({len(migrations)})"
            )
        for n in range(current, len(migrations)):
            with self.txn():
                migrations[n](self.conn)
                self.conn.execute("DELETE FROM schema_version")
                self.conn.execute("INSERT INTO schema_version (version) VALUES (?)", (n + 1,))

    @contextmanager
    def txn(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()
