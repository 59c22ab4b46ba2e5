"""The volumes a container uses while it runs: devices of local-driver volumes mounted (and
reference-counted) at start, the image's content copied up on a volume's first use, released
at exit; after a daemon restart, the counts rebuilt from the adopted containers."""

from __future__ import annotations

from wharf.engine.containers import Container, ContainerStore
from wharf.volumes.store import VolumeStore


def up(volumes: VolumeStore, c: Container, rootfs: str) -> None:
    """Before the runtime mounts them: devices of local-driver volumes mounted; a volume's
    first use copies the image's content at its destination into it (unless nocopy)."""
    from wharf.volumes.copyup import copy_up

    done: list[str] = []
    try:
        for m in c.mounts:
            if m["Type"] != "volume":
                continue
            v = volumes.get(m["Name"])
            volumes.acquire_device(v)
            done.append(v.name)
            if not v.populated:
                if not m.get("_nocopy"):
                    copy_up(rootfs, m["Destination"], volumes.data_dir(v.name))
                volumes.mark_populated(v.name)
    except BaseException:
        for name in done:
            volumes.release_device(name)
        raise


def down(volumes: VolumeStore, c: Container) -> None:
    for m in c.mounts:
        if m["Type"] == "volume":
            volumes.release_device(m["Name"])


def restore(volumes: VolumeStore, store: ContainerStore) -> None:
    """After restore: devices of volumes that adopted containers use stay mounted (and
    counted); everything else a crashed daemon left is swept."""
    for c in store.all():
        if c.state.running:
            for m in c.mounts:
                if m["Type"] == "volume":
                    volumes.mounted[m["Name"]] = volumes.mounted.get(m["Name"], 0) + 1
    volumes.sweep()
