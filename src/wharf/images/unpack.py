"""Unpack: an image's layers (blobs in the content store) → committed snapshots keyed by chain ID.

For each layer whose chain ID has no snapshot yet: prepare an active snapshot, stream the blob
through decompression (gzip/zstd/none, detected) and a DiffID hasher into ``apply_layer``, check
the DiffID against the config's ``rootfs.diff_ids``, then commit the snapshot under its chain ID.
A mismatch removes the active snapshot and raises FailedPrecondition; nothing half-applied is
ever committed.

With overlay whiteouts a layer's snapshot does not depend on its parent's contents, so missing
layers are extracted concurrently (zlib, hashing and file writes release the GIL) into parentless
active snapshots, then committed in order with their parent set. A layer that hardlinks to a
file of a lower layer cannot be extracted without its parents: it is redone in order. Snapshots
are shared: an image whose base is already unpacked only extracts its own layers, and two
unpacks racing on one layer both succeed (the second commit finds it committed).

A pull passes ``fetched``: for each blob still downloading, the future of its download. Each
layer's extraction then starts as soon as its own blob is in the content store, while the
others are still arriving (download, decompression and extraction overlap).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from wharf.archive import gnutar
from wharf.archive.apply import apply_layer
from wharf.archive.compression import HashingReader, decompressed
from wharf.base import idmap, owner
from wharf.content.local import LocalContentStore
from wharf.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from wharf.oci.descriptor import Descriptor
from wharf.snapshots.base import BaseSnapshotter
from wharf.snapshots.snapshotter import KIND_ACTIVE

MAX_WORKERS = 4


@dataclass(frozen=True)
class Layer:
    blob: Descriptor
    diff_id: str
    chain_id: str
    parent: str


def unpack_layers(
    content: LocalContentStore,
    sn: BaseSnapshotter,
    layers: list[Layer],
    fetched: Mapping[str, Future[None]] | None = None,
) -> None:
    """Make sure a committed snapshot exists for every layer's chain ID (``fetched``: the
    downloads still going, by blob digest; each layer waits for its own)."""
    fetched = fetched or {}
    missing = [layer for layer in layers if not sn.exists(layer.chain_id)]
    if not missing:
        for job in fetched.values():
            job.result()
        return
    if sn.overlay_whiteouts and len(missing) > 1:
        _unpack_concurrently(content, sn, missing, fetched)
    else:
        for layer in missing:
            _arrived(fetched, layer)
            _extract_and_commit(content, sn, layer, layer.parent)


def _arrived(fetched: Mapping[str, Future[None]], layer: Layer) -> None:
    job = fetched.get(layer.blob.digest)
    if job is not None:
        job.result()  # the download's error, if it failed


def _unpack_concurrently(
    content: LocalContentStore,
    sn: BaseSnapshotter,
    missing: list[Layer],
    fetched: Mapping[str, Future[None]],
) -> None:
    def extract(layer: Layer) -> str:
        _arrived(fetched, layer)
        return _extract(content, sn, layer, "")

    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(missing))) as pool:
        jobs = [(layer, pool.submit(extract, layer)) for layer in missing]
        try:
            for layer, job in jobs:
                _commit_job(content, sn, layer, job)
        except BaseException:
            _drop_uncommitted(sn, [job for _, job in jobs])
            raise


def _drop_uncommitted(sn: BaseSnapshotter, jobs: list[Future[str]]) -> None:
    """After a failed unpack: the layers extracted but not committed go (nothing would commit
    them, and GC keeps active snapshots)."""
    for job in jobs:
        try:
            key = job.result()
        except BaseException:  # that one failed: it removed its own snapshot
            continue
        try:
            sn.remove(key)
        except NotFound:
            pass  # committed: a commit renames the active snapshot


def _commit_job(content: LocalContentStore, sn: BaseSnapshotter, layer: Layer, job: Future[str]) -> None:
    try:
        key = job.result()
    except _NeedsParent:
        _extract_and_commit(content, sn, layer, layer.parent)
        return
    _commit(sn, layer, key)


class _NeedsParent(Exception):
    pass


def _extract_and_commit(content: LocalContentStore, sn: BaseSnapshotter, layer: Layer, parent: str) -> None:
    if sn.exists(layer.chain_id):
        return
    key = _extract(content, sn, layer, parent, with_parent=True)
    _commit(sn, layer, key)


EXTRACT_PREFIX = "extract-"  # then the owner (base.owner), a random part and the chain ID


def sweep_abandoned(sn: BaseSnapshotter) -> None:
    """Active snapshots of extractions whose process is gone (a pull, load or commit killed
    mid-unpack): nothing will ever commit them, and GC keeps every active snapshot."""
    for info in sn.walk():
        if info.kind != KIND_ACTIVE or not info.key.startswith(EXTRACT_PREFIX):
            continue
        if not owner.alive(info.key[len(EXTRACT_PREFIX) :].partition("-")[0]):
            try:
                sn.remove(info.key)
            except NotFound:
                pass  # removed meanwhile


def _commit(sn: BaseSnapshotter, layer: Layer, key: str) -> None:
    try:
        sn.commit(layer.chain_id, key, parent=layer.parent)
    except AlreadyExists:
        sn.remove(key)  # a concurrent unpack committed the same layer first


def _extract(
    content: LocalContentStore, sn: BaseSnapshotter, layer: Layer, parent: str, with_parent: bool = False
) -> str:
    if sn.overlay_whiteouts and gnutar.available():
        key = f"{EXTRACT_PREFIX}{owner.me()}-{os.urandom(4).hex()}-{layer.chain_id}"
        sn.prepare(key, parent)
        try:
            with content.open(layer.blob.digest) as raw:
                reader = HashingReader(decompressed(raw))
                gnutar.extract(reader, sn.apply_dir(key))
                reader.drain()
            if reader.digest() == layer.diff_id:
                if sn.id_map is not None:  # a fresh upper directory: only this layer's entries
                    idmap.shift_tree(sn.apply_dir(key), sn.id_map)
                return key
        except gnutar.TarFailed:
            pass  # the Python applier below says precisely why, or handles the case
        except BaseException:
            sn.remove(key)
            raise
        sn.remove(key)
    key = f"{EXTRACT_PREFIX}{owner.me()}-{os.urandom(4).hex()}-{layer.chain_id}"
    sn.prepare(key, parent)
    try:
        with content.open(layer.blob.digest) as raw:
            reader = HashingReader(decompressed(raw))
            try:
                apply_layer(
                    reader,
                    sn.apply_dir(key),
                    overlay=sn.overlay_whiteouts,
                    lowers=sn.lower_dirs(key),
                    ids=sn.id_map or idmap.IDENTITY,
                )
            except InvalidArgument as e:
                if not with_parent and "hardlink target" in str(e):
                    raise _NeedsParent() from None
                raise InvalidArgument(f"layer {layer.blob.digest}: {e}") from None
            reader.drain()
        got = reader.digest()
        if got != layer.diff_id:
            raise FailedPrecondition(
                f"layer {layer.blob.digest}: diff id mismatch: expected {layer.diff_id}, got {got}"
            )
    except BaseException:
        sn.remove(key)
        raise
    return key
