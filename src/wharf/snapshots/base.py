"""The part both snapshotters share: records in SQLite, one directory per snapshot.

Schema of ``<root>/metadata.db`` (version 1, migrated by ``wharf.base.sqlite``)::

    snapshots
    ├── id       INTEGER PRIMARY KEY AUTOINCREMENT   -> <root>/snapshots/<id>/
    ├── key      TEXT UNIQUE NOT NULL                key (active/view) or name (committed)
    ├── kind     TEXT NOT NULL                       active | view | committed
    ├── parent   TEXT NOT NULL DEFAULT ''            key of a committed snapshot, or ''
    └── created  REAL NOT NULL                       unix time

A record and its directory are created in one transaction (the directory first, the row
committed last), so a crash leaves at most an orphan directory: ``_sweep_orphans`` removes
directories without a row when the snapshotter opens. Removal deletes the row first, then the
directory (renamed aside, so a half-deleted tree is never mistaken for a snapshot). A directory
that cannot be removed whole (an immutable file) fails the removal; what is left of it aside is
tried again by the next removal and by the sweep. Trees of any depth are walked and removed
through ``wharf.base.trees``.
"""

from __future__ import annotations

import ctypes
import os
import sqlite3
import threading
import time

from wharf.base import trees
from wharf.base.files import no_space
from wharf.base.idmap import IdMap
from wharf.base.sqlite import commit, open_db
from wharf.errors import AlreadyExists, Conflict, FailedPrecondition, InvalidArgument, NotFound
from wharf.snapshots.mount import Mount
from wharf.snapshots.snapshotter import KIND_ACTIVE, KIND_COMMITTED, KIND_VIEW, Info

# migration 1 (IF NOT EXISTS: databases from before the versioning already have it)
MIGRATIONS = [
    """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT UNIQUE NOT NULL,
    kind TEXT NOT NULL,
    parent TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_parent ON snapshots(parent);
"""
]


