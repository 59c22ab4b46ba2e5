"""A container's mounts, from what create was given to what the runtime gets.

``plan`` reads HostConfig.Binds (``-v src:dst[:opts]``), HostConfig.Mounts (``--mount``),
HostConfig.VolumesFrom and the Volumes of the config (image VOLUME and ``-v /path``) and checks
all of it before anything exists; ``realize`` then makes the volumes it names (anonymous ones
get 64 hex names). The result is Docker's ``Mounts`` list (the inspect shape), kept with the
container; keys starting with ``_`` are wharf's own (options the shape has no field for).
``oci_mounts`` turns it into the OCI spec's mounts, parents before children.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from wharf.errors import FailedPrecondition, InvalidArgument, NotFound
from wharf.volumes.store import VolumeStore

MODES = {"ro", "rw", "z", "Z", "nocopy", "consistent", "cached", "delegated"}
PROPAGATIONS = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}
# runc lets these few files under /proc be mounted over (lxcfs and the like); nothing else there
PROC_ALLOWED = {"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps",
                "/proc/uptime", "/proc/loadavg", "/proc/slabinfo", "/proc/net/dev",
                "/proc/sys/kernel/ns_last_pid"}  # fmt: skip


def _clean(path: str) -> str:
    return os.path.normpath(path) if path else path


def _check_target(dest: str, kind: str, spec: str | None) -> str:
    def bad(msg: str) -> InvalidArgument:
        inner = f'invalid mount config for type "{kind}": {msg}'
        return InvalidArgument(f"invalid volume specification: '{spec}': {inner}" if spec else inner)

    if not dest.startswith("/"):
        raise bad(f"invalid mount path: '{dest}' mount path must be absolute")
    dest = _clean(dest)
    if dest == "/":
        raise bad("invalid specification: destination can't be '/'")
    if dest == "/proc":
        raise bad('"/proc" cannot be mounted because it is not of type proc')
    if dest.startswith("/proc/") and dest not in PROC_ALLOWED:
        raise bad(f'"{dest}" cannot be mounted because it is inside /proc')
    return dest


def _parse_bind(spec: str) -> dict[str, Any]:
    """``src:dst[:opts]`` (src a host path or a volume name) or ``/dst`` alone."""
    parts = spec.split(":")
    if len(parts) == 1:
        return {"Type": "volume", "Name": "", "Destination": _check_target(parts[0], "volume", spec),
                "RW": True, "Mode": "", "_spec": spec}  # fmt: skip
    if len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    src, dest = parts[0], parts[1]
    opts = [o for o in (parts[2].split(",") if len(parts) == 3 else []) if o]
    for o in opts:
        if o not in MODES and o not in PROPAGATIONS:
            raise InvalidArgument(f"invalid mode: {parts[2]}")
    props = [o for o in opts if o in PROPAGATIONS]
    if len(props) > 1 or ("ro" in opts and "rw" in opts):
        raise InvalidArgument(f"invalid mode: {parts[2]}")
    kind = "bind" if src.startswith("/") else "volume"
    if kind == "volume" and props:
        raise InvalidArgument(f"invalid mode: {parts[2]}")
    m: dict[str, Any] = {
        "Type": kind,
        "Destination": _check_target(dest, kind, spec),
        "RW": "ro" not in opts,
        "Mode": parts[2] if len(parts) == 3 else "",
        "_spec": spec,
    }
    if kind == "bind":
        m.update(Source=_clean(src), Propagation=props[0] if props else "rprivate", _create_source=True)
    else:
        m.update(Name=src, _nocopy="nocopy" in opts)
    return m


def _parse_mount(api: dict[str, Any]) -> dict[str, Any]:
    """One of HostConfig.Mounts, checked in dockerd's order (its validateMountConfig): the
    target, then what the type forbids or needs. An options struct that does not belong to the
    type is refused when it is set at all, even empty (``null`` is not set)."""
    kind = str(api.get("Type") or "")

    def bad(msg: str) -> InvalidArgument:
        return InvalidArgument(f'invalid mount config for type "{kind}": {msg}')

    target = str(api.get("Target") or "")
    if not target:
        raise bad("field Target must not be empty")
    if kind not in ("bind", "volume", "tmpfs"):
        _check_target(target, kind, None)
        raise bad("mount type unknown")
    dest = _check_target(target, kind, None)
    source = str(api.get("Source") or "")
    ro = bool(api.get("ReadOnly"))
    if kind == "bind":
        if not source:
            raise bad("field Source must not be empty")
        prop = (api.get("BindOptions") or {}).get("Propagation") or "rprivate"
        if prop not in PROPAGATIONS:
            raise bad(f"invalid propagation mode: {prop}")
        if api.get("VolumeOptions") is not None:
            raise bad("field VolumeOptions must not be specified")
        if not source.startswith("/"):
            raise bad(f"invalid mount path: '{source}' mount path must be absolute")
        if not os.path.exists(source):
            raise bad(f"bind source path does not exist: {source}")
        return {"Type": "bind", "Source": _clean(source), "Destination": dest, "Mode": "", "RW": not ro,
                "Propagation": prop,
                "_nonrecursive": bool((api.get("BindOptions") or {}).get("NonRecursive"))}  # fmt: skip
    if api.get("BindOptions") is not None:
        raise bad("field BindOptions must not be specified")
    if kind == "tmpfs":
        if source:
            raise bad("field Source must not be specified")
        t = api.get("TmpfsOptions") or {}
        opts = ["nosuid", "nodev", "noexec"]
        if t.get("SizeBytes"):
            opts.append(f"size={int(t['SizeBytes'])}")
        if t.get("Mode"):
            opts.append(f"mode={int(t['Mode']):o}")
        return {"Type": "tmpfs", "Source": "", "Destination": dest, "Mode": "", "RW": not ro,
                "Propagation": "", "_options": opts}  # fmt: skip
    if ro and not source:
        raise bad("must not set ReadOnly mode when using anonymous volumes")
    v = api.get("VolumeOptions") or {}
    driver = (v.get("DriverConfig") or {}).get("Name") or "local"
    subpath = str(v.get("Subpath") or "")
    if subpath and (subpath.startswith("/") or ".." in subpath.split("/")):
        raise InvalidArgument("invalid mount config: subpath must be a relative path within the volume")
    return {"Type": "volume", "Name": source, "Destination": dest, "Driver": driver, "Mode": "z",
            "RW": not ro, "Propagation": "", "_nocopy": bool(v.get("NoCopy")), "_subpath": subpath,
            "_labels": v.get("Labels") or {},
            "_driver_opts": (v.get("DriverConfig") or {}).get("Options") or {}}  # fmt: skip


def plan(
    host_config: Mapping[str, Any],
    config: dict[str, Any],
    other_mounts: Callable[[str], list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Every mount of the container, checked; no volume is made yet. ``other_mounts`` gives the
    mounts of a container named in --volumes-from (raising NotFound for an unknown one)."""
    by_dest: dict[str, dict[str, Any]] = {}
    for ref in host_config.get("VolumesFrom") or []:
        name, _, mode = str(ref).partition(":")
        if mode not in ("", "ro", "rw"):
            raise InvalidArgument(f"invalid mode: {mode}")
        for m in other_mounts(name):
            copy = {k: v for k, v in m.items() if not k.startswith("_create")}
            if mode:
                copy["RW"] = mode == "rw"
            by_dest[m["Destination"]] = copy
    tmpfs = set(host_config.get("Tmpfs") or {})
    for dest in sorted(tmpfs):  # dockerd's ValidateTmpfsMountDestination
        if _clean(dest) == "/":
            raise InvalidArgument("invalid specification: destination can't be '/'")
        if not dest.startswith("/"):
            raise InvalidArgument(f"invalid mount path: '{dest}' mount path must be absolute")
    explicit: set[str] = set()
    binds = [(_parse_bind(str(b)), True) for b in host_config.get("Binds") or []]
    for item, is_bind in binds + [(_parse_mount(dict(m)), False) for m in host_config.get("Mounts") or []]:
        dest = item["Destination"]
        if dest in explicit or (is_bind and dest in tmpfs):  # dockerd's registerMountPoints
            raise InvalidArgument(f"Duplicate mount point: {dest}")
        explicit.add(dest)
        by_dest[dest] = item
    for dest in config.get("Volumes") or {}:
        d = _check_target(str(dest), "volume", None)
        if d not in by_dest and d not in tmpfs:
            by_dest[d] = {"Type": "volume", "Name": "", "Destination": d, "RW": True, "Mode": ""}
    return sorted(by_dest.values(), key=lambda m: (m["Destination"].count("/"), m["Destination"]))


