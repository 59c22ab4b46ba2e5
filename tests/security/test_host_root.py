"""Host local root through the data root (CVE-2021-41091 class): whatever a container leaves in
a volume or its writable layer (a setuid-root binary, say) must be out of every unprivileged
host user's reach. The data root is 0710 root:root, as dockerd's, and a root an earlier version
made looser is tightened at start."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from tests.daemon import Daemon, new_root
from tests.integration.engine.conftest import IMAGE, docker, seed_busybox

pytestmark = pytest.mark.root

# runuser drops every capability (setpriv --reuid keeps effective ones until its execve)
NOBODY = ["runuser", "-u", "nobody", "--"]


@pytest.fixture(scope="module")
def daemon(rootfs_template: str) -> Iterator[Daemon]:
    """A daemon whose data root's parents are open to everyone (as /var/lib is), so that only
    the data root's own mode stands between a host user and what containers wrote; its data
    root starts as an earlier wharf left it (0711)."""
    d = Daemon(new_root())
    try:
        os.chmod(d.root, 0o755)
        seed_busybox(d, rootfs_template)
        os.chmod(d.data_root, 0o711)
        old = os.umask(0)  # started from a shell that opened everything: the daemon's own
        try:  # umask (dockerd's 022) decides what it makes
            d.start()
        finally:
            os.umask(old)
        yield d
    finally:
        d.cleanup()


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NOBODY, *argv], capture_output=True, text=True, timeout=30)


def test_data_root_is_0710_root(daemon: Daemon) -> None:
    st = os.stat(daemon.data_root)
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o710, 0, 0)


def test_setuid_binary_in_a_volume_is_out_of_reach(daemon: Daemon) -> None:
    vol = f"suid-{uuid.uuid4().hex[:8]}"
    try:
        docker(
            daemon,
            "run",
            "--rm",
            "-v",
            f"{vol}:/v",
            IMAGE,
            "sh",
            "-c",
            "cp /bin/busybox /v/sh && chmod 4755 /v/sh",
        )
        path = docker(daemon, "volume", "inspect", "-f", "{{.Mountpoint}}", vol).stdout.strip()
        assert os.stat(f"{path}/sh").st_mode & 0o4000  # it is there, setuid root
        r = _as_nobody(f"{path}/sh", "id", "-u")
        assert r.returncode != 0 and "Permission denied" in r.stderr, (r.returncode, r.stdout, r.stderr)
        assert _as_nobody("ls", f"{daemon.data_root}/volumes").returncode != 0
    finally:
        docker(daemon, "volume", "rm", "-f", vol, check=False)


def test_setuid_binary_in_a_container_layer_is_out_of_reach(daemon: Daemon) -> None:
    name = f"suid-{uuid.uuid4().hex[:8]}"
    docker(
        daemon,
        "run",
        "-d",
        "--name",
        name,
        IMAGE,
        "sh",
        "-c",
        "cp /bin/busybox /sh && chmod 4755 /sh && sleep 300",
    )
    try:
        cid = docker(daemon, "inspect", "-f", "{{.Id}}", name).stdout.strip()
        found = subprocess.run(
            ["find", daemon.data_root, "-path", f"*{cid}*", "-name", "sh", "-perm", "-4000"],
            capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        for _ in range(50):
            if found:
                break
            found = subprocess.run(
                ["find", daemon.data_root, "-name", "sh", "-perm", "-4000"], capture_output=True, text=True
            ).stdout.split()
        assert found, "the container's setuid copy is not in the data root"
        for path in found:
            r = _as_nobody(path, "id", "-u")
            assert r.returncode != 0 and "Permission denied" in r.stderr, (path, r.stdout, r.stderr)
    finally:
        docker(daemon, "rm", "-f", name, check=False)


def test_socket_is_root_only(daemon: Daemon) -> None:
    """0660 root:root (no docker group here): another host user cannot even connect."""
    st = os.stat(daemon.sock)
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o660, 0, 0)
    r = _as_nobody("python3", "-c", f"import socket; socket.socket(socket.AF_UNIX).connect({daemon.sock!r})")
    assert r.returncode != 0 and "PermissionError" in r.stderr, r.stderr


def test_nothing_the_daemon_made_is_open_to_others(daemon: Daemon) -> None:
    """Under an inherited umask of 0, the daemon's own directories and files (two levels of its
    data and exec roots) are still not writable by others."""
    loose = []
    for top in (daemon.data_root, daemon.exec_root):
        for dirpath, dirs, files in os.walk(top):
            if dirpath.count("/") - top.count("/") >= 2:
                dirs[:] = []
            for n in dirs + files:
                p = os.path.join(dirpath, n)
                st = os.lstat(p)
                if not os.path.islink(p) and st.st_mode & 0o002:
                    loose.append(f"{p} {st.st_mode & 0o7777:o}")
    assert loose == []
