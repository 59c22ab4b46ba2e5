"""The runtime's warm spawner (src/wharf/runtime/spawner.py): wharfd's containers are created by
forks of one pre-imported process, which becomes each container's shim; a spawner that dies is
replaced, and the containers it made do not depend on it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from tests.integration.engine.conftest import IMAGE, docker, seeded_daemon

pytestmark = pytest.mark.root


def _children(pid: int) -> list[int]:
    """Of every thread: a process started from an executor thread is listed under that thread."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except FileNotFoundError:
            pass
    return out


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except FileNotFoundError:
        return []


def _spawner(daemon_pid: int) -> int:
    found = [p for p in _children(daemon_pid) if "spawner" in _cmdline(p)]
    assert len(found) == 1, [_cmdline(p) for p in _children(daemon_pid)]
    return found[0]


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _gone(pid: int, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while (
        Path(f"/proc/{pid}").exists()
        and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    ):
        assert time.monotonic() < end, f"{pid} still runs"
        time.sleep(0.02)


def test_a_dead_spawner_is_replaced_and_its_containers_live_on(rootfs_template: str) -> None:
    with seeded_daemon(rootfs_template) as d:
        assert d.proc is not None
        first = _spawner(d.proc.pid)
        cid = docker(d, "run", "-d", IMAGE, "sh", "-c", "echo up; sleep 300").stdout.strip()
        shim_pid = int(Path(d.exec_root, "containers", cid, "shim.pid").read_text())
        # the container's shim is the spawner's child, running the C shim, not Python
        assert _parent(shim_pid) == first
        assert os.path.basename(os.readlink(f"/proc/{shim_pid}/exe")) == "wharf-shim"

        os.kill(first, signal.SIGKILL)
        _gone(first)
        # the container did not notice: its shim still serves logs and its process runs
        assert docker(d, "logs", cid).stdout == "up\n"
        assert docker(d, "inspect", "-f", "{{.State.Running}}", cid).stdout.strip() == "true"
        # the next create gets a new spawner
        assert docker(d, "run", "--rm", IMAGE, "echo", "again").stdout == "again\n"
        second = _spawner(d.proc.pid)
        assert second != first
        docker(d, "rm", "-f", cid)


def test_create_errors_reach_the_client_through_the_spawner(rootfs_template: str) -> None:
    with seeded_daemon(rootfs_template) as d:
        r = docker(d, "run", "--rm", IMAGE, "/no/such/binary", check=False)
        assert r.returncode == 127
        assert "/no/such/binary" in r.stderr and "no such file or directory" in r.stderr
        r = docker(d, "run", "--rm", "-t", IMAGE, "sh", "-c", "tty", check=False)
        assert r.returncode == 0 and r.stdout.strip().startswith("/dev/pts/")
        r = docker(d, "run", "--rm", "-i", IMAGE, "cat", input="through stdin\n", check=False)
        assert (r.returncode, r.stdout) == (0, "through stdin\n")
