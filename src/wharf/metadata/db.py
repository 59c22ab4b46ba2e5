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

    build_cache                          (migration 3) a build step's key → the image it made
    ├── key          TEXT PK             sha256 hex of the parent's key and the step (build.cache)
    ├── config_digest TEXT               the step's image ID (its record: "wharf-build@..." or a tag)
    ├── parent_key   TEXT                the previous step's key ("" for a FROM)
    ├── description  TEXT                the instruction, as `system df -v` shows it
    ├── created_at   REAL
    ├── last_used_at REAL
    └── usage_count  INTEGER             builds that used it (1 when made)

Every change is one transaction (``with db.txn():``); WAL journal, ``synchronous=FULL``;
opened and migrated by ``wharf.base.sqlite``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


def _m3_build_cache(c: sqlite3.Connection) -> None:
    c.execute(
        """CREATE TABLE build_cache (
            key TEXT PRIMARY KEY,
            config_digest TEXT NOT NULL,
            parent_key TEXT NOT NULL,
            description TEXT NOT NULL,
            created_at REAL NOT NULL,
            last_used_at REAL NOT NULL,
            usage_count INTEGER NOT NULL
        )"""
    )


MIGRATIONS: list[Migration] = [_m1_images, _m2_labels_leases, _m3_build_cache]


class MetadataDB:
    """A connection with the schema migrated to ``len(migrations)`` (``wharf.base.sqlite``)."""

    def __init__(self, path: str, migrations: list[Migration] | None = None):
        self.path = path
        self.conn = open_db(path, MIGRATIONS if migrations is None else migrations, foreign_keys=True)
        self._lock = threading.RLock()

    def version(self) -> int:
        return schema_version(self.conn)

    @contextmanager
    def txn(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, one at a time: the connection is shared by the daemon's
        worker threads (a lease opened by one while another tags an image), and SQLite has one
        transaction per connection."""
        with self._lock, transaction(self.conn) as c:
            yield c

    def close(self) -> None:
        self.conn.close()
