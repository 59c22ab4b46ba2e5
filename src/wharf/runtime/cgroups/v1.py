"""cgroup v1: one directory per controller hierarchy; the spec's resources in v1 file names."""

from __future__ import annotations

import os
import time

from wharf.errors import FailedPrecondition, InvalidArgument
from wharf.runtime.cgroups.fs import exists, read, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONTROLLERS = (
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
)

# Devices every container may use whatever its rules say (runc's AllowedDevices): the default
# /dev nodes, /dev/pts/*, /dev/ptmx and /dev/net/tun, plus mknod of any char/block device.
DEFAULT_ALLOWED = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 5:1 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
)


def init_cpuset(directory: str) -> None:
    """A new cpuset cgroup starts empty and takes no tasks: give it its parent's cpus and mems
    (the parent's first, when a create running beside this one made it and has not yet)."""
    parent = os.path.dirname(directory)
    for name in ("cpuset.cpus", "cpuset.mems"):
        if not read(directory, name).strip():
            if not read(parent, name).strip():
                init_cpuset(parent)
            write(directory, name, read(parent, name).strip())


def _dev(d: dict[str, Any]) -> str:
    return f"{d['major']}:{d['minor']}"


def device_rule(rule: dict[str, Any]) -> str:
    """A linux.resources.devices entry → "type major:minor access" (``*`` for wildcards)."""
    typ = rule.get("type") or "a"
    if typ not in ("a", "b", "c"):
        raise InvalidArgument(f"config.json: linux.resources.devices: invalid device type {typ!r}")
    major = rule.get("major")
    minor = rule.get("minor")
    access = rule.get("access") or "rwm"
    if set(access) - set("rwm"):
        raise InvalidArgument(f"config.json: linux.resources.devices: invalid access {access!r}")
    if typ == "a":
        return f"a *:* {access}"
    maj = "*" if major is None or major == -1 else str(major)
    mi = "*" if minor is None or minor == -1 else str(minor)
    return f"{typ} {maj}:{mi} {access}"


