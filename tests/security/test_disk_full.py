"""A full disk: the data root on a small tmpfs that a container fills. Its exit is still
recorded, clients get Docker's "no space left on device", nothing hangs, and ``rm`` frees the
space so that the daemon works again."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from tests.daemon import Daemon, new_root
from tests.integration.engine.conftest import IMAGE, docker, seed_busybox

pytestmark = pytest.mark.root

SIZE_MB = 48


@pytest.fixture(scope="module")
def small(rootfs_template: str) -> Iterator[Daemon]:
    d = Daemon(new_root())
    try:
        os.makedirs(d.data_root)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m,mode=0710", "tmpfs", d.data_root], check=True
        )
        seed_busybox(d, rootfs_template)
        d.start()
        yield d
    finally:
        d.cleanup()


def _free_mb(d: Daemon) -> float:
    st = os.statvfs(d.data_root)
    return st.f_bavail * st.f_frsize / 2**20


def _fill(d: Daemon, name: str) -> subprocess.CompletedProcess[str]:
    """A container that writes into its layer until the data root is full, then exits."""
    return docker(
        d, "run", "--name", name, IMAGE, "sh", "-c", "dd if=/dev/zero of=/fill bs=1M; echo filled; exit 3",
        check=False, timeout=60,
    )  # fmt: skip


def test_exit_recorded_and_rm_frees_the_space(small: Daemon) -> None:
    name = f"fill-{uuid.uuid4().hex[:6]}"
    try:
        r = _fill(small, name)
        assert _free_mb(small) < 1
        # the run returned with the container's own status, not after a hang
        assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
        ps = docker(small, "ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}").stdout
        assert ps.startswith("Exited (3)"), ps
        # a create on the full disk: Docker's words, and the daemon keeps serving
        c = docker(small, "create", IMAGE, "true", check=False)
        assert c.returncode != 0 and "no space left on device" in c.stderr, c.stderr
        assert "internal error" not in c.stderr, c.stderr
        docker(small, "rm", "-f", name)
        assert _free_mb(small) > SIZE_MB / 2
        name = ""
        assert docker(small, "run", "--rm", IMAGE, "echo", "ok").stdout.strip() == "ok"
    finally:
        if name:
            docker(small, "rm", "-f", name, check=False)
        for cid in docker(small, "ps", "-aq", check=False).stdout.split():
            docker(small, "rm", "-f", cid, check=False)


def test_exit_survives_a_daemon_restart_on_a_full_disk(small: Daemon) -> None:
    """The exit could not be written while the disk was full; a daemon restarted before the
    space came back still finds the right status (from the shim's exit file)."""
    name = f"fill-{uuid.uuid4().hex[:6]}"
    other = f"bystander-{uuid.uuid4().hex[:6]}"
    try:
        docker(small, "run", "-d", "--name", other, IMAGE, "sh", "-c", "sleep 2; exit 7")
        _fill(small, name)
        assert _free_mb(small) < 1
        small.stop()
        small.start()
        docker(small, "wait", other, timeout=30)
        got = docker(
            small, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", other, name
        ).stdout.split("\n")
        assert got[:2] == ["exited 7", "exited 3"], got
    finally:
        for n in (name, other):
            docker(small, "rm", "-f", n, check=False)
