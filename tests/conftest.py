"""Shared fixtures: a busybox rootfs from the host's busybox-static, runtime state roots,
and a leak check that fails the run if a test left a mount or cgroup of wharf's behind."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.fixtures.busybox import make_rootfs

REPO = Path(__file__).resolve().parent.parent
RUNTIME = str(REPO / ".venv" / "bin" / "wharf-runtime")
TEST_CGROUP_PARENT = f"wharf-test-{os.getpid()}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root")
        for item in items:
            if "root" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_rootfs(str(tmp_path_factory.mktemp("template") / "rootfs"))


def mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]


def umount_under(prefix: str) -> None:
    """Lazily unmount everything mounted below ``prefix``, deepest first."""
    for m in sorted(mounts_under(prefix), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


def _cgroup_dirs() -> list[str]:
    found = []
    for hier in os.listdir("/sys/fs/cgroup"):
        base = f"/sys/fs/cgroup/{hier}"
        if os.path.isdir(base):
            found += [f"{base}/{d}" for d in os.listdir(base) if d.startswith(TEST_CGROUP_PARENT)]
    return found


@pytest.fixture(scope="session", autouse=True)
def leak_check(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole session: no mount under the test tmp dirs (pytest's, the test daemons'),
    no test cgroup left."""
    yield
    ours = (
        str(tmp_path_factory.getbasetemp()),
        os.path.join(tempfile.gettempdir(), f"wharfd-test-{os.getpid()}-"),
    )
    mounts = [m for m in mounts_under(tempfile.gettempdir()) if m.startswith(ours)]
    leaked = mounts + _cgroup_dirs() + _net_leaks()
    assert not leaked, f"tests leaked mounts, cgroups, links or nftables tables: {leaked}"


def _net_leaks() -> list[str]:
    """Links of this session's test daemons (their bridges "wtb<pid>x<n>", the veths their
    containers left on them) and the test daemons' nftables tables."""
    from tests.daemon import LEAKED_PORTS

    tag = f"{os.getpid() % 10000}x"
    links = [x for x in os.listdir("/sys/class/net") if x.startswith(f"wtb{tag}")] + LEAKED_PORTS
    r = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    tables = [line for line in r.stdout.splitlines() if f"wharf_test_{tag}" in line]
    return links + tables
