"""Thin ctypes wrappers over the Linux system calls Python 3.11's ``os`` lacks.

Each wrapper is one call that raises ``OSError(errno, strerror, path)`` on failure, so callers
name the path in their own error messages. Only ``os`` and ``ctypes`` are imported: this module
is on the runtime's fast path and runs in the forked children between clone and execve, where
no lock held by another thread may be needed (the runtime process is single-threaded).
"""

from __future__ import annotations

import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

_MACHINE = os.uname().machine
# System call numbers glibc has no wrapper for (or had none in older releases).
_SYSNO: dict[str, int] = {
    "x86_64": {
        "pivot_root": 155,
        "capget": 125,
        "capset": 126,
        "setns": 308,
        "pidfd_open": 434,
        "seccomp": 317,
    },
    "aarch64": {
        "pivot_root": 41,
        "capget": 90,
        "capset": 91,
        "setns": 268,
        "pidfd_open": 434,
        "seccomp": 277,
    },
}.get(_MACHINE, {})

# clone(2) / unshare(2) flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

MNT_DETACH = 0x2

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


def _check(ret: int, path: str | None = None) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        if path is None:
            raise OSError(err, os.strerror(err))
        raise OSError(err, os.strerror(err), path)
    return ret


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags))


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype))


NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3), Linux 4.11


def ns_type(fd: int) -> int:
    """The CLONE_NEW* flag of the namespace an nsfs fd refers to; ENOTTY for any other file."""
    return _check(_libc.ioctl(fd, ctypes.c_ulong(NS_GET_NSTYPE)))


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)), target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), target)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_libc.syscall(_SYSNO["pivot_root"], _b(new_root), _b(put_old)), new_root)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)))


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(raw, len(raw)))


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    args = (ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), ctypes.c_ulong(arg5))
    return _check(_libc.prctl(option, *args))


def set_name(name: str) -> None:
    """The process name shown by ps (comm), at most 15 bytes."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    _libc.prctl(PR_SET_NAME, buf, 0, 0, 0)


def raw_syscall(name: str, *args: object) -> int:
    """Call a system call by name from the table above; ``OSError`` on failure."""
    return _check(_libc.syscall(_SYSNO[name], *args))


def personality(persona: int) -> None:
    _check(_libc.personality(ctypes.c_ulong(persona)))


def pidfd_open(pid: int) -> int:
    return _check(_libc.syscall(_SYSNO["pidfd_open"], pid, 0))


def umask(mask: int) -> None:
    os.umask(mask)


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


_SYS_MOUNT_SETATTR = 442  # the same number on every architecture (new-style syscall table)
_AT_FDCWD = -100
_AT_RECURSIVE = 0x8000


def mount_setattr_recursive(path: str, attr_set: int, attr_clr: int) -> None:
    """mount_setattr(2) with AT_RECURSIVE: the runtime spec's "rro", "rnosuid", ... options."""
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    ret = _libc.syscall(
        _SYS_MOUNT_SETATTR, _AT_FDCWD, _b(path), _AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr)
    )
    _check(ret, path)


class _Rlimit(ctypes.Structure):
    _fields_ = [("cur", ctypes.c_uint64), ("max", ctypes.c_uint64)]


RLIM_INFINITY = 2**64 - 1


def setrlimit(resource: int, soft: int, hard: int) -> None:
    """setrlimit(2); ``resource`` (the module) would cost a shared-library load at start-up."""
    lim = _Rlimit(soft & RLIM_INFINITY, hard & RLIM_INFINITY)
    _check(_libc.setrlimit(resource, ctypes.byref(lim)))


def getrlimit(resource: int) -> tuple[int, int]:
    lim = _Rlimit()
    _check(_libc.getrlimit(resource, ctypes.byref(lim)))
    return lim.cur, lim.max
