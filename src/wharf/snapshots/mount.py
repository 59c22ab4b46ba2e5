"""``Mount``: the lingua franca between snapshotters and whatever mounts a rootfs.

A snapshotter emits a list of mounts (``overlay`` with lower/upper/work dirs, or a ``bind`` of a
directory); the runtime or a test mounts them on a target with ``mount_all`` and takes them down
with ``unmount``.
"""

from __future__ import annotations

from dataclasses import dataclass

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MNT_DETACH = 2


@dataclass(frozen=True)
class Mount:
    type: str
    source: str
    options: tuple[str, ...] = ()

    def readonly(self) -> bool:
        return "ro" in self.options

    def to_json(self) -> dict[str, object]:
        return {"Type": self.type, "Source": self.source, "Options": list(self.options)}


def mount_all(mounts: list[Mount], target: str) -> None:
    """Mount ``mounts`` on ``target``, in order."""
    from wharf.runtime import syscalls

    for m in mounts:
        if m.type == "bind":
            syscalls.mount(m.source, target, None, MS_BIND | MS_REC)
            if m.readonly():
                syscalls.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        else:
            data = ",".join(o for o in m.options if o not in ("ro", "rw"))
            syscalls.mount(m.source, target, m.type, MS_RDONLY if m.readonly() else 0, data)


def unmount(target: str) -> None:
    from wharf.runtime import syscalls

    syscalls.umount2(target, MNT_DETACH)


def unmount_all(target: str) -> None:
    """Take every mount stacked on ``target`` down (quietly: what cannot go stays)."""
    import os

    while os.path.ismount(target):
        try:
            unmount(target)
        except OSError:
            return
