"""Containers as the engine knows them: the record and its store.

Every container is one row of ``<data-root>/engine.db``::

    containers(id TEXT PRIMARY KEY,      -- 64 hex
               name TEXT UNIQUE NOT NULL, -- without the leading "/"
               doc TEXT NOT NULL)        -- the record as JSON (Container.to_doc)

Migrations are ``SCHEMA`` below, applied by ``wharf.base.sqlite``. The name's uniqueness is the
database's: two creates racing for one name cannot both win.
Every change of a container is one transaction (SQLite, WAL), so a daemon killed at any point
finds each container either before or after a change. The store keeps all records in memory
as well: ``ps`` and ``inspect`` never touch the disk.

The lifecycle (statuses, moves, guards) is ``engine/state.py``'s.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from wharf.base.files import no_space
from wharf.base.sqlite import open_db
from wharf.engine.request import ContainerConfig, HostConfig
from wharf.engine.state import State
from wharf.errors import AlreadyExists, InvalidArgument, NoSpace, NotFound

NAME_RE = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

SCHEMA = [
    # version 1
    """CREATE TABLE containers (
        id TEXT PRIMARY KEY,
        name TEXT UNIQUE NOT NULL,
        doc TEXT NOT NULL
    )""",
]


@dataclass
class Container:
    id: str
    name: str
    created: str
    config: ContainerConfig
    host_config: HostConfig
    image_id: str
    image_name: str
    path: str
    args: list[str]
    snapshot_key: str = ""
    state: State = field(default_factory=State)
    restart_count: int = 0
    has_been_started: bool = False
    manually_stopped: bool = False
    networking: dict[str, Any] = field(default_factory=dict)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    runtime: str = "wharf"
    links: dict[str, str] = field(default_factory=dict)  # legacy links: alias -> child ID
    # SecurityOpt no-new-privileges over the daemon's default, decided at create as dockerd does
    no_new_privileges: bool = False
    labels_cache: dict[str, str] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def to_doc(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("state", "labels_cache")}
        d["state"] = dict(self.state.__dict__)
        return d

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Container:
        doc = dict(doc)
        state = State(**doc.pop("state"))
        return cls(state=state, **doc)


_ADJECTIVES = (
    "agile amber ancient bold brave bright calm clever cosmic crisp curious daring eager fair fond "
    "gentle glad golden happy hardy humble jolly keen kind lively lucid merry mellow nimble noble "
    "patient plucky proud quick quiet rapid serene sharp shy silent sleek smart snug steady sunny "
    "swift tender tidy upbeat vivid warm wise witty zealous"
).split()
_NOUNS = (
    "anchor barge beacon buoy cable canal capstan cargo compass crane current delta dock dory "
    "estuary ferry fjord galley gull harbor hawser helm hull inlet jetty keel kelp lagoon lantern "
    "lighthouse mast mooring oar pier pilot quay raft reef rudder sail schooner shoal skiff "
    "sloop spar tide tugboat wharf"
).split()


def random_name(taken: set[str]) -> str:
    """adjective_noun, like Docker's generated names (with a digit when the pair is taken)."""
    for attempt in range(100):
        name = f"{random.choice(_ADJECTIVES)}_{random.choice(_NOUNS)}"
        if attempt:
            name += str(random.randint(0, 9))
        if name not in taken:
            return name
    return f"wharf_{os.urandom(4).hex()}"


def validate_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


