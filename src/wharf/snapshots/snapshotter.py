"""Snapshotters: layered filesystems for images and containers (containerd's model).

Vocabulary:

- a **key** names an *active* (writable) or *view* (read-only) snapshot;
- a **name** names a *committed* snapshot, immutable, usable as a parent; image layers are
  committed under their **chain ID**, so images sharing a base share its snapshots;
- a **parent** is the committed snapshot a new one starts from ("" for none).

Importing a layer::

    mounts = sn.prepare("extract-1234-<chainid>", parent=<chain id of the layer below>)
    apply_layer(tar, sn.apply_dir(key), overlay=sn.overlay_whiteouts, lowers=sn.lower_dirs(key))
    sn.commit(<chainid>, "extract-1234-<chainid>")

Running a container::

    mounts = sn.prepare(<container id>, parent=<image's top chain id>)
    mount_all(mounts, rootfs) ... unmount(rootfs) ... sn.remove(<container id>)

Two backends implement ``Snapshotter``: ``overlay`` (the kernel's overlayfs; a snapshot is a
directory, parents are lowerdirs) and ``native`` (each snapshot is a full copy of its parent; for
hosts without overlayfs). Both keep their records in ``<root>/metadata.db`` (one SQLite
transaction per change) and their data in ``<root>/snapshots/<id>/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from wharf.snapshots.mount import Mount

KIND_ACTIVE = "active"
KIND_VIEW = "view"
KIND_COMMITTED = "committed"


@dataclass(frozen=True)
class Info:
    key: str
    kind: str
    parent: str
    created: float
    id: int


class Snapshotter(Protocol):
    driver: str
    overlay_whiteouts: bool

    def stat(self, key: str) -> Info: ...
    def prepare(self, key: str, parent: str = "") -> list[Mount]: ...
    def view(self, key: str, parent: str = "") -> list[Mount]: ...
    def mounts(self, key: str) -> list[Mount]: ...
    def commit(self, name: str, key: str, parent: str | None = None) -> None: ...
    def remove(self, key: str) -> None: ...
    def walk(self) -> list[Info]: ...
    def usage(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def apply_dir(self, key: str) -> str: ...
    def lower_dirs(self, key: str) -> list[str]: ...
