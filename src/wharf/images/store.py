"""ImageStore: names → descriptors (SQLite) over a content store and a snapshotter.

Layout under ``root``::

    content/              LocalContentStore: manifests, indexes, configs, layer blobs
    snapshots/<driver>/   overlayfs (when the kernel allows it) or native snapshots
    metadata.db           images and leases (schema in ``wharf.metadata.db``)

Lifecycle of an image: a pull or load writes blobs into ``content`` (inside ``with lease():`` so
GC leaves them alone; a lease, an extraction and a ``temp_dir`` carry their process's
``base.owner`` token, and opening the store drops those of processes gone), ``unpack`` turns
its layers into snapshots keyed by chain ID, then ``set_image`` names it in one transaction.
Image ID = the config digest (as Docker). A name that moves to another image leaves the old one
dangling (``moby-dangling@<digest>``, shown as ``<none>:<none>``) unless another name still
holds it. Removing names and calling ``gc()``
deletes every blob and snapshot no image, lease or container snapshot still needs.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from wharf.base.idmap import IdMap
from wharf.content.local import LocalContentStore
from wharf.errors import InvalidArgument, NotFound
from wharf.images.unpack import Layer, unpack_layers
from wharf.metadata.db import MetadataDB
from wharf.oci import image as ociimage
from wharf.oci.descriptor import Descriptor, Platform
from wharf.oci.digest import is_digest
from wharf.oci.reference import Reference, parse_reference
from wharf.snapshots import open_snapshotter

DANGLING_PREFIX = "moby-dangling@"
BUILD_PREFIX = "wharf-build@"  # a build step's image: found by ID and by the build cache, not listed
_UNNAMED = (DANGLING_PREFIX, BUILD_PREFIX)
_NAMED_SQL = "name NOT LIKE 'moby-dangling@%' AND name NOT LIKE 'wharf-build@%'"
LEASE_TTL = 24 * 3600.0
TMP_PREFIX = "tmp-"  # then the owner (base.owner) and a random part
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class ImageRecord:
    name: str
    target: Descriptor
    config_digest: str
    created_at: float
    updated_at: float
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.config_digest

    def dangling(self) -> bool:
        return self.name.startswith(DANGLING_PREFIX)

    def build_step(self) -> bool:
        """A build step's record (``wharf-build@<manifest digest>``): the image of a step
        other than the last, kept for the build cache and hidden from ``images`` without ``-a``."""
        return self.name.startswith(BUILD_PREFIX)

    def reference(self) -> Reference | None:
        return None if self.name.startswith(_UNNAMED) else parse_reference(self.name)


@dataclass
class Lease:
    """Blobs and snapshots added to a lease survive GC until the lease ends."""

    id: str
    _store: ImageStore

    def add(self, digest: str, kind: str = "content") -> None:
        with self._store.db.txn() as c:
            c.execute("INSERT OR IGNORE INTO lease_resources VALUES (?, ?, ?)", (self.id, kind, digest))


class ImageStore:
    def __init__(
        self,
        root: str,
        snapshotter: str | None = None,
        platform: Platform | None = None,
        id_map: IdMap | None = None,
    ):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self.content = LocalContentStore(f"{root}/content")
        self.snapshots = open_snapshotter(f"{root}/snapshots", snapshotter)
        self.snapshots.id_map = id_map  # userns-remap: layers unpacked owned by the ranges' ids
        self.db = MetadataDB(f"{root}/metadata.db")
        self.platform = platform or Platform.host()
        self.lock = threading.RLock()
        self._sweep_abandoned()

    def _sweep_abandoned(self) -> None:
        """What operations of processes now gone left (a daemon killed with SIGKILL): their
        leases (which would hold content from GC for LEASE_TTL), their extractions in progress
        and their temporary trees (``TMP_PREFIX``)."""
        import logging
        import sqlite3

        from wharf.base import owner, trees
        from wharf.errors import WharfError
        from wharf.images.unpack import sweep_abandoned

        try:  # best effort (a full disk may refuse it): nothing here is needed to go on
            with self.db.txn() as c:
                ids = [i for (i,) in c.execute("SELECT id FROM leases")]
                dead = [(i,) for i in ids if not owner.alive(i.partition("-")[0])]
                c.executemany("DELETE FROM leases WHERE id = ?", dead)
            sweep_abandoned(self.snapshots)
        except (OSError, sqlite3.Error, WharfError) as exc:
            logging.getLogger("wharf.images").warning("image store: sweep of dead operations: %s", exc)
        for name in os.listdir(self.root):
            if name.startswith(TMP_PREFIX) and not owner.alive(name[len(TMP_PREFIX) :].partition("-")[0]):
                trees.remove_tree(f"{self.root}/{name}", ignore_errors=True)

    @contextmanager
    def temp_dir(self) -> Iterator[str]:
        """A temporary tree inside the store (on its filesystem), removed after (at any depth),
        or by the next store opened if its process dies."""
        from wharf.base import owner, trees

        tmp = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{owner.me()}-", dir=self.root)
        try:
            yield tmp
        finally:
            trees.remove_tree(tmp, ignore_errors=True)

    def close(self) -> None:
        self.snapshots.close()
        self.db.close()

    # --- content graph

    def read_json(self, digest: str, what: str) -> dict[str, Any]:
        return ociimage.loads(self.content.read_bytes(digest), what)

    def platform_manifest(self, target: Descriptor) -> tuple[Descriptor, dict[str, Any]]:
        """The manifest ``target`` stands for on this host (itself, or the index's pick)."""
        obj = self.read_json(target.digest, "manifest")
        media_type = ociimage.media_type_of(obj, target.media_type)
        if ociimage.is_index(media_type):
            desc = ociimage.platform_manifest(obj, self.platform)
            return desc, self.read_json(desc.digest, "manifest")
        if not ociimage.is_manifest(media_type):
            raise InvalidArgument(f"{target.digest}: not a manifest or index ({media_type})")
        return target, obj

    def manifest(self, record: ImageRecord) -> dict[str, Any]:
        return self.platform_manifest(record.target)[1]

    def config(self, record: ImageRecord) -> dict[str, Any]:
        return self.read_json(record.config_digest, "image config")

    def layers(self, manifest: dict[str, Any]) -> list[Layer]:
        config = self.read_json(ociimage.manifest_config(manifest).digest, "image config")
        blobs = ociimage.manifest_layers(manifest)
        diffs = ociimage.diff_ids(config)
        if len(blobs) != len(diffs):
            raise InvalidArgument(f"image has {len(blobs)} layers but {len(diffs)} diff ids")
        chains = ociimage.chain_ids(diffs)
        return [
            Layer(b, d, c, chains[i - 1] if i else "")
            for i, (b, d, c) in enumerate(zip(blobs, diffs, chains, strict=True))
        ]

    def unpack(self, manifest_digest: str, fetched: Mapping[str, Future[None]] | None = None) -> str:
        """Unpack the layers of a manifest (or an index's platform manifest); returns the top chain
        ID. ``fetched``: the blobs still downloading (a pull), each layer extracted once it is in."""
        size = self.content.size(manifest_digest)
        _, manifest = self.platform_manifest(Descriptor("", manifest_digest, size))
        layers = self.layers(manifest)
        unpack_layers(self.content, self.snapshots, layers, fetched)
        return layers[-1].chain_id if layers else ""

    def top_chain_id(self, record: ImageRecord) -> str:
        layers = self.layers(self.manifest(record))
        return layers[-1].chain_id if layers else ""

    # --- names

    def set_image(self, name: str, target: Descriptor, labels: dict[str, str] | None = None) -> None:
        """Point ``name`` at ``target`` (one transaction); the image it replaces may turn dangling."""
        if not name.startswith(_UNNAMED):
            name = str(parse_reference(name))
        config_digest = ociimage.manifest_config(self.platform_manifest(target)[1]).digest
        now = time.time()
        with self.lock, self.db.txn() as c:
            prior = self._get(name)
            c.execute(
                "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                " target_media_type=excluded.target_media_type, target_digest=excluded.target_digest,"
                " target_size=excluded.target_size, config_digest=excluded.config_digest,"
                " updated_at=excluded.updated_at, labels=excluded.labels",
                (
                    name,
                    target.media_type,
                    target.digest,
                    target.size,
                    config_digest,
                    now,
                    now,
                    json.dumps(labels or {}),
                ),
            )
            if not name.startswith(_UNNAMED):
                c.execute(
                    "DELETE FROM images WHERE config_digest = ? AND name LIKE 'moby-dangling@%'",
                    (config_digest,),
                )
            if prior is not None and prior.config_digest != config_digest:
                self._keep_dangling(prior, now)

    def _keep_dangling(self, prior: ImageRecord, now: float) -> None:
        if self.names_of(prior.config_digest):
            return
        self.db.conn.execute(
            "INSERT OR IGNORE INTO images VALUES (?, ?, ?, ?, ?, ?, ?, '{}')",
            (
                DANGLING_PREFIX + prior.target.digest,
                prior.target.media_type,
                prior.target.digest,
                prior.target.size,
                prior.config_digest,
                prior.created_at,
                now,
            ),
        )

    def delete_name(self, name: str) -> None:
        with self.lock, self.db.txn() as c:
            if c.execute("DELETE FROM images WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"No such image: {_familiar(name)}")

    def _get(self, name: str) -> ImageRecord | None:
        row = self.db.conn.execute(f"SELECT {_COLUMNS} FROM images WHERE name = ?", (name,)).fetchone()
        return None if row is None else _record(row)

    def get_image(self, name: str) -> ImageRecord:
        ref = parse_reference(name) if not name.startswith(_UNNAMED) else None
        record = self._get(str(ref) if ref else name)
        if record is None:
            raise NotFound(f"No such image: {ref.familiar() if ref else name}")
        return record

    def list_images(self) -> list[ImageRecord]:
        rows = self.db.conn.execute(f"SELECT {_COLUMNS} FROM images ORDER BY name")
        return [_record(r) for r in rows]

    def names_of(self, image_id: str) -> list[ImageRecord]:
        """The records (names, tags and digests) of one image ID, dangling and build steps excluded."""
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM images WHERE config_digest = ? AND {_NAMED_SQL} ORDER BY name",
            (image_id,),
        )
        return [_record(r) for r in rows]

    def records_of(self, image_id: str) -> list[ImageRecord]:
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM images WHERE config_digest = ? ORDER BY name", (image_id,)
        )
        return [_record(r) for r in rows]

    def resolve(self, ref_or_id: str) -> ImageRecord:
        """By name, by digest reference, then by full or short image ID (as ``docker`` does)."""
        by_name = self._by_reference(ref_or_id)
        if by_name is not None:
            return by_name
        by_id = self._by_id(ref_or_id)
        if by_id is not None:
            return by_id
        raise NotFound(f"No such image: {_familiar_or_raw(ref_or_id)}")

    def _by_reference(self, s: str) -> ImageRecord | None:
        try:
            ref = parse_reference(s)
        except InvalidArgument:
            return None
        record = self._get(str(ref))
        if record is not None or ref.digest is None:
            return record
        rows = self.db.conn.execute(
            f"SELECT {_COLUMNS} FROM images WHERE target_digest = ? AND (name LIKE ? OR name LIKE ?)",
            (ref.digest, ref.name() + ":%", ref.name() + "@%"),
        ).fetchall()
        return _record(rows[0]) if rows else None

    def _by_id(self, s: str) -> ImageRecord | None:
        hexpart = s[len("sha256:") :] if s.startswith("sha256:") else s
        if not hexpart or not _HEX.issuperset(hexpart) or len(hexpart) > 64:
            return None
        if s.startswith("sha256:") and is_digest(s):
            rows = self.db.conn.execute(
                f"SELECT {_COLUMNS} FROM images WHERE config_digest = ? ORDER BY name", (s,)
            ).fetchall()
        else:
            rows = self.db.conn.execute(
                f"SELECT {_COLUMNS} FROM images WHERE config_digest LIKE ? ORDER BY name",
                (f"sha256:{hexpart}%",),
            ).fetchall()
        if len({r[4] for r in rows}) != 1:
            return None
        return _record(rows[0])

    # --- leases and GC

    @contextmanager
    def lease(self, ttl: float = LEASE_TTL) -> Iterator[Lease]:
        """Protect what is written meanwhile from GC (every blob newer than the lease, and
        whatever is ``add``-ed to it)."""
        from wharf.base import owner

        lease = Lease(f"{owner.me()}-{os.urandom(8).hex()}", self)
        now = time.time()
        with self.db.txn() as c:
            c.execute("INSERT INTO leases VALUES (?, ?, ?)", (lease.id, now, now + ttl))
        try:
            yield lease
        finally:
            with self.db.txn() as c:
                c.execute("DELETE FROM leases WHERE id = ?", (lease.id,))

    def gc(self, removed_snapshots: list[str] | None = None) -> dict[str, int]:
        from wharf.images.gc import collect

        with self.lock:
            return collect(self, removed_snapshots)


_COLUMNS = (
    "name, target_media_type, target_digest, target_size, config_digest, created_at, updated_at, labels"
)


def _record(row: tuple[Any, ...]) -> ImageRecord:
    name, mt, digest, size, config, created, updated, labels = row
    return ImageRecord(name, Descriptor(mt, digest, size), config, created, updated, json.loads(labels))


def _familiar(name: str) -> str:
    try:
        return parse_reference(name).familiar()
    except InvalidArgument:
        return name


def _familiar_or_raw(s: str) -> str:
    try:
        return parse_reference(s).familiar()
    except InvalidArgument:
        return s
