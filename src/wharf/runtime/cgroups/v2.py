"""cgroup v2: one directory; the spec's resources converted to the unified file names.

Conversions follow the runtime-spec's cgroup v2 notes (as runc and crun do): shares → cpu.weight,
blkio weight → io.weight, memory+swap → memory.swap.max = swap - limit.
"""

from __future__ import annotations

import os
import time

from wharf.errors import FailedPrecondition, InvalidArgument
from wharf.runtime.cgroups.fs import exists, read, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) → cpu.weight (1..10000)."""
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) → io.weight (1..10000)."""
    return 1 + ((weight - 10) * 9999) // 990


def swap_max(limit: int | None, swap: int) -> str:
    """The spec's memory+swap total → memory.swap.max (swap alone)."""
    if swap == -1:
        return "max"
    if limit is None or limit == -1 or limit == 0:
        raise InvalidArgument("config.json: linux.resources.memory.swap: set without a memory limit")
    if swap < limit:
        raise InvalidArgument(
            "config.json: linux.resources.memory.swap: memory+swap limit is below the memory limit"
        )
    return str(swap - limit)


def needed_controllers(res: dict[str, Any], skip: set[str]) -> list[str]:
    want: list[str] = []
    cpu = res.get("cpu") or {}
    if res.get("memory"):
        want.append("memory")
    if any(cpu.get(k) is not None for k in ("shares", "quota", "period", "idle", "burst")):
        want.append("cpu")
    if cpu.get("cpus") or cpu.get("mems"):
        want.append("cpuset")
    if res.get("pids"):
        want.append("pids")
    if res.get("blockIO"):
        want.append("io")
    if res.get("hugepageLimits"):
        want.append("hugetlb")
    legacy = {"io": "blkio"}
    return [c for c in want if c not in skip and legacy.get(c, c) not in skip]


def enable_controllers(leaf: str, created: list[str], pure_v2: bool) -> None:
    """Turn on every available controller down the directories we created above ``leaf``.

    The nearest existing parent is only written to on a pure v2 host, where there is no other
    way to limit anything; on a hybrid host the v2 tree is left as the host made it.
    """
    chain: list[str] = []
    p = leaf
    while p in created:
        chain.append(p)
        p = os.path.dirname(p)
    parents = [p] if pure_v2 else []
    parents += [c for c in reversed(chain) if c != leaf]
    for parent in parents:
        try:
            available = read(parent, "cgroup.controllers").split()
            enabled = set(read(parent, "cgroup.subtree_control").split())
        except OSError:
            continue
        for ctrl in available:
            if ctrl not in enabled:
                try:
                    write(parent, "cgroup.subtree_control", "+" + ctrl)
                except FailedPrecondition:
                    pass  # e.g. a threaded subtree; the resource write reports what is missing


def apply(d: str, res: dict[str, Any], skip: set[str]) -> None:
    """Write the resources whose controllers are not handled by a v1 hierarchy (``skip``)."""
    if not res:
        return
    have = set(read(d, "cgroup.controllers").split()) if exists(d, "cgroup.controllers") else set()
    for ctrl in needed_controllers(res, skip):
        if ctrl not in have:
            raise FailedPrecondition(f"cgroup v2 controller {ctrl!r} is not available in {d}")
    mem = res.get("memory") or {}
    if mem and "memory" not in skip:
        limit = mem.get("limit")
        if mem.get("swap") is not None and mem["swap"] != 0:
            if exists(d, "memory.swap.max"):
                write(d, "memory.swap.max", swap_max(limit, mem["swap"]))
        if limit is not None and limit != 0:
            write(d, "memory.max", "max" if limit == -1 else str(limit))
        if mem.get("reservation") is not None and mem["reservation"] != 0:
            write(d, "memory.low", str(mem["reservation"]))
    cpu = res.get("cpu") or {}
    if "cpu" not in skip:
        if cpu.get("shares"):
            write(d, "cpu.weight", str(shares_to_weight(cpu["shares"])))
        if cpu.get("quota") is not None or cpu.get("period"):
            quota = cpu.get("quota")
            period = cpu.get("period") or 100000
            write(d, "cpu.max", f"{'max' if quota is None or quota <= 0 else quota} {period}")
        if cpu.get("burst") is not None:
            write(d, "cpu.max.burst", str(cpu["burst"]))
        if cpu.get("idle") is not None:
            write(d, "cpu.idle", str(cpu["idle"]))
    if "cpuset" not in skip:
        if cpu.get("cpus"):
            write(d, "cpuset.cpus", cpu["cpus"])
        if cpu.get("mems"):
            write(d, "cpuset.mems", cpu["mems"])
    if res.get("pids") and "pids" not in skip:
        limit = res["pids"].get("limit", 0)
        write(d, "pids.max", "max" if limit <= 0 else str(limit))
    bio = res.get("blockIO") or {}
    if bio and "blkio" not in skip:
        _io(d, bio)
    if "hugetlb" not in skip:
        for hp in res.get("hugepageLimits") or ():
            write(d, f"hugetlb.{hp['pageSize']}.max", str(hp["limit"]))
    for key, value in (res.get("unified") or {}).items():
        if "/" in key or key.startswith("."):
            raise InvalidArgument(f"config.json: linux.resources.unified: invalid file name {key!r}")
        write(d, key, value)
    if res.get("devices") and "devices" not in skip:
        from wharf.runtime.cgroups import devicefilter

        devicefilter.attach(d, res["devices"])


def _io(d: str, bio: dict[str, Any]) -> None:
    if bio.get("weight"):
        write(d, "io.weight", f"default {blkio_to_io_weight(bio['weight'])}")
    for wd in bio.get("weightDevice") or ():
        if wd.get("weight"):
            write(d, "io.weight", f"{wd['major']}:{wd['minor']} {blkio_to_io_weight(wd['weight'])}")
    for key, name in (
        ("throttleReadBpsDevice", "rbps"),
        ("throttleWriteBpsDevice", "wbps"),
        ("throttleReadIOPSDevice", "riops"),
        ("throttleWriteIOPSDevice", "wiops"),
    ):
        for td in bio.get(key) or ():
            rate = td["rate"] if td["rate"] else "max"
            write(d, "io.max", f"{td['major']}:{td['minor']} {name}={rate}")


def freeze(d: str, frozen: bool) -> None:
    write(d, "cgroup.freeze", "1" if frozen else "0")
    want = "frozen 1" if frozen else "frozen 0"
    for _ in range(1000):
        if want in read(d, "cgroup.events").splitlines():
            return
        time.sleep(0.001)
    raise FailedPrecondition(f"cgroup {d}: did not become {'frozen' if frozen else 'thawed'}")


def memory_stats(d: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if exists(d, "memory.current"):
        out["usage"] = int(read(d, "memory.current"))
        limit = read(d, "memory.max").strip()
        out["limit"] = -1 if limit == "max" else int(limit)
    return out


def cpu_usage_ns(d: str) -> int:
    for line in read(d, "cpu.stat").splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) * 1000
    return 0