class BaseSnapshotter:
    driver = "base"
    overlay_whiteouts = False
    id_map: IdMap | None = None  # userns-remap: unpack shifts each layer's owners by it

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(f"{root}/snapshots", exist_ok=True)
        mark_top_directory(f"{root}/snapshots")
        self._db = open_db(f"{root}/metadata.db", MIGRATIONS)
        # one connection, used from unpack's worker threads: one transaction at a time
        self._lock = threading.RLock()
        self._removing: set[str] = set()  # names of asides some thread is removing now
        self._sweep_orphans()

    def close(self) -> None:
        self._db.close()

    # --- records

    def _row(self, key: str) -> Info:
        with self._lock:
            row = self._db.execute(
                "SELECT key, kind, parent, created, id FROM snapshots WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            raise NotFound(f"snapshot {key}: not found")
        return Info(*row)

    def stat(self, key: str) -> Info:
        return self._row(key)

    def exists(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone() is not None

    def walk(self) -> list[Info]:
        rows = self._db.execute("SELECT key, kind, parent, created, id FROM snapshots ORDER BY id")
        return [Info(*r) for r in rows]

    def children(self, key: str) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT key FROM snapshots WHERE parent = ?", (key,))]

    def dir(self, info: Info) -> str:
        return f"{self.root}/snapshots/{info.id}"

    def fs_dir(self, key: str) -> str:
        return f"{self.dir(self._row(key))}/fs"

    def apply_dir(self, key: str) -> str:
        return self.fs_dir(key)

    def parent_chain(self, key: str) -> list[Info]:
        """The committed ancestors of ``key``, nearest first."""
        chain = []
        parent = self._row(key).parent
        while parent:
            info = self._row(parent)
            chain.append(info)
            parent = info.parent
        return chain

    def lower_dirs(self, key: str) -> list[str]:
        return [f"{self.dir(i)}/fs" for i in self.parent_chain(key)]

    # --- lifecycle

    def prepare(self, key: str, parent: str = "") -> list[Mount]:
        self._create(key, parent, KIND_ACTIVE)
        return self.mounts(key)

    def view(self, key: str, parent: str = "") -> list[Mount]:
        self._create(key, parent, KIND_VIEW)
        return self.mounts(key)

    def _create(self, key: str, parent: str, kind: str) -> None:
        if not key:
            raise InvalidArgument("snapshot key must not be empty")
        if parent and self._row(parent).kind != KIND_COMMITTED:
            raise FailedPrecondition(f"snapshot {parent}: parent is not committed")
        with self._txn():
            try:
                cur = self._db.execute(
                    "INSERT INTO snapshots (key, kind, parent, created) VALUES (?, ?, ?, ?)",
                    (key, kind, parent, time.time()),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"snapshot {key}: already exists") from None
            path = f"{self.root}/snapshots/{cur.lastrowid}"
            trees.remove_tree(path, ignore_errors=True)
            os.mkdir(path, 0o700)
            self._populate(path, parent)

    def _populate(self, path: str, parent: str) -> None:
        os.mkdir(f"{path}/fs", 0o755)

    def commit(self, name: str, key: str, parent: str | None = None) -> None:
        """Commit active ``key`` as ``name``. ``parent`` re-parents a parentless overlay layer
        (its contents do not depend on the parent: that is what allows concurrent unpack)."""
        info = self._row(key)
        if info.kind != KIND_ACTIVE:
            raise FailedPrecondition(f"snapshot {key}: only an active snapshot can be committed")
        parent = info.parent if parent is None else parent
        if parent != info.parent:
            if info.parent or not self.overlay_whiteouts:
                raise FailedPrecondition(f"snapshot {key}: cannot change its parent to {parent}")
            if parent and self._row(parent).kind != KIND_COMMITTED:
                raise FailedPrecondition(f"snapshot {parent}: parent is not committed")
        _syncfs(self.fs_dir(key))
        with self._txn():
            try:
                self._db.execute(
                    "UPDATE snapshots SET key = ?, kind = ?, parent = ? WHERE key = ?",
                    (name, KIND_COMMITTED, parent, key),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"snapshot {name}: already exists") from None

    def remove(self, key: str) -> None:
        """The record, then the directory. FailedPrecondition (Docker's "unlinkat <path>: <why>")
        if the directory cannot be removed whole: the snapshot is gone all the same, and what is
        left aside is tried again by the next removal."""
        self._retry_removals()
        info = self._row(key)
        if self.children(key):
            raise Conflict(f"snapshot {key}: cannot remove, it has children")
        try:
            self._delete_row(key)
        except sqlite3.OperationalError as exc:
            if no_space(exc) is None:
                raise
            # a full disk: the files go first, to make room for the row's removal (a crash in
            # between leaves a row whose directory is gone, which a second remove completes)
            self._remove_dir(self.dir(info))
            self._delete_row(key)
        self._remove_dir(self.dir(info))

    def _delete_row(self, key: str) -> None:
        with self._txn():
            self._db.execute("DELETE FROM snapshots WHERE key = ?", (key,))

    def _remove_dir(self, path: str) -> None:
        name = f"rm-{os.path.basename(path)}-{time.monotonic_ns()}"
        aside = f"{self.root}/snapshots/{name}"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return
        with self._lock:
            self._removing.add(name)
        try:
            trees.remove_tree(aside)
        except OSError as e:
            why = (e.strerror or str(e)).lower()
            raise FailedPrecondition(f"unlinkat {e.filename}: {why}") from None
        finally:
            with self._lock:
                self._removing.discard(name)

    def _retry_removals(self) -> None:
        """What earlier removals left aside (they failed, or a daemon died meanwhile)."""
        base = f"{self.root}/snapshots"
        with self._lock:
            names = [n for n in os.listdir(base) if n.startswith("rm-") and n not in self._removing]
            self._removing.update(names)
        try:
            for n in names:
                trees.remove_tree(f"{base}/{n}", ignore_errors=True)
        finally:
            with self._lock:
                self._removing.difference_update(names)

    def usage(self, key: str) -> int:
        return trees.disk_usage(self.apply_dir(key))

    def _sweep_orphans(self) -> None:
        ids = {str(r[0]) for r in self._db.execute("SELECT id FROM snapshots")}
        for name in os.listdir(f"{self.root}/snapshots"):
            if name not in ids:
                trees.remove_tree(f"{self.root}/snapshots/{name}", ignore_errors=True)

    def _txn(self) -> _Txn:
        return _Txn(self._db, self._lock)

    def mounts(self, key: str) -> list[Mount]:
        raise NotImplementedError


class _Txn:
    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is not None:
                self._db.execute("ROLLBACK")
            else:
                commit(self._db)
        finally:
            self._lock.release()


FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000


def mark_top_directory(path: str) -> None:
    """Tell ext2/3/4 that ``path`` tops independent hierarchies (``chattr +T``, as /home): the
    Orlov allocator then places each snapshot in the least used block group instead of next to
    its siblings, away from groups whose recently deleted inodes every new inode must scan past
    (ext4 without a journal; see docs/architecture.md). Other filesystems ignore or refuse it."""
    import fcntl
    import struct

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        buf = bytearray(4)
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf)
        flags = struct.unpack("i", buf)[0]
        if not flags & FS_TOPDIR_FL:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", flags | FS_TOPDIR_FL))
    except OSError:
        pass  # not ext*, or not allowed: only a placement hint
    finally:
        os.close(fd)


def _syncfs(path: str) -> None:
    """Flush the filesystem holding ``path`` (a layer's files) before its record says committed."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ctypes.CDLL(None, use_errno=True).syncfs(fd)
    finally:
        os.close(fd)