def _make_source(path: str, owner: tuple[int, int] | None) -> None:
    """A -v bind's missing host directory, made; with userns-remap each directory made here is
    the remapped root's, as dockerd's MkdirAllAndChownNew makes them."""
    missing = []
    d = os.path.abspath(path)
    while not os.path.exists(d):
        missing.append(d)
        d = os.path.dirname(d)
    os.makedirs(path, 0o755, exist_ok=True)
    if owner is not None:
        for made in missing:
            os.chown(made, *owner)


def name_anonymous(mounts: list[dict[str, Any]]) -> list[str]:
    """Give the plan's anonymous volumes their 64 hex names now, before ``realize`` makes them,
    so a caller can note them first (create does, for a daemon killed before its record)."""
    names = []
    for m in mounts:
        if m["Type"] == "volume" and not m.get("Name"):
            m.update(Name=secrets.token_hex(32), _anonymous=True)
            names.append(m["Name"])
    return names


def realize(mounts: list[dict[str, Any]], store: VolumeStore) -> list[str]:
    """Make the volumes the plan names (and -v binds' missing host directories, as Docker
    does). Returns the names of the volumes made now, for the caller to undo on failure."""
    made: list[str] = []
    try:
        for m in mounts:
            if m["Type"] == "bind" and m.pop("_create_source", False):
                if not os.path.exists(m["Source"]):
                    _make_source(m["Source"], store.owner)
            if m["Type"] != "volume":
                continue
            anonymous = bool(m.pop("_anonymous", False)) or not m.get("Name")
            name = m.get("Name") or secrets.token_hex(32)
            labels = dict(m.pop("_labels", {}) or {})
            if anonymous:
                labels["com.docker.volume.anonymous"] = ""
            v, new = store.create(name, m.get("Driver") or "local", m.pop("_driver_opts", None) or None,
                                  labels, anonymous=anonymous)  # fmt: skip
            if new:
                made.append(v.name)
            m.update(Name=v.name, Source=store.data_dir(v.name), Driver=v.driver)
            m.setdefault("Propagation", "")
            m.pop("_spec", None)
    except BaseException:
        for name in made:
            try:
                store.remove(name)
            except NotFound:
                pass
        raise
    for m in mounts:
        m.pop("_spec", None)
    return made


