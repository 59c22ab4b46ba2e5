"""`update`: change a running container's cgroup resources (runc's flags or ``-r resources.json``)."""

from __future__ import annotations

from wharf.base import units
from wharf.errors import Conflict, InvalidArgument
from wharf.oci import fastjson
from wharf.runtime import cgroups, state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


def ram_in_bytes(raw: str) -> int:
    """A memory size as docker/runc take it: "1024", "64M", "1.5g", "512kb"; "-1" is unlimited."""
    return -1 if raw.strip() == "-1" else units.ram_in_bytes(raw)


# flag -> (section, key, parser)
_FLAGS: dict[str, tuple[str, str, Callable[[str], object]]] = {
    "memory": ("memory", "limit", ram_in_bytes),
    "memory-swap": ("memory", "swap", ram_in_bytes),
    "memory-reservation": ("memory", "reservation", ram_in_bytes),
    "cpu-shares": ("cpu", "shares", int),
    "cpu-quota": ("cpu", "quota", int),
    "cpu-period": ("cpu", "period", int),
    "cpuset-cpus": ("cpu", "cpus", str),
    "cpuset-mems": ("cpu", "mems", str),
    "pids-limit": ("pids", "limit", int),
    "blkio-weight": ("blockIO", "weight", int),
}


def resources_from_flags(flags: dict[str, Any]) -> dict[str, Any]:
    if flags.get("resources"):
        path = flags["resources"]
        try:
            raw = open(0, "rb").read() if path == "-" else open(path, "rb").read()
            res: dict[str, Any] = fastjson.loads(raw)
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"--resources {path}: {exc}") from None
        from wharf.oci.runtime_spec import validate

        validate({"ociVersion": "1.1.0", "root": {"path": "/"}, "linux": {"resources": res}})
        return res
    out: dict[str, Any] = {}
    for flag, (section, key, kind) in _FLAGS.items():
        if flag in flags:
            raw = flags[flag]
            try:
                value = kind(raw)
            except ValueError:
                raise InvalidArgument(f"invalid value {raw!r} for --{flag}") from None
            out.setdefault(section, {})[key] = value
    return out


def update(root: str, cid: str, flags: dict[str, Any]) -> None:
    st = state.load(root, cid)
    if not state.init_alive(st) or not st.get("cgroup"):
        raise Conflict(f"container {cid} is not running")
    resources = resources_from_flags(flags)
    cgroups.manager_from_state(st["cgroup"]).apply(resources)
    merged = st["config"].setdefault("linux", {}).setdefault("resources", {})
    for section, values in resources.items():
        if isinstance(values, dict):
            merged.setdefault(section, {}).update(values)
        else:
            merged[section] = values
    st.pop("_dir", None)
    state.save(state.state_dir(root, cid), st)
