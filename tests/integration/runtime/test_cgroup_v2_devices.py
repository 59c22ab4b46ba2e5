"""The cgroup v2 device filter (eBPF) enforced by the kernel on a real cgroup2 directory.

The hybrid host here keeps the devices controller on v1, but BPF device programs attach to any
cgroup2 directory, so the v2 path is exercised for real: a process moved into the directory
is refused the devices the rules deny.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from tests.conftest import TEST_CGROUP_PARENT

from wharf.runtime.cgroups import devicefilter

pytestmark = pytest.mark.root


def _cgroup2_mount() -> str | None:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            if post.split()[0] == "cgroup2":
                return pre.split()[4]
    return None


@pytest.fixture
def cgroup2_dir() -> Iterator[str]:
    mount = _cgroup2_mount()
    if mount is None:
        pytest.skip("no cgroup2 hierarchy on this host")
    path = f"{mount}/{TEST_CGROUP_PARENT}-devices"
    os.mkdir(path)
    try:
        yield path
    finally:
        os.rmdir(path)


def _probe_in(cgroup: str, paths: list[tuple[str, int]]) -> list[str]:
    """Fork a child into ``cgroup``; it opens each path and reports ok or the errno name."""
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rd)
            with open(f"{cgroup}/cgroup.procs", "w") as f:
                f.write("0")
            out = []
            for path, flags in paths:
                try:
                    os.close(os.open(path, flags))
                    out.append("ok")
                except OSError as exc:
                    out.append(f"errno{exc.errno}")
            os.write(wr, " ".join(out).encode())
        finally:
            os._exit(0)
    os.close(wr)
    data = b""
    while chunk := os.read(rd, 1024):
        data += chunk
    os.close(rd)
    os.waitpid(pid, 0)
    return data.decode().split()


def test_rules_deny_and_allow(cgroup2_dir: str) -> None:
    rules = [
        {"allow": False, "access": "rwm"},  # deny everything ...
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},  # ... but reading /dev/zero
        {"allow": False, "type": "c", "major": 1, "minor": 9, "access": "rwm"},  # urandom: a default wins
    ]
    devicefilter.attach(cgroup2_dir, rules)
    probes = [
        ("/dev/zero", os.O_RDONLY),
        ("/dev/zero", os.O_WRONLY),  # only "r" was allowed ... but /dev/zero is a default (rwm)
        ("/dev/loop-control", os.O_RDONLY),  # 10:237, denied by the first rule
        ("/dev/null", os.O_WRONLY),  # default allowed
    ]
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("no /dev/loop-control to probe")
    assert _probe_in(cgroup2_dir, probes) == ["ok", "ok", "errno1", "ok"]


def test_without_defaults_a_specific_deny_applies(cgroup2_dir: str) -> None:
    # the last matching rule wins: a deny of c 10:237 after an allow-all
    rules = [
        {"allow": True, "access": "rwm"},
        {"allow": False, "type": "c", "major": 10, "minor": 237, "access": "rw"},
    ]
    if not os.path.exists("/dev/loop-control"):
        pytest.skip("no /dev/loop-control to probe")
    devicefilter.attach(cgroup2_dir, rules)
    assert _probe_in(cgroup2_dir, [("/dev/loop-control", os.O_RDONLY), ("/dev/full", os.O_RDONLY)]) == [
        "errno1",
        "ok",
    ]
