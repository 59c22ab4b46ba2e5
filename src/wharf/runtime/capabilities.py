"""Linux capabilities: the spec's five sets as bit masks, the bounding-set drop and capset(2).

Runs in the container's init between fork and execve, so it imports only ``ctypes`` and the
syscall wrappers. Unknown or unavailable capability names are skipped (`create` warns of them,
as runc does). The sets are applied after `start`, so ``refusal`` tells the init before it
reports ready whether capset(2) would accept them: a container must not die after `start`.
"""

from __future__ import annotations

import ctypes

from wharf.base.caps import NAMES
from wharf.runtime import syscalls as s

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_NUMBER = {name: i for i, name in enumerate(NAMES)}
KINDS = ("bounding", "effective", "permitted", "inheritable", "ambient")

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def last_cap() -> int:
    """The highest capability number the running kernel knows (and this code names)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return min(int(f.read()), len(NAMES) - 1)
    except OSError:
        return len(NAMES) - 1


def all_mask() -> int:
    return (1 << (last_cap() + 1)) - 1


def names(mask: int) -> list[str]:
    return [NAMES[i] for i in range(len(NAMES)) if mask >> i & 1]


def to_mask(cap_names: list[str] | None, unknown: list[str] | None = None) -> int:
    """Names → mask. Names the kernel lacks go to ``unknown`` (or are dropped) rather than failing."""
    mask, top = 0, last_cap()
    for name in cap_names or ():
        key = name.upper()
        if not key.startswith("CAP_"):
            key = "CAP_" + key
        n = _NUMBER.get(key)
        if n is None or n > top:
            if unknown is not None:
                unknown.append(name)
            continue
        mask |= 1 << n
    return mask


class CapSets:
    """The five sets of one process as bit masks. ``None`` means the spec gave no capabilities."""

    __slots__ = ("ambient", "bounding", "effective", "inheritable", "permitted", "unknown")

    def __init__(self, sets: dict[str, Any] | None) -> None:
        self.unknown: list[str] = []
        sets = sets or {}
        self.bounding = to_mask(sets.get("bounding"), self.unknown)
        self.effective = to_mask(sets.get("effective"), self.unknown)
        self.permitted = to_mask(sets.get("permitted"), self.unknown)
        self.inheritable = to_mask(sets.get("inheritable"), self.unknown)
        self.ambient = to_mask(sets.get("ambient"), self.unknown)


def parse(sets: dict[str, Any] | None) -> CapSets:
    return CapSets(sets)


def drop_bounding(caps: CapSets) -> None:
    """Drop every capability outside the bounding set (needs CAP_SETPCAP, so before setuid)."""
    for n in range(last_cap() + 1):
        if not caps.bounding >> n & 1:
            try:
                s.prctl(s.PR_CAPBSET_DROP, n)
            except OSError as exc:
                if exc.errno != 22:  # EINVAL: the kernel does not know this one
                    raise


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def apply(caps: CapSets) -> None:
    """capset(2) effective/permitted/inheritable, then set the ambient set exactly."""
    hdr = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = caps.effective >> shift & 0xFFFFFFFF
        data[i].permitted = caps.permitted >> shift & 0xFFFFFFFF
        data[i].inheritable = caps.inheritable >> shift & 0xFFFFFFFF
    s.raw_syscall("capset", ctypes.byref(hdr), ctypes.byref(data))
    try:
        s.prctl(s.PR_CAP_AMBIENT, s.PR_CAP_AMBIENT_CLEAR_ALL)
    except OSError:
        return  # kernel without ambient capabilities (< 4.3)
    for n in range(last_cap() + 1):
        if caps.ambient >> n & 1:
            try:
                s.prctl(s.PR_CAP_AMBIENT, s.PR_CAP_AMBIENT_RAISE, n)
            except OSError:
                # An ambient capability must also be permitted and inheritable; runc skips it too.
                pass


class Held:
    """The sets the calling process holds now (capget(2) and PR_CAPBSET_READ)."""

    __slots__ = ("bounding", "effective", "inheritable", "permitted")

    def __init__(self, effective: int, permitted: int, inheritable: int, bounding: int) -> None:
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
        self.bounding = bounding


def held() -> Held:
    hdr = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    s.raw_syscall("capget", ctypes.byref(hdr), ctypes.byref(data))
    bounding = 0
    for n in range(last_cap() + 1):
        if s.prctl(s.PR_CAPBSET_READ, n) == 1:
            bounding |= 1 << n

    def both(field: str) -> int:
        return int(getattr(data[0], field)) | int(getattr(data[1], field)) << 32

    return Held(both("effective"), both("permitted"), both("inheritable"), bounding)


_CAP_SETPCAP = 8


def refusal(caps: CapSets, uid: int, now: Held) -> str:
    """Why capset(2) would refuse ``caps`` once the init has dropped the bounding set and become
    ``uid`` (keeping its permitted set), or "". The kernel's rules (cap_capset in
    security/commoncap.c) over the sets the init holds now; the ambient set is raised cap by cap
    and what cannot be raised is skipped, so it cannot fail."""
    bounding = caps.bounding & now.bounding
    # setresuid away from 0 clears the effective set; the permitted set stays (PR_SET_KEEPCAPS)
    effective = now.effective if uid == 0 else 0
    for what, extra in (
        ("permitted {} not held by the runtime", caps.permitted & ~now.permitted),
        ("effective {} not in the permitted set", caps.effective & ~caps.permitted),
        ("inheritable {} not in the bounding set", caps.inheritable & ~(now.inheritable | bounding)),
    ):
        if extra:
            return what.format(" ".join(names(extra)))
    if not effective >> _CAP_SETPCAP & 1:
        extra = caps.inheritable & ~(now.inheritable | now.permitted)
        if extra:
            return f"inheritable {' '.join(names(extra))} not in the permitted set (no CAP_SETPCAP)"
    return ""


def current(pid: int | str = "self") -> dict[str, int]:
    """The sets of a process as /proc/<pid>/status shows them."""
    keys = {"CapInh": "inheritable", "CapPrm": "permitted", "CapEff": "effective", "CapBnd": "bounding"}
    keys["CapAmb"] = "ambient"
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                out[keys[key]] = int(value.strip(), 16)
    return out
