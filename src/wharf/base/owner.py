"""Which process made a thing on disk that only lives as long as its maker (a lease, a
temporary tree, an extraction in progress): ``<pid>.<start time>``, the start time (clock
ticks after boot, from ``/proc/<pid>/stat``) telling a reused pid from its first owner. A
daemon killed with SIGKILL cannot clean up after itself; the next one asks ``alive``."""

from __future__ import annotations

import os


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks after boot), or None for a pid
    that is gone or a zombie (exited, not yet reaped: it will never clean up either)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def me() -> str:
    """This process's owner token."""
    pid = os.getpid()
    return f"{pid}.{start_time(pid) or 0}"


def alive(owner: str) -> bool:
    """Whether the process of ``owner`` (a token from ``me``, or a bare pid) still runs. A
    token that is not one counts as alive: nothing is taken from an owner we cannot tell."""
    pid, _, start = owner.partition(".")
    if not pid.isdigit():
        return True
    now = start_time(int(pid))
    return now is not None and (not start or str(now) == start)
