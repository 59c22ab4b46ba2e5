"""dockerd's refusals of resource values, checked before anything reaches a cgroup."""

from __future__ import annotations

import pytest

from wharf.engine import validate
from wharf.engine.request import HostConfig
from wharf.errors import InvalidArgument
from wharf.network.endpoints import MAC_RE


@pytest.mark.parametrize(
    "hc,words",
    [
        (HostConfig(CpuPeriod=7), "CPU cfs period can not be less than 1ms"),
        (HostConfig(CpuPeriod=2_000_000), "larger than 1 second"),
        (HostConfig(CpuQuota=2), "CPU cfs quota can not be less than 1ms"),
        (HostConfig(CpuShares=-1), "invalid CPU shares (-1)"),
        (HostConfig(CpusetCpus="nofile"), "Invalid value nofile for cpuset cpus"),
        (HostConfig(CpusetCpus="0-4096"), "Requested CPUs are not available"),
        (HostConfig(CpusetMems="x"), "Invalid value x for cpuset mems"),
        (HostConfig(PidsLimit=2**63 - 1), "the kernel's maximum"),
        (HostConfig(PidsLimit=-2), "invalid PidsLimit"),
    ],
)
def test_cpu_limits_refused(hc: HostConfig, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words.replace("(", r"\(").replace(")", r"\)")):
        validate.cpu_limits(hc)


def test_cpu_limits_accepted() -> None:
    validate.cpu_limits(
        HostConfig(CpuPeriod=100000, CpuQuota=50000, CpuShares=512, CpusetCpus="0", PidsLimit=-1)
    )


@pytest.mark.parametrize(
    "text,cpus", [("0", {0}), ("0-2,4", {0, 1, 2, 4}), ("1,1", {1}), ("2-1", None), ("a", None)]
)
def test_parse_cpuset(text: str, cpus: set[int] | None) -> None:
    assert validate.parse_cpuset(text) == cpus


def test_swap_below_memory_refused() -> None:
    with pytest.raises(InvalidArgument, match="memoryswap limit should be larger"):
        validate.memory(HostConfig(Memory=256 << 20, MemorySwap=64 << 20))


@pytest.mark.parametrize(
    "mac,ok",
    [
        ("02:42:ac:11:00:02", True),
        ("02-42-AC-11-00-02", True),
        ("a:b", False),
        ("NET_ADMIN", False),
        ("02:42:ac:11:00", False),
        ("02:42-ac:11:00:02", False),
    ],
)
def test_mac_addresses(mac: str, ok: bool) -> None:
    assert bool(MAC_RE.match(mac)) is ok
