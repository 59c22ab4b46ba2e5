"""Native (copy) snapshotter for hosts without overlayfs.

A new snapshot's ``fs`` starts as a full copy of its parent's (``cp -a --reflink=auto``, which
keeps hardlinks, xattrs, devices and ownership, and shares extents where the filesystem can);
its mount is a bind of that directory. Layers are applied with whiteouts as removals.
"""

from __future__ import annotations

import os
import subprocess

from wharf.errors import FailedPrecondition
from wharf.snapshots.base import BaseSnapshotter
from wharf.snapshots.mount import Mount
from wharf.snapshots.snapshotter import KIND_ACTIVE


class NativeSnapshotter(BaseSnapshotter):
    driver = "native"
    overlay_whiteouts = False

    def _populate(self, path: str, parent: str) -> None:
        if not parent:
            os.mkdir(f"{path}/fs", 0o755)
            return
        src = self.fs_dir(parent)
        proc = subprocess.run(
            ["cp", "-a", "--reflink=auto", src, f"{path}/fs"], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise FailedPrecondition(f"copy snapshot {parent}: {proc.stderr.strip()}")

    def lower_dirs(self, key: str) -> list[str]:
        return []

    def mounts(self, key: str) -> list[Mount]:
        info = self._row(key)
        mode = "rw" if info.kind == KIND_ACTIVE else "ro"
        return [Mount("bind", f"{self.dir(info)}/fs", ("rbind", mode))]
