"""kill -9 of wharfd in the middle of things, then a restart: nothing is lost, nothing stuck.

Every container the killed daemon was working on can afterwards be started, stopped and
removed; ``ps -a``, images, volumes and logs agree with each other; nothing is left behind
(runtime state, shims, mounts) once the containers are gone.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import IMAGE, docker, seeded_daemon

from wharf.runtime.seccomp import CACHE_DIR

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def d(rootfs_template: str) -> Iterator[Daemon]:
    with seeded_daemon(rootfs_template) as daemon:
        yield daemon


def _send(d: Daemon, method: str, path: str, body: object = None) -> socket.socket:
    """Send a request and leave its answer unread (the daemon dies before it comes)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.sock)
    data = b"" if body is None else json.dumps(body).encode()
    head = f"{method} /v1.41{path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    s.sendall(head.encode() + f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return s


def _kill9_and_restart(d: Daemon) -> None:
    d.stop(signal.SIGKILL)
    d.start()


def _consistent(d: Daemon) -> None:
    """What a user checks after the restart: every listing answers, and each container in it
    can be inspected, read (logs), started or stopped, and removed."""
    names = docker(d, "ps", "-a", "--format", "{{.Names}}").stdout.split()
    docker(d, "images")
    docker(d, "volume", "ls")
    for n in names:
        docker(d, "inspect", n)
        docker(d, "logs", n)


def _no_leftovers(d: Daemon) -> None:
    assert docker(d, "ps", "-aq").stdout.split() == []
    runtime_root = os.path.join(d.exec_root, "runtime")
    left = [n for n in os.listdir(runtime_root) if n != CACHE_DIR]  # the compiled seccomp filters stay
    assert not left, left
    with open("/proc/self/mounts") as f:
        mounted = [line.split()[1] for line in f if f"{d.data_root}/containers/" in line]
    assert not mounted, mounted


def test_kill9_during_start(d: Daemon) -> None:
    names = [f"k9s-{i}-{uuid.uuid4().hex[:4]}" for i in range(10)]
    for n in names:
        docker(d, "create", "--name", n, IMAGE, "sleep", "300")
    try:
        for i, n in enumerate(names):
            s = _send(d, "POST", f"/containers/{n}/start")
            time.sleep(0.015 * i)  # from before the runtime is called to after the process runs
            _kill9_and_restart(d)
            s.close()
        _consistent(d)
        for n in names:
            docker(d, "start", n)  # a container already running answers 304: no error either
            assert docker(d, "inspect", "-f", "{{.State.Status}}", n).stdout.strip() == "running"
            assert docker(d, "exec", n, "echo", "in").stdout.strip() == "in"
        for n in names:
            docker(d, "rm", "-f", n)
        _no_leftovers(d)
    finally:
        for n in names:
            docker(d, "rm", "-f", n, check=False)
