"""``update``: a container's resources changed (its cgroups at once if it runs, through the
runtime's ``update``) and its restart policy; what was asked is kept in its HostConfig."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from typing import Any

from wharf.engine import validate
from wharf.engine.core import Core
from wharf.engine.request import HostConfig

# HostConfig field -> (OCI resources section, key); NanoCpus is a quota over a 100 ms period
_RESOURCES = {
    "Memory": ("memory", "limit"),
    "MemorySwap": ("memory", "swap"),
    "MemoryReservation": ("memory", "reservation"),
    "CpuShares": ("cpu", "shares"),
    "CpuQuota": ("cpu", "quota"),
    "CpuPeriod": ("cpu", "period"),
    "CpusetCpus": ("cpu", "cpus"),
    "CpusetMems": ("cpu", "mems"),
    "PidsLimit": ("pids", "limit"),
    "BlkioWeight": ("blockIO", "weight"),
}
CPU_PERIOD = 100_000


def resources(body: Mapping[str, Any]) -> dict[str, Any]:
    """The OCI ``linux.resources`` a body asks for (fields left at 0/empty are not changed)."""
    res: dict[str, Any] = {}
    for field, (section, key) in _RESOURCES.items():
        value = body.get(field)
        if value:
            res.setdefault(section, {})[key] = value if isinstance(value, str) else int(value)
    if body.get("NanoCpus"):
        quota = int(body["NanoCpus"]) * CPU_PERIOD // 10**9
        res.setdefault("cpu", {}).update({"quota": quota, "period": CPU_PERIOD})
    return res


async def update(core: Core, ref: str, body: HostConfig) -> list[str]:
    c = core.store.get(ref)
    merged = c.host_config.copy()  # what the container will have: checked as a create is
    merged.update(body)
    validate.memory(merged)
    validate.cpus(merged)
    validate.cpu_limits(merged)
    if body.get("RestartPolicy"):
        validate.restart_policy(merged)
    res = resources(body)
    if res and c.state.running:
        fd, path = tempfile.mkstemp(dir=core.paths.state_dir(c.id))
        with os.fdopen(fd, "w") as f:
            json.dump(res, f)
        try:
            await core.runner.run(c.runtime, "update", "--resources", path, c.id)
        finally:
            os.unlink(path)
    c.host_config.update(body)
    core.store.save(c)
    core.emit(c, "update")
    if body.get("BlkioWeight") and not _blkio_weight():
        return [
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
        ]
    return []


def _blkio_weight() -> bool:
    """Whether this host's blkio controller (v1) or io controller (v2) takes a weight."""
    base = "/sys/fs/cgroup"
    v1 = (f"{base}/blkio/blkio.weight", f"{base}/blkio/blkio.bfq.weight")
    if any(os.path.exists(p) for p in v1):
        return True
    try:
        with open(f"{base}/cgroup.controllers") as f:
            return "io" in f.read().split()
    except OSError:
        return False
