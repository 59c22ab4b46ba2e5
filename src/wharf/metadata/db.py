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

Every change is one transaction (``with db.txn():``); WAL journal, ``synchronous=FULL``;
opened and migrated by ``wharf.base.sqlite``.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager

from wharf.base.sqlite import Migration, open_db, schema_version, transaction


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


MIGRATIONS: list[Migration] = [_m1_images, _m2_labels_leases]


class MetadataDB:
    """A connection with the schema migrated to ``len(migrations)`` (``wharf.base.sqlite``)."""

    def __init__(self, path: str, migrations: list[Migration] | None = None):
        self.path = path
        self.conn = open_db(path, MIGRATIONS if migrations is None else migrations, foreign_keys=True)

    def version(self) -> int:
        return schema_version(self.conn)

    def txn(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.conn)

    def close(self) -> None:
        self.conn.close()
