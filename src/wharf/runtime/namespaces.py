"""Which namespaces a container gets: new ones (unshare flags) and joined ones (setns by path).

Joined namespaces are opened by the runtime before it forks, so their paths resolve in the
runtime's own view, and each must be a namespace of the type its entry names (NS_GET_NSTYPE);
the intermediate child then joins the user namespace first (it grants the capabilities the
other setns calls need), the others after, and creates the new ones last.
"""

from __future__ import annotations

import os

from wharf.errors import InvalidArgument
from wharf.runtime import syscalls as s

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FLAGS = {
    "pid": s.CLONE_NEWPID,
    "network": s.CLONE_NEWNET,
    "mount": s.CLONE_NEWNS,
    "ipc": s.CLONE_NEWIPC,
    "uts": s.CLONE_NEWUTS,
    "user": s.CLONE_NEWUSER,
    "cgroup": s.CLONE_NEWCGROUP,
    "time": s.CLONE_NEWTIME,
}
# /proc/<pid>/ns/<name> for each spec type (exec joins a running container by these)
PROC_NAMES = {
    "pid": "pid",
    "network": "net",
    "mount": "mnt",
    "ipc": "ipc",
    "uts": "uts",
    "user": "user",
    "cgroup": "cgroup",
    "time": "time",
}


class Plan:
    """new: unshare flags; join: (type, open fd) in the order to setns them."""

    __slots__ = ("new", "join", "types")

    def __init__(self) -> None:
        self.new = 0
        self.join: list[tuple[str, int]] = []
        self.types: set[str] = set()

    def has_new(self, kind: str) -> bool:
        return bool(self.new & FLAGS[kind])

    def close(self) -> None:
        for _, fd in self.join:
            os.close(fd)
        self.join = []


def plan(spec: dict[str, Any]) -> Plan:
    p = Plan()
    for i, ns in enumerate(spec.get("linux", {}).get("namespaces") or ()):
        kind = ns["type"]
        p.types.add(kind)
        path = ns.get("path")
        if not path:
            p.new |= FLAGS[kind]
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            p.close()
            raise InvalidArgument(f"linux.namespaces[{i}].path: {path}: {exc.strerror}") from None
        p.join.append((kind, fd))
        why = _wrong_type(fd, kind, path)
        if why:
            p.close()
            raise InvalidArgument(f"linux.namespaces[{i}].path: {why}")
    p.join.sort(key=lambda j: j[0] != "user")
    linux = spec.get("linux", {})
    if (linux.get("uidMappings") or linux.get("gidMappings")) and not p.has_new("user"):
        p.close()
        raise InvalidArgument("linux.uidMappings: id mappings need a new user namespace")
    if p.has_new("user") and not (linux.get("uidMappings") and linux.get("gidMappings")):
        p.close()
        raise InvalidArgument("linux.uidMappings: a new user namespace needs uidMappings and gidMappings")
    if linux.get("timeOffsets") and not p.has_new("time"):
        p.close()
        raise InvalidArgument("linux.timeOffsets: time offsets need a new time namespace")
    return p


_TYPES = {flag: kind for kind, flag in FLAGS.items()}


def _wrong_type(fd: int, kind: str, path: str) -> str:
    """Why the open ``path`` cannot be joined as a ``kind`` namespace, or "". setns(fd, 0) would
    join whatever namespace the file is, so a wrong type must be refused here."""
    try:
        got = s.ns_type(fd)
    except OSError as exc:
        return f'namespace path "{path}" is not a namespace file (NS_GET_NSTYPE: {exc.strerror})'
    if got != FLAGS[kind]:
        return f'namespace path "{path}" is of type {_TYPES.get(got, hex(got))}, not {kind}'
    return ""


def join_for_exec(init_pid: int, spec: dict[str, Any]) -> Plan:
    """The namespaces of a running container, for exec."""
    p = Plan()
    for ns in spec.get("linux", {}).get("namespaces") or ():
        kind = ns["type"]
        p.types.add(kind)
        p.join.append((kind, os.open(f"/proc/{init_pid}/ns/{PROC_NAMES[kind]}", os.O_RDONLY | os.O_CLOEXEC)))
    p.join.sort(key=lambda j: j[0] != "user")
    return p


def write_id_maps(pid: int, linux: dict[str, Any]) -> None:
    for name, key in (("uid_map", "uidMappings"), ("gid_map", "gidMappings")):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux.get(key) or ())
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(lines)


def write_time_offsets(offsets: dict[str, Any]) -> None:
    clocks = {"monotonic": "monotonic", "boottime": "boottime"}
    with open("/proc/self/timens_offsets", "w") as f:
        for clock, off in offsets.items():
            if clock not in clocks:
                raise InvalidArgument(f"linux.timeOffsets: unknown clock {clock!r}")
            f.write(f"{clocks[clock]} {off.get('secs', 0)} {off.get('nanosecs', 0)}\n")
