"""Volumes of the ``local`` driver: ``<data-root>/volumes/``, laid out as Docker's.

    volumes/
    ├── volumes.db          SQLite (WAL, synchronous=FULL), one transaction per change
    └── <name>/_data        the volume's content (or where its device is mounted)

Schema (migration 1)::

    volumes
    ├── name       TEXT PK     user-given, or 64 hex for an anonymous volume
    ├── driver     TEXT        "local"
    ├── labels     TEXT        JSON object
    ├── options    TEXT        JSON object: the local driver's type/device/o, as given
    ├── created    TEXT        RFC 3339
    ├── anonymous  INTEGER     made for a container (image VOLUME, -v /path): goes with `rm -v`
    └── populated  INTEGER     the image's content was copied up (it happens once per volume)

The local driver's options are Docker's: ``type`` and ``device`` and ``o`` as mount(8) takes
them (``type=tmpfs,device=tmpfs,o=size=10m``; ``type=none,device=/srv/x,o=bind``). Such a volume
is mounted on its ``_data`` when its first user starts and unmounted when its last user stops.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from wharf.base.sqlite import open_db, transaction
from wharf.errors import Conflict, InvalidArgument, NotFound

SCHEMA = [
    """
    CREATE TABLE volumes (
        name TEXT PRIMARY KEY, driver TEXT NOT NULL, labels TEXT NOT NULL DEFAULT '{}',
        options TEXT NOT NULL DEFAULT '{}', created TEXT NOT NULL,
        anonymous INTEGER NOT NULL DEFAULT 0, populated INTEGER NOT NULL DEFAULT 0
    );
    """,
]
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
MAX_NAME = 255  # a volume's name is a directory's name (NAME_MAX)
LOCAL_OPTIONS = ("type", "device", "o", "size")


@dataclass
class Volume:
    name: str
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    created: str = ""
    anonymous: bool = False
    populated: bool = False


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class VolumeStore:
    def __init__(self, root: str, owner: tuple[int, int] | None = None) -> None:
        self.root = root
        self.owner = owner  # who a new volume's _data belongs to (userns-remap: the remapped root)
        os.makedirs(root, 0o701, exist_ok=True)
        self.db = open_db(f"{root}/volumes.db", SCHEMA)
        self.mounted: dict[str, int] = {}  # volumes with a device: name -> users running

    def txn(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db)

    def close(self) -> None:
        self.db.close()

    def data_dir(self, name: str) -> str:
        return f"{self.root}/{name}/_data"

    # --- records

    def get(self, name: str) -> Volume:
        row = self.db.execute("SELECT * FROM volumes WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"get {name}: no such volume")
        return _volume(row)

    def find(self, name: str) -> Volume | None:
        try:
            return self.get(name)
        except NotFound:
            return None

    def all(self) -> list[Volume]:
        return [_volume(r) for r in self.db.execute("SELECT * FROM volumes ORDER BY name")]

    def create(
        self,
        name: str,
        driver: str = "local",
        options: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> tuple[Volume, bool]:
        """-> (the volume, whether it was made now). An existing name is returned as it is,
        as Docker does, unless the request asks for other driver options."""
        if len(name.encode()) > MAX_NAME:
            raise InvalidArgument(
                f"create {name[:64]}...: volume name is too long (at most {MAX_NAME} bytes)"
            )
        if len(name) == 1:
            raise InvalidArgument(
                f"create {name}: volume name is too short, names should be at least two alphanumeric"
                " characters"
            )
        if not NAME_RE.match(name):
            raise InvalidArgument(
                f'create {name}: "{name}" includes invalid characters for a local volume name, only '
                '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, '
                "use absolute path"
            )
        if driver != "local":
            raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
        options = {str(k): str(v) for k, v in (options or {}).items()}
        for key in options:
            if key not in LOCAL_OPTIONS:
                raise InvalidArgument(f"invalid option: {key!r}")
        if options.get("type") == "none" and "bind" in options.get("o", "").split(","):
            device = options.get("device", "")
            if not os.path.isdir(device):
                raise InvalidArgument(
                    f"failed to mount local volume: mount {device}:{self.data_dir(name)}, flags: 0x1000: "
                    "no such file or directory"
                )
        existing = self.find(name)
        if existing is not None:
            if options and existing.options != options:
                raise Conflict(f"create {name}: volume name already exists with different driver options")
            return existing, False
        v = Volume(name=name, driver=driver, labels=dict(labels or {}), options=options, created=_now(),
                   anonymous=anonymous)  # fmt: skip
        os.makedirs(self.data_dir(name), 0o755, exist_ok=True)
        os.chmod(f"{self.root}/{name}", 0o701)
        if self.owner is not None:
            os.chown(self.data_dir(name), *self.owner)
        try:
            with self.txn() as db:
                db.execute(
                    "INSERT INTO volumes VALUES (?,?,?,?,?,?,?)",
                    (v.name, v.driver, json.dumps(v.labels), json.dumps(v.options), v.created,
                     int(v.anonymous), 0),
                )  # fmt: skip
        except sqlite3.IntegrityError:  # made meanwhile by another request
            return self.get(name), False
        return v, True

    def mark_populated(self, name: str) -> None:
        with self.txn() as db:
            db.execute("UPDATE volumes SET populated = 1 WHERE name = ?", (name,))

    def remove(self, name: str) -> None:
        """The record first (atomic), then the directory: a crash between leaves an orphan
        directory that ``sweep`` removes, never a record without data."""
        self.get(name)
        self.release_device(name, force=True)
        with self.txn() as db:
            db.execute("DELETE FROM volumes WHERE name = ?", (name,))
        shutil.rmtree(f"{self.root}/{name}", ignore_errors=True)

    def sweep(self) -> None:
        """Directories with no record (a removal cut short) go; devices left mounted by a
        crashed daemon are unmounted."""
        known = {v.name for v in self.all()}
        for entry in os.listdir(self.root):
            path = f"{self.root}/{entry}"
            if entry in known or not os.path.isdir(path):
                continue
            _umount(f"{path}/_data")
            shutil.rmtree(path, ignore_errors=True)
        for name in known - set(self.mounted):
            _umount(self.data_dir(name))

    # --- devices of the local driver (type/device/o)

    def acquire_device(self, v: Volume) -> None:
        if not v.options.get("type") and not v.options.get("device"):
            return
        if self.mounted.get(v.name, 0) == 0:
            from wharf.runtime import syscalls as s
            from wharf.runtime.mountopts import parse as parse_options

            kind = v.options.get("type") or ""
            opts = [o for o in (v.options.get("o") or "").split(",") if o]
            if v.options.get("size"):
                opts.append(f"size={v.options['size']}")
            parsed = parse_options(opts)
            flags = parsed.flags
            device = v.options.get("device") or kind
            if "bind" in opts:
                flags |= s.MS_BIND
                kind = ""
            try:
                s.mount(device, self.data_dir(v.name), kind or None, flags, ",".join(parsed.data) or None)
            except OSError as exc:
                raise InvalidArgument(
                    f"error while mounting volume '{self.data_dir(v.name)}': failed to mount local volume: "
                    f"mount {device}:{self.data_dir(v.name)}: {os.strerror(exc.errno or 0).lower()}"
                ) from None
        self.mounted[v.name] = self.mounted.get(v.name, 0) + 1

    def release_device(self, name: str, force: bool = False) -> None:
        n = self.mounted.get(name, 0)
        if n == 0 and not force:
            return
        if n <= 1 or force:
            self.mounted.pop(name, None)
            _umount(self.data_dir(name))
        else:
            self.mounted[name] = n - 1


def _umount(path: str) -> None:
    if not os.path.ismount(path):
        return
    from wharf.runtime import syscalls as s

    try:
        s.umount2(path, s.MNT_DETACH)
    except OSError:
        pass


def _volume(r: tuple[Any, ...]) -> Volume:
    return Volume(name=r[0], driver=r[1], labels=json.loads(r[2]), options=json.loads(r[3]), created=r[4],
                  anonymous=bool(r[5]), populated=bool(r[6]))  # fmt: skip