class ContainerStore:
    def __init__(self, path: str) -> None:
        # NORMAL: a power loss may take the last changes, never the store's consistency
        self._db = open_db(path, SCHEMA, synchronous="NORMAL")
        self._lock = threading.RLock()
        self.by_id: dict[str, Container] = {}
        self.reserved: dict[str, str] = {}  # name -> ID of a create under way (``reserving``)
        # bumped by every write of a container: what views cached from a record are keyed by
        self.revs: dict[str, int] = {}
        # containers whose last change could not be written (a full disk): ``flush`` retries
        self.unsaved: set[str] = set()
        for cid, doc in self._db.execute("SELECT id, doc FROM containers"):
            self.by_id[cid] = Container.from_doc(json.loads(doc))

    def close(self) -> None:
        self._db.close()

    def names(self) -> set[str]:
        """The names of the containers, and of those being created."""
        return {c.name for c in self.by_id.values()} | self.reserved.keys()

    @contextmanager
    def reserving(self, name: str, cid: str) -> Iterator[None]:
        """``name`` taken by the create of ``cid`` until its record is added (or it fails): a
        create awaits between choosing a name and adding its record, and two concurrent ones
        must not choose the same (a generated name, or the same asked one)."""
        self.reserved[name] = cid
        try:
            yield
        finally:
            self.reserved.pop(name, None)

    def add(self, c: Container) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO containers VALUES (?, ?, ?)", (c.id, c.name, json.dumps(c.to_doc()))
                )
            except sqlite3.IntegrityError:
                other = self.by_name(c.name)
                owner = other.id if other else "another container"
                raise AlreadyExists(
                    f'Conflict. The container name "/{c.name}" is already in use by container "{owner}".'
                    " You have to remove (or rename) that container to be able to reuse that name."
                ) from None
            self.by_id[c.id] = c
            self.revs[c.id] = self.revs.get(c.id, 0) + 1

    def save(self, c: Container) -> None:
        """Write ``c``'s state. On a full disk it raises NoSpace and keeps ``c`` for ``flush``:
        the state in memory (what the API shows) is the new one either way."""
        with self._lock:
            try:
                self._write(c)
            except NoSpace:
                self.unsaved.add(c.id)
                raise
            self.unsaved.discard(c.id)
            if self.unsaved:
                self.flush()

    def save_soon(self, c: Container) -> bool:
        """``save``, except that a full disk only defers the write: False when it did."""
        try:
            self.save(c)
        except NoSpace:
            return False
        return True

    def flush(self) -> bool:
        """Retry the writes a full disk deferred; True when none is left."""
        with self._lock:
            for cid in sorted(self.unsaved):
                c = self.by_id.get(cid)
                if c is not None:
                    try:
                        self._write(c)
                    except NoSpace:
                        return False
                self.unsaved.discard(cid)
            return True

    def _write(self, c: Container) -> None:
        self.revs[c.id] = self.revs.get(c.id, 0) + 1
        with _full_disk_as_no_space():
            self._db.execute(
                "UPDATE containers SET name = ?, doc = ? WHERE id = ?",
                (c.name, json.dumps(c.to_doc()), c.id),
            )

    def rename(self, c: Container, new: str) -> None:
        with self._lock:
            old = c.name
            c.name = new
            try:
                self.save(c)
            except sqlite3.IntegrityError:
                c.name = old
                other = self.by_name(new)
                raise AlreadyExists(
                    f'Conflict. The container name "/{new}" is already in use by container'
                    f' "{other.id if other else ""}". You have to remove (or rename) that container'
                    " to be able to reuse that name."
                ) from None

    def delete(self, cid: str) -> None:
        with self._lock:
            with _full_disk_as_no_space():
                self._db.execute("DELETE FROM containers WHERE id = ?", (cid,))
            self.by_id.pop(cid, None)
            self.revs.pop(cid, None)
            self.unsaved.discard(cid)

    def by_name(self, name: str) -> Container | None:
        name = name.lstrip("/")
        for c in self.by_id.values():
            if c.name == name:
                return c
        return None

    def get(self, ref: str) -> Container:
        """By full id, by name, then by unique id prefix, as Docker resolves a container."""
        if not ref:
            raise NotFound("No such container: ")
        c = self.by_id.get(ref)
        if c is not None:
            return c
        c = self.by_name(ref)
        if c is not None:
            return c
        matches = [c for cid, c in self.by_id.items() if cid.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def all(self) -> list[Container]:
        return sorted(self.by_id.values(), key=lambda c: c.created, reverse=True)


@contextmanager
def _full_disk_as_no_space() -> Iterator[None]:
    """SQLite's "database or disk is full" raised as NoSpace, in Docker's words."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        err = no_space(exc)
        if err is None:
            raise
        raise err from None


def new_id(taken: dict[str, Container]) -> str:
    while True:
        cid = os.urandom(32).hex()
        # Docker avoids ids that look like numbers (a short id must not parse as one)
        if cid not in taken and not cid[:12].isdigit():
            return cid
