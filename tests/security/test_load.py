"""Load: many clients at once. Every connection is answered (the listen backlog is dockerd's
4096, not 128) and 200 containers run by 8 parallel clients all succeed and leave nothing
behind. bench/load.py measures the same load beside dockerd."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import IMAGE, docker, seeded_daemon

from wharf.runtime.seccomp import CACHE_DIR

pytestmark = pytest.mark.root

CONNECTIONS = 500
CONTAINERS = 200
CLIENTS = 8


@pytest.fixture(scope="module")
def d(rootfs_template: str) -> Iterator[Daemon]:
    with seeded_daemon(rootfs_template) as daemon:
        yield daemon


def test_500_connections_at_once_are_all_answered(d: Daemon) -> None:
    """All connect before any request is sent (a backlog of 128 refuses the rest with EAGAIN),
    then each sends /_ping and reads its answer."""
    socks: list[socket.socket] = []
    try:
        for _ in range(CONNECTIONS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect(d.sock)  # a full backlog raises BlockingIOError here
            socks.append(s)
        answered = 0
        for s in socks:
            s.setblocking(True)
            s.settimeout(30)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for s in socks:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            answered += data.startswith(b"HTTP/1.1 200")
        assert answered == CONNECTIONS
    finally:
        for s in socks:
            s.close()


def _run_one(d: Daemon, name: str) -> str:
    r = docker(d, "run", "--rm", "--name", name, IMAGE, "true", check=False, timeout=120)
    return "" if r.returncode == 0 else f"{name}: exit {r.returncode}: {r.stderr.strip()}"


@pytest.mark.parametrize("run", [1, 2, 3])
def test_200_containers_by_8_clients(d: Daemon, run: int) -> None:
    """Three runs on one daemon: what a run leaves (a shim, a mount, a record) fails the next."""
    tag = f"{uuid.uuid4().hex[:6]}-{run}"
    with ThreadPoolExecutor(CLIENTS) as pool:
        failures = [f for f in pool.map(lambda i: _run_one(d, f"load-{tag}-{i}"), range(CONTAINERS)) if f]
    assert failures == []
    assert docker(d, "ps", "-aq").stdout.split() == []
    runtime_root = os.path.join(d.exec_root, "runtime")
    assert [n for n in os.listdir(runtime_root) if n != CACHE_DIR] == []  # the seccomp cache stays
    with open("/proc/self/mounts") as f:
        assert [line for line in f if f"{d.data_root}/containers/" in line] == []


def test_containers_made_at_once_under_a_new_cgroup_parent(d: Daemon) -> None:
    """8 creates at once under a cgroup parent none of them finds: on a v1 cpuset the parent
    is made by one while the others make their own under it, and a cgroup that copied its
    parent's cpus before they were set takes no task ("No space left on device", 1 start in
    600 of bench/load.py)."""
    tag = uuid.uuid4().hex[:6]
    parents = [f"wharf-race-{tag}-{i}" for i in range(6)]
    try:
        for p in parents:
            with ThreadPoolExecutor(CLIENTS) as pool:
                runs = pool.map(
                    lambda i, p=p: docker(
                        d, "run", "--rm", "--cgroup-parent", f"/{p}", IMAGE, "true", check=False
                    ),  # fmt: skip
                    range(CLIENTS),
                )
                failed = [r.stderr for r in runs if r.returncode != 0]
            assert failed == []
    finally:
        for hier in os.listdir("/sys/fs/cgroup"):
            for p in parents:
                try:
                    os.rmdir(f"/sys/fs/cgroup/{hier}/{p}")
                except OSError:
                    pass