def oci_mounts(mounts: list[dict[str, Any]], pin: Callable[[int], str]) -> list[dict[str, Any]]:
    """The OCI mounts. ``pin`` turns an fd of a volume subpath's source (see ``_source``) into
    a path the runtime binds from, owned by the caller (a private mount of that very fd)."""
    out = []
    for m in mounts:
        dest = m["Destination"]
        if m["Type"] == "tmpfs":
            opts = list(m.get("_options") or ["nosuid", "nodev", "noexec"])
            out.append({"destination": dest, "type": "tmpfs", "source": "tmpfs",
                        "options": opts + ([] if m.get("RW", True) else ["ro"])})  # fmt: skip
            continue
        opts = ["bind" if m.get("_nonrecursive") else "rbind", "rw" if m.get("RW", True) else "ro"]
        prop = m.get("Propagation") or "rprivate"
        opts.append(prop)
        out.append({"destination": dest, "type": "bind", "source": _source(m, pin), "options": opts})
    return out


def _source(m: dict[str, Any], pin: Callable[[int], str]) -> str:
    """What a mount binds. A volume's subpath (VolumeOptions.Subpath, API 1.45) is resolved
    inside the volume, from fds (a symlink in it cannot point the mount at the host), and the
    runtime binds a mount of that very directory (``pin``): a path into the volume would be
    walked again by the runtime, after a container sharing the volume swapped a component for
    a symlink to / (which bound the host's root into the container)."""
    subpath = m.get("_subpath") or ""
    if not subpath:
        return str(m["Source"])
    from wharf.runtime.securejoin import open_in_root

    root = os.open(m["Source"], os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_in_root(root, subpath)
    except OSError:
        path = f"{str(m['Source']).rstrip('/')}/{subpath.lstrip('/')}"
        raise FailedPrecondition(
            f"error while mounting volume with subpath {subpath!r}: cannot access path {path}:"
            " no such file or directory"
        ) from None
    finally:
        os.close(root)
    try:
        return pin(fd)
    finally:
        os.close(fd)


def public(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The inspect shape: without wharf's bookkeeping keys."""
    return [{k: v for k, v in m.items() if not k.startswith("_")} for m in mounts]
