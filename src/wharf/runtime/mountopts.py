"""Parse OCI mount options into mount(2) flags, propagation flags and filesystem data.

Pure: no system calls, so it is unit-tested on its own. The option names are those of
mount(8), which the runtime spec refers to.
"""

from __future__ import annotations

from wharf.errors import InvalidArgument
from wharf.runtime import syscalls as s

# name -> (clear?, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, s.MS_SYNCHRONOUS),
    "atime": (True, s.MS_NOATIME),
    "bind": (False, s.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, s.MS_NODEV),
    "diratime": (True, s.MS_NODIRATIME),
    "dirsync": (False, s.MS_DIRSYNC),
    "exec": (True, s.MS_NOEXEC),
    "mand": (False, s.MS_MANDLOCK),
    "noatime": (False, s.MS_NOATIME),
    "nodev": (False, s.MS_NODEV),
    "nodiratime": (False, s.MS_NODIRATIME),
    "noexec": (False, s.MS_NOEXEC),
    "nomand": (True, s.MS_MANDLOCK),
    "norelatime": (True, s.MS_RELATIME),
    "nostrictatime": (True, s.MS_STRICTATIME),
    "nosuid": (False, s.MS_NOSUID),
    "nosymfollow": (False, s.MS_NOSYMFOLLOW),
    "symfollow": (True, s.MS_NOSYMFOLLOW),
    "rbind": (False, s.MS_BIND | s.MS_REC),
    "relatime": (False, s.MS_RELATIME),
    "remount": (False, s.MS_REMOUNT),
    "ro": (False, s.MS_RDONLY),
    "rw": (True, s.MS_RDONLY),
    "strictatime": (False, s.MS_STRICTATIME),
    "suid": (True, s.MS_NOSUID),
    "sync": (False, s.MS_SYNCHRONOUS),
    "lazytime": (False, s.MS_LAZYTIME),
    "nolazytime": (True, s.MS_LAZYTIME),
    "silent": (False, s.MS_SILENT),
    "loud": (True, s.MS_SILENT),
}

PROPAGATION: dict[str, int] = {
    "private": s.MS_PRIVATE,
    "rprivate": s.MS_PRIVATE | s.MS_REC,
    "shared": s.MS_SHARED,
    "rshared": s.MS_SHARED | s.MS_REC,
    "slave": s.MS_SLAVE,
    "rslave": s.MS_SLAVE | s.MS_REC,
    "unbindable": s.MS_UNBINDABLE,
    "runbindable": s.MS_UNBINDABLE | s.MS_REC,
}

# mount_setattr(2) attributes for the recursive "r*" options; value -> (set?, attr)
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (True, MOUNT_ATTR_RDONLY),
    "rrw": (False, MOUNT_ATTR_RDONLY),
    "rnosuid": (True, MOUNT_ATTR_NOSUID),
    "rsuid": (False, MOUNT_ATTR_NOSUID),
    "rnodev": (True, MOUNT_ATTR_NODEV),
    "rdev": (False, MOUNT_ATTR_NODEV),
    "rnoexec": (True, MOUNT_ATTR_NOEXEC),
    "rexec": (False, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (True, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (False, MOUNT_ATTR_NODIRATIME),
    "rnoatime": (True, MOUNT_ATTR_NOATIME),
    "rstrictatime": (True, MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (True, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (False, MOUNT_ATTR_NOSYMFOLLOW),
}


class MountOptions:
    __slots__ = ("flags", "propagation", "attr_set", "attr_clr", "data")

    def __init__(self) -> None:
        self.flags = 0
        self.propagation: list[int] = []
        self.attr_set = 0
        self.attr_clr = 0
        self.data: list[str] = []

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & s.MS_BIND)


def parse(options: list[str], field: str = "options") -> MountOptions:
    out = MountOptions()
    for opt in options:
        if opt in FLAGS:
            clear, flag = FLAGS[opt]
            out.flags = out.flags & ~flag if clear else out.flags | flag
        elif opt in PROPAGATION:
            out.propagation.append(PROPAGATION[opt])
        elif opt in RECURSIVE:
            on, attr = RECURSIVE[opt]
            if on:
                out.attr_set |= attr
            else:
                out.attr_clr |= attr
        elif opt in ("idmap", "ridmap"):
            raise InvalidArgument(f"{field}: idmapped mounts ({opt!r}) are not supported")
        elif opt in ("tmpcopyup",):
            raise InvalidArgument(f"{field}: {opt!r} is not supported")
        else:
            out.data.append(opt)
    return out
