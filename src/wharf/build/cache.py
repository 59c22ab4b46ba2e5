"""The build cache: a step's key → the image that step made, in the image store's database.

A key is content-addressed, as BuildKit's: the SHA-256 of the previous step's key and of what
makes the step what it is (``step_key``): the instruction after expansion, the build arguments
in scope, and for COPY/ADD the checksum of the selected files' names, modes and contents (not
their mtimes: touching a file keeps the key). A FROM's key is its base image's ID, so a rebuilt
or re-pulled base invalidates everything after it.

The images are the store's own (intermediate steps are named ``wharf-build@<manifest>``, the last
one is the build's result): a cached layer is the same blob and snapshot as the image's, never a
second copy, and it outlives the daemon (SQLite, ``build_cache`` table, migration 3). A row whose
image went (``rmi``) is a miss and is dropped. ``prune`` (``docker builder prune``, POST
/build/prune) forgets the rows and removes the step images no tag or container holds; GC then
frees their layers.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wharf.images.store import ImageStore


def step_key(parent_key: str, parts: list[str]) -> str:
    """The key of a step after ``parent_key``: parts are joined unambiguously (JSON)."""
    h = hashlib.sha256(parent_key.encode())
    h.update(json.dumps(parts, separators=(",", ":")).encode())
    return h.hexdigest()


def lookup(store: ImageStore, key: str) -> str | None:
    """Blocking: the image ID cached under ``key`` (its use counted), or None."""
    with store.lock, store.db.txn() as c:
        row = c.execute("SELECT config_digest FROM build_cache WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if not store.records_of(row[0]):
            c.execute("DELETE FROM build_cache WHERE key = ?", (key,))
            return None
        c.execute(
            "UPDATE build_cache SET last_used_at = ?, usage_count = usage_count + 1 WHERE key = ?",
            (time.time(), key),
        )
        return str(row[0])


def record(store: ImageStore, key: str, parent_key: str, image_id: str, description: str) -> None:
    """Blocking: remember that the step ``key`` made ``image_id`` (one transaction)."""
    now = time.time()
    with store.lock, store.db.txn() as c:
        c.execute(
            "INSERT INTO build_cache VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT(key) DO UPDATE SET"
            " config_digest=excluded.config_digest, last_used_at=excluded.last_used_at,"
            " usage_count=usage_count + 1",
            (key, image_id, parent_key, description, now, now),
        )


def entries(store: ImageStore) -> list[dict[str, Any]]:
    """Blocking: the cache as ``/system/df`` lists it (``BuildCache``), one record per step that
    still has its image; ``Size`` is the step's own layer (0 for a config-only step)."""
    from wharf.base.times import now_rfc3339

    rows = store.db.conn.execute(
        "SELECT key, config_digest, parent_key, description, created_at, last_used_at, usage_count"
        " FROM build_cache ORDER BY created_at"
    ).fetchall()
    out = []
    for key, image_id, parent, desc, created, used, count in rows:
        records = store.records_of(image_id)
        if not records:
            continue
        out.append(
            {
                "ID": key[:25],
                "Parent": parent[:25] or None,
                "Parents": [parent[:25]] if parent else None,
                "Type": "regular",
                "Description": desc,
                "InUse": False,
                "Shared": any(not r.build_step() for r in records),
                "Size": _own_size(store, records[0]),
                "CreatedAt": now_rfc3339(created),
                "LastUsedAt": now_rfc3339(used),
                "UsageCount": count,
            }
        )
    return out


def mount_entries(data_root: str) -> list[dict[str, Any]]:
    """Blocking: the RUN --mount=type=cache directories, as ``/system/df`` lists them."""
    from wharf.base.times import now_rfc3339
    from wharf.build.cachemounts import cache_mounts_usage

    out = []
    for u in cache_mounts_usage(data_root):
        out.append(
            {
                "ID": hashlib.sha256(f"{u.id}@{u.last_used}".encode()).hexdigest()[:25],
                "Parent": None,
                "Parents": None,
                "Type": "exec.cachemount",
                "Description": f"cached mount {u.id}",
                "InUse": u.in_use,
                "Shared": False,
                "Size": u.size,
                "CreatedAt": now_rfc3339(u.last_used),
                "LastUsedAt": now_rfc3339(u.last_used),
                "UsageCount": 1,
            }
        )
    return out


def _own_size(store: ImageStore, record: Any) -> int:
    """The size of the last layer when the step added one (its history entry is not empty)."""
    config = store.config(record)
    history = config.get("history") or []
    if not history or history[-1].get("empty_layer"):
        return 0
    layers = store.manifest(record).get("layers") or []
    return int(layers[-1]["size"]) if layers else 0


def prune(store: ImageStore, keep_used_since: float = 0.0) -> tuple[list[str], int]:
    """Blocking: forget the cache (only the rows last used before ``keep_used_since`` when it is
    given), remove the step images no longer cached, then GC; returns the keys forgotten and the
    bytes freed."""
    from wharf.images.ops import disk_usage

    before = disk_usage(store)
    with store.lock, store.db.txn() as c:
        if keep_used_since:
            rows = c.execute(
                "SELECT key FROM build_cache WHERE last_used_at < ?", (keep_used_since,)
            ).fetchall()
        else:
            rows = c.execute("SELECT key FROM build_cache").fetchall()
        gone = [str(r[0]) for r in rows]
        c.executemany("DELETE FROM build_cache WHERE key = ?", [(k,) for k in gone])
        kept = {str(r[0]) for r in c.execute("SELECT config_digest FROM build_cache")}
        steps = c.execute(
            "SELECT name, config_digest FROM images WHERE name LIKE 'wharf-build@%'"
        ).fetchall()
        c.executemany("DELETE FROM images WHERE name = ?", [(n,) for n, cd in steps if cd not in kept])
    store.gc()
    return [k[:25] for k in gone], max(0, before - disk_usage(store))
