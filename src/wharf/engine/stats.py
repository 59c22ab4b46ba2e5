"""`docker stats` and `docker top` from the container's cgroups (v1, v2 or hybrid)."""

from __future__ import annotations

import os
import subprocess
import time
from typing import Any

from wharf.base.files import read_text
from wharf.base.times import now_rfc3339
from wharf.engine.containers import Container
from wharf.errors import Conflict, InvalidArgument
from wharf.runtime import cgroups

CLK_TCK = os.sysconf("SC_CLK_TCK")


def manager(c: Container, parent: str) -> cgroups.Manager:
    return cgroups.open_manager(f"{parent.rstrip('/')}/{c.id}", c.id, None)


def _int(path: str) -> int:
    text = read_text(path).strip()
    if not text or text == "max":
        return 0
    try:
        return int(text.split()[0])
    except ValueError:
        return 0


def _kv(path: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in read_text(path).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def system_cpu_ns() -> int:
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * (1_000_000_000 // CLK_TCK)


def sample(c: Container, parent: str) -> dict[str, Any]:
    m = manager(c, parent)
    return {
        "read": now_rfc3339(),
        "name": f"/{c.name}",
        "id": c.id,
        "num_procs": 0,
        "pids_stats": _pids(m),
        "blkio_stats": {
            "io_service_bytes_recursive": None,
            "io_serviced_recursive": None,
            "io_queue_recursive": None,
            "io_service_time_recursive": None,
            "io_wait_time_recursive": None,
            "io_merged_recursive": None,
            "io_time_recursive": None,
            "sectors_recursive": None,
        },
        "storage_stats": {},
        "cpu_stats": _cpu(m),
        "memory_stats": _memory(m),
        "networks": _net(c),
    }


def _cpu(m: cgroups.Manager) -> dict[str, Any]:
    v1 = m.v1_paths
    cpu: dict[str, Any]
    if "cpuacct" in v1:
        d = v1["cpuacct"]
        percpu = [int(x) for x in read_text(f"{d}/cpuacct.usage_percpu").split()]
        st = _kv(f"{d}/cpuacct.stat")
        tick = 1_000_000_000 // CLK_TCK
        cpu = {
            "cpu_usage": {
                "total_usage": _int(f"{d}/cpuacct.usage"),
                "percpu_usage": percpu,
                "usage_in_kernelmode": st.get("system", 0) * tick,
                "usage_in_usermode": st.get("user", 0) * tick,
            },
        }
        throttling = _kv(f"{v1.get('cpu', d)}/cpu.stat")
    else:
        d = m.v2_path or ""
        st = _kv(f"{d}/cpu.stat")
        cpu = {
            "cpu_usage": {
                "total_usage": st.get("usage_usec", 0) * 1000,
                "usage_in_kernelmode": st.get("system_usec", 0) * 1000,
                "usage_in_usermode": st.get("user_usec", 0) * 1000,
            }
        }
        throttling = st
    cpu["system_cpu_usage"] = system_cpu_ns()
    cpu["online_cpus"] = os.cpu_count() or 1
    cpu["throttling_data"] = {
        "periods": throttling.get("nr_periods", 0),
        "throttled_periods": throttling.get("nr_throttled", 0),
        "throttled_time": throttling.get("throttled_time", throttling.get("throttled_usec", 0) * 1000),
    }
    return cpu


def _memory(m: cgroups.Manager) -> dict[str, Any]:
    if "memory" in m.v1_paths:
        d = m.v1_paths["memory"]
        limit = _int(f"{d}/memory.limit_in_bytes")
        return {
            "usage": _int(f"{d}/memory.usage_in_bytes"),
            "max_usage": _int(f"{d}/memory.max_usage_in_bytes"),
            "stats": _kv(f"{d}/memory.stat"),
            "failcnt": _int(f"{d}/memory.failcnt"),
            "limit": limit if 0 < limit < (1 << 62) else _host_mem(),
        }
    d = m.v2_path or ""
    limit = _int(f"{d}/memory.max")
    return {
        "usage": _int(f"{d}/memory.current"),
        "stats": _kv(f"{d}/memory.stat"),
        "limit": limit or _host_mem(),
    }


def _pids(m: cgroups.Manager) -> dict[str, Any]:
    pids_dir = m.v1_paths.get("pids") or m.v2_path or ""
    pids = {"current": _int(f"{pids_dir}/pids.current")}
    pmax = read_text(f"{pids_dir}/pids.max").strip()
    if pmax and pmax != "max":
        pids["limit"] = int(pmax)
    return pids


def empty_sample(c: Container) -> dict[str, Any]:
    return {
        "read": "0001-01-01T00:00:00Z",
        "preread": "0001-01-01T00:00:00Z",
        "name": f"/{c.name}",
        "id": c.id,
        "pids_stats": {},
        "blkio_stats": {},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
        "precpu_stats": {"cpu_usage": {"total_usage": 0}, "throttling_data": {}},
        "memory_stats": {},
    }


def _host_mem() -> int:
    with open("/proc/meminfo") as f:
        return int(f.readline().split()[1]) * 1024


def _net(c: Container) -> dict[str, Any]:
    if not c.state.pid:
        return {}
    out: dict[str, Any] = {}
    for line in read_text(f"/proc/{c.state.pid}/net/dev").splitlines()[2:]:
        name, _, rest = line.partition(":")
        name = name.strip()
        f = rest.split()
        if name == "lo" or len(f) < 16:
            continue
        out[name] = {
            "rx_bytes": int(f[0]),
            "rx_packets": int(f[1]),
            "rx_errors": int(f[2]),
            "rx_dropped": int(f[3]),
            "tx_bytes": int(f[8]),
            "tx_packets": int(f[9]),
            "tx_errors": int(f[10]),
            "tx_dropped": int(f[11]),
        }
    return out


def container_pids(c: Container, parent: str) -> list[int]:
    return manager(c, parent).pids()


def top(c: Container, parent: str, ps_args: str = "-ef") -> dict[str, Any]:
    """`docker top`: the host's ``ps`` with ``ps_args``, rows of the container's processes only."""
    if not c.state.running:
        raise Conflict(f"Container {c.id} is not running")
    pids = set(container_pids(c, parent))
    args = ps_args.split() if ps_args else ["-ef"]
    try:
        out = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        raise InvalidArgument("ps: executable file not found") from None
    if out.returncode != 0:
        raise InvalidArgument(f"ps: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return {"Titles": [], "Processes": []}
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    pid_col = titles.index("PID")
    procs = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > pid_col and fields[pid_col].isdigit() and int(fields[pid_col]) in pids:
            procs.append(fields)
    return {"Titles": titles, "Processes": procs}


def now() -> float:
    return time.time()
