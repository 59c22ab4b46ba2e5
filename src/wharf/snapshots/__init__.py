"""Snapshotters (see ``snapshotter.py``): ``overlayfs`` when the kernel allows it, else ``native``."""

from __future__ import annotations

from wharf.snapshots.base import BaseSnapshotter


def open_snapshotter(root: str, driver: str | None = None) -> BaseSnapshotter:
    """The snapshotter at ``<root>/<driver>``; picks overlayfs if supported when ``driver`` is None."""
    from wharf.snapshots import native, overlay

    if driver is None:
        driver = "overlayfs" if overlay.supported(root) else "native"
    if driver == "overlayfs":
        return overlay.OverlaySnapshotter(f"{root}/overlayfs")
    if driver == "native":
        return native.NativeSnapshotter(f"{root}/native")
    from wharf.errors import InvalidArgument

    raise InvalidArgument(f"unknown snapshotter {driver!r}")
