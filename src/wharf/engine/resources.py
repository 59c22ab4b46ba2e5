"""HostConfig's resources and devices as the OCI spec's ``linux.resources`` and ``linux.devices``
(memory, CPU, pids, block I/O; --device and --privileged's host devices, with Docker's default
device cgroup rules)."""

from __future__ import annotations

import os
import stat
from typing import Any

from wharf.base import trees
from wharf.engine.request import HostConfig
from wharf.errors import InvalidArgument

MIN_MEMORY = 6 * 1024 * 1024  # dockerd's minimum memory limit
DEFAULT_DEVICE_RULES: list[dict[str, Any]] = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "b", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # null
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},  # random
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},  # full
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},  # tty
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # zero
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},  # urandom
    {"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rwm"},  # pts/*
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},  # ptmx
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # net/tun
]


def resources(hc: HostConfig) -> dict[str, Any]:
    res: dict[str, Any] = {}
    mem: dict[str, Any] = {}
    memory = int(hc.get("Memory") or 0)
    if memory:
        if memory < MIN_MEMORY:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        mem["limit"] = memory
    swap = hc.get("MemorySwap")
    if swap:
        if swap != -1 and memory and swap < memory:
            raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
        if swap != -1 and not memory:
            raise InvalidArgument(
                "You should always set the Memory limit when using Memoryswap limit, see usage"
            )
        mem["swap"] = int(swap)
    if reservation := hc.get("MemoryReservation"):
        mem["reservation"] = int(reservation)
    if hc.get("OomKillDisable"):
        mem["disableOOMKiller"] = True
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1:
        mem["swappiness"] = int(swappiness)
    if mem:
        res["memory"] = mem
    cpu: dict[str, Any] = {}
    nano = int(hc.get("NanoCpus") or 0)
    if nano:
        if hc.get("CpuQuota") or hc.get("CpuPeriod"):
            raise InvalidArgument(
                "Conflicting options: Nano CPUs and CPU Period cannot both be set"
                if hc.get("CpuPeriod")
                else "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
            )
        ncpu = os.cpu_count() or 1
        if nano < 0 or nano > ncpu * 10**9:
            raise InvalidArgument(
                f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            )
        cpu["period"] = 100000
        cpu["quota"] = nano * 100000 // 10**9
    for key, value in (
        ("quota", hc.get("CpuQuota")),
        ("period", hc.get("CpuPeriod")),
        ("shares", hc.get("CpuShares")),
    ):
        if value:
            cpu[key] = int(value)
    for key, field in (("cpus", "CpusetCpus"), ("mems", "CpusetMems")):
        if text := hc.get(field):
            cpu[key] = text
    if cpu:
        res["cpu"] = cpu
    pids = hc.get("PidsLimit")
    if pids is not None and int(pids) > 0:
        res["pids"] = {"limit": int(pids)}
    if weight := hc.get("BlkioWeight"):
        w = int(weight)
        if not 10 <= w <= 1000:
            raise InvalidArgument("Range of blkio weight is from 10 to 1000")
        res["blockIO"] = {"weight": w}
    return res


def host_devices() -> list[dict[str, Any]]:
    out = []
    for d in trees.walk("/dev"):
        if d.rel == "":
            d.dirs = [n for n in d.dirs if n not in ("pts", "shm", "mqueue")]
        for name in d.files:
            path = f"/dev/{d.path(name)}"
            try:
                st = os.stat(name, dir_fd=d.fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                if path in ("/dev/console", "/dev/ptmx", "/dev/tty"):
                    continue
                out.append(
                    {
                        "path": path,
                        "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                        "major": os.major(st.st_rdev),
                        "minor": os.minor(st.st_rdev),
                        "fileMode": stat.S_IMODE(st.st_mode),
                        "uid": 0,
                        "gid": 0,
                    }
                )
    return out


def devices(hc: HostConfig) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(linux.devices, extra cgroup rules) for HostConfig.Devices."""
    devices: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for d in hc.get("Devices") or []:
        host = d.get("PathOnHost") or ""
        inside = d.get("PathInContainer") or host
        perms = d.get("CgroupPermissions") or "rwm"
        try:
            st = os.stat(host)
        except OSError:
            raise InvalidArgument(
                "error gathering device information while adding custom device"
                f' "{host}": no such file or directory'
            ) from None
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise InvalidArgument(
                f'error gathering device information while adding custom device "{host}": not a device node'
            )
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
        devices.append(
            {
                "path": inside,
                "type": kind,
                "major": os.major(st.st_rdev),
                "minor": os.minor(st.st_rdev),
                "fileMode": stat.S_IMODE(st.st_mode),
                "uid": 0,
                "gid": 0,
            }
        )
        rules.append(
            {
                "allow": True,
                "type": kind,
                "major": os.major(st.st_rdev),
                "minor": os.minor(st.st_rdev),
                "access": perms,
            }
        )
    return devices, rules