def apply(paths: dict[str, str], res: dict[str, Any]) -> None:
    """Write the resources whose controller is mounted as v1; the others are v2's business."""
    if not res:
        return
    mem = res.get("memory") or {}
    if mem:
        _need(paths, "memory", "linux.resources.memory")
        _memory(paths["memory"], mem)
    cpu = res.get("cpu") or {}
    cpu_keys = ("shares", "quota", "period", "realtimeRuntime", "realtimePeriod", "idle", "burst")
    if any(cpu.get(k) is not None for k in cpu_keys):
        _need(paths, "cpu", "linux.resources.cpu")
        _cpu(paths["cpu"], cpu)
    if cpu.get("cpus") or cpu.get("mems"):
        _need(paths, "cpuset", "linux.resources.cpu.cpus/mems")
        if cpu.get("cpus"):
            write(paths["cpuset"], "cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            write(paths["cpuset"], "cpuset.mems", cpu["mems"])
    pids = res.get("pids")
    if pids and "pids" in paths:
        limit = pids.get("limit", 0)
        write(paths["pids"], "pids.max", "max" if limit <= 0 else str(limit))
    if res.get("blockIO") and "blkio" in paths:
        _blkio(paths["blkio"], res["blockIO"])
    for hp in res.get("hugepageLimits") or ():
        if "hugetlb" in paths:
            write(paths["hugetlb"], f"hugetlb.{hp['pageSize']}.limit_in_bytes", str(hp["limit"]))
    net = res.get("network") or {}
    if net.get("classID") is not None and "net_cls" in paths:
        write(paths["net_cls"], "net_cls.classid", str(net["classID"]))
    for prio in net.get("priorities") or ():
        if "net_prio" in paths:
            write(paths["net_prio"], "net_prio.ifpriomap", f"{prio['name']} {prio['priority']}")
    _devices(paths.get("devices"), res.get("devices"))


def _need(paths: dict[str, str], ctrl: str, field: str) -> None:
    if ctrl not in paths:
        raise FailedPrecondition(f"{field}: the {ctrl} cgroup controller is not mounted on this host")


def _memory(d: str, mem: dict[str, Any]) -> None:
    limit, swap = mem.get("limit"), mem.get("swap")
    has_swap = exists(d, "memory.memsw.limit_in_bytes")
    if swap is not None and swap not in (0, -1) and not has_swap:
        from wharf.runtime import log

        log.warning("linux.resources.memory.swap: the kernel has no swap accounting; ignored")
        swap = None
    if limit is not None and limit != 0:
        try:
            write(d, "memory.limit_in_bytes", str(limit))
        except FailedPrecondition:
            # a new limit above the current memory+swap limit: raise that one first
            if swap is None or not has_swap:
                raise
            write(d, "memory.memsw.limit_in_bytes", str(swap))
            write(d, "memory.limit_in_bytes", str(limit))
    if swap is not None and swap != 0 and has_swap:
        write(d, "memory.memsw.limit_in_bytes", str(swap))
    if mem.get("reservation") is not None and mem["reservation"] != 0:
        write(d, "memory.soft_limit_in_bytes", str(mem["reservation"]))
    if mem.get("kernelTCP") is not None and mem["kernelTCP"] != 0:
        write(d, "memory.kmem.tcp.limit_in_bytes", str(mem["kernelTCP"]))
    swappiness = mem.get("swappiness")
    if swappiness is not None and swappiness != -1:
        if not 0 <= swappiness <= 100:
            raise InvalidArgument(
                f"config.json: linux.resources.memory.swappiness: {swappiness} not in 0..100"
            )
        write(d, "memory.swappiness", str(swappiness))
    if mem.get("disableOOMKiller"):
        write(d, "memory.oom_control", "1")


def _cpu(d: str, cpu: dict[str, Any]) -> None:
    if cpu.get("shares"):
        write(d, "cpu.shares", str(cpu["shares"]))
    if cpu.get("period"):
        write(d, "cpu.cfs_period_us", str(cpu["period"]))
    if cpu.get("quota") is not None and cpu["quota"] != 0:
        write(d, "cpu.cfs_quota_us", str(cpu["quota"]))
    if cpu.get("burst") is not None:
        write(d, "cpu.cfs_burst_us", str(cpu["burst"]))
    if cpu.get("realtimePeriod"):
        write(d, "cpu.rt_period_us", str(cpu["realtimePeriod"]))
    if cpu.get("realtimeRuntime"):
        write(d, "cpu.rt_runtime_us", str(cpu["realtimeRuntime"]))
    if cpu.get("idle") is not None and exists(d, "cpu.idle"):
        write(d, "cpu.idle", str(cpu["idle"]))


def _blkio(d: str, bio: dict[str, Any]) -> None:
    bfq = not exists(d, "blkio.weight") and exists(d, "blkio.bfq.weight")
    prefix = "blkio.bfq." if bfq else "blkio."
    if not bfq and not exists(d, "blkio.weight"):  # no weight in this kernel: discarded, as Docker
        bio = {k: v for k, v in bio.items() if k not in ("weight", "weightDevice")}
    if bio.get("weight"):
        write(d, prefix + "weight", str(bio["weight"]))
    if bio.get("leafWeight") and exists(d, "blkio.leaf_weight"):
        write(d, "blkio.leaf_weight", str(bio["leafWeight"]))
    for wd in bio.get("weightDevice") or ():
        if wd.get("weight"):
            write(d, prefix + "weight_device", f"{_dev(wd)} {wd['weight']}")
        if wd.get("leafWeight") and exists(d, "blkio.leaf_weight_device"):
            write(d, "blkio.leaf_weight_device", f"{_dev(wd)} {wd['leafWeight']}")
    for key, name in (
        ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
        ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
        ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
        ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
    ):
        for td in bio.get(key) or ():
            write(d, name, f"{_dev(td)} {td['rate']}")


def _devices(d: str | None, rules: list[dict[str, Any]] | None) -> None:
    """Replay the spec's rules in order (usually a deny-all first), then the always-allowed devices."""
    if d is None or not rules:
        return
    for rule in rules:
        write(d, "devices.allow" if rule.get("allow") else "devices.deny", device_rule(rule))
    for line in DEFAULT_ALLOWED:
        write(d, "devices.allow", line)


def freeze(d: str, frozen: bool) -> None:
    want = "FROZEN" if frozen else "THAWED"
    for attempt in range(1000):
        if attempt % 50 == 0:
            write(d, "freezer.state", want)
        if read(d, "freezer.state").strip() == want:
            return
        time.sleep(0.001)
    raise FailedPrecondition(f"cgroup {d}: freezer did not reach {want}")


def memory_stats(d: str) -> dict[str, Any]:
    return {
        "usage": int(read(d, "memory.usage_in_bytes")),
        "limit": int(read(d, "memory.limit_in_bytes")),
        "failcnt": int(read(d, "memory.failcnt")),
    }
