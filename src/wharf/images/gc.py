"""Garbage collection of the image store: mark from the roots, sweep the rest.

Roots: every image name (its target and everything it references: index → manifests → config
and layers → the layers' snapshot chain), every live lease's resources, every blob committed
after the oldest live lease began (a pull in progress has not named its image yet), and every
active snapshot (a container's writable layer) with its parents. Expired leases are dropped
first. Blobs and committed snapshots outside the marked set are deleted, children before
parents. In-flight ingests are never touched: they are not blobs yet.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from wharf.errors import FailedPrecondition, WharfError
from wharf.oci import image as ociimage
from wharf.snapshots.snapshotter import KIND_COMMITTED

if TYPE_CHECKING:
    from wharf.images.store import ImageStore


def _mark_content(store: ImageStore, digest: str, media_type: str, blobs: set[str], snaps: set[str]) -> None:
    """Mark ``digest`` and everything it references (an explicit stack: an index may nest
    indexes to any depth)."""
    todo = [(digest, media_type)]
    while todo:
        digest, media_type = todo.pop()
        if digest in blobs or not store.content.exists(digest):
            blobs.add(digest)
            continue
        blobs.add(digest)
        if not (ociimage.is_index(media_type) or ociimage.is_manifest(media_type) or not media_type):
            continue
        try:
            obj: dict[str, Any] = store.read_json(digest, "manifest")
        except WharfError:
            continue
        mt = ociimage.media_type_of(obj, media_type)
        todo.extend((child.digest, child.media_type) for child in ociimage.children(mt, obj))
        if ociimage.is_manifest(mt):
            try:
                snaps.update(layer.chain_id for layer in store.layers(obj))
            except WharfError:
                pass


def collect(store: ImageStore, removed_snapshots: list[str] | None = None) -> dict[str, int]:
    """Sweep; ``removed_snapshots`` (if given) receives the keys of the snapshots deleted, children
    before parents (a layer's chain ID: what ``docker rmi`` lists as "Deleted" after the image)."""
    now = time.time()
    db = store.db
    with db.txn() as c:
        c.execute("DELETE FROM leases WHERE expires_at < ?", (now,))
    blobs: set[str] = set()
    snaps: set[str] = set()
    for record in store.list_images():
        _mark_content(store, record.target.digest, record.target.media_type, blobs, snaps)
    for kind, ref in db.conn.execute("SELECT kind, ref FROM lease_resources"):
        (blobs if kind == "content" else snaps).add(ref)
    oldest = db.conn.execute("SELECT MIN(created_at) FROM leases").fetchone()[0]
    infos = {i.key: i for i in store.snapshots.walk()}
    for info in infos.values():
        if info.kind != KIND_COMMITTED:
            snaps.add(info.key)
    # a kept snapshot keeps its parents
    stack = list(snaps)
    while stack:
        key = stack.pop()
        parent = infos[key].parent if key in infos else ""
        if parent and parent not in snaps:
            snaps.add(parent)
            stack.append(parent)
    removed_blobs = 0
    reclaimed = 0
    for digest, size in list(store.content.list()):
        if digest in blobs:
            continue
        if oldest is not None:
            try:
                if os.stat(store.content.path(digest)).st_mtime >= oldest:
                    continue
            except FileNotFoundError:
                continue
        try:
            store.content.delete(digest)
            removed_blobs += 1
            reclaimed += size
        except WharfError:
            pass
    removed_snaps = 0
    doomed = [k for k, i in infos.items() if i.kind == KIND_COMMITTED and k not in snaps]
    children: dict[str, int] = {}
    for i in infos.values():
        if i.parent:
            children[i.parent] = children.get(i.parent, 0) + 1
    progress = True
    while doomed and progress:
        progress = False
        for key in list(doomed):
            if children.get(key, 0):
                continue
            try:
                reclaimed += store.snapshots.usage(key)
            except (WharfError, OSError):
                pass
            try:
                store.snapshots.remove(key)
            except FailedPrecondition:
                pass  # its record is gone; what is left of its files goes with the next removal
            removed_snaps += 1
            if removed_snapshots is not None:
                removed_snapshots.append(key)
            doomed.remove(key)
            parent = infos[key].parent
            if parent:
                children[parent] -= 1
            progress = True
    return {"blobs": removed_blobs, "snapshots": removed_snaps, "bytes": reclaimed}
