"""overlayfs snapshotter: each snapshot is an upper dir; its parents are the lowerdirs.

``<root>/snapshots/<id>/fs`` is the snapshot's own layer (the upper dir while active) and
``work`` the overlay work dir. An active snapshot with parents mounts as
``overlay lowerdir=<parent fs>:<grandparent fs>...,upperdir=fs,workdir=work``; without parents it
is a bind mount of ``fs``. Layers are applied straight into ``fs`` with overlay-style whiteouts
(no mount needed to unpack), so committing a layer costs nothing but a record update.
"""

from __future__ import annotations

import os
import tempfile

from wharf.base import trees
from wharf.snapshots.base import BaseSnapshotter
from wharf.snapshots.mount import Mount, mount_all, unmount
from wharf.snapshots.snapshotter import KIND_ACTIVE, KIND_VIEW


class OverlaySnapshotter(BaseSnapshotter):
    driver = "overlayfs"
    overlay_whiteouts = True

    def _populate(self, path: str, parent: str) -> None:
        os.mkdir(f"{path}/fs", 0o755)
        os.mkdir(f"{path}/work", 0o711)

    def mounts(self, key: str) -> list[Mount]:
        info = self._row(key)
        own = self.dir(info)
        lowers = self.lower_dirs(key)
        if info.kind == KIND_ACTIVE:
            if not lowers:
                return [Mount("bind", f"{own}/fs", ("rbind", "rw"))]
            options = (f"workdir={own}/work", f"upperdir={own}/fs", "lowerdir=" + ":".join(lowers))
            return [Mount("overlay", "overlay", ("index=off", *options))]
        if info.kind == KIND_VIEW and len(lowers) > 1:
            return [Mount("overlay", "overlay", ("ro", "lowerdir=" + ":".join(lowers)))]
        source = lowers[0] if info.kind == KIND_VIEW and lowers else f"{own}/fs"
        return [Mount("bind", source, ("rbind", "ro"))]


def supported(root: str) -> bool:
    """True if overlayfs mounts work with upper dirs on ``root``'s filesystem (needs root)."""
    if os.geteuid() != 0 or not _kernel_has_overlay():
        return False
    os.makedirs(root, exist_ok=True)
    probe = tempfile.mkdtemp(prefix="overlay-probe-", dir=root)
    try:
        for d in ("lower", "upper", "work", "merged"):
            os.mkdir(f"{probe}/{d}")
        m = Mount(
            "overlay",
            "overlay",
            (f"lowerdir={probe}/lower", f"upperdir={probe}/upper", f"workdir={probe}/work"),
        )
        try:
            mount_all([m], f"{probe}/merged")
        except OSError:
            return False
        unmount(f"{probe}/merged")
        return True
    finally:
        trees.remove_tree(probe, ignore_errors=True)


def _kernel_has_overlay() -> bool:
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == "overlay" for line in f if line.strip())
