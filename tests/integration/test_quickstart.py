"""The README's first command, as a new user runs it, then a short session on the daemon it
started: its default configuration (no daemon.json) and default paths (/run/wharf/wharf.sock,
/var/lib/wharf, the wharf0 bridge, the built-in address pools).

It runs in a network and mount namespace of its own: the daemon's bridge, nftables table and
addresses stay off the host's, and tmpfs mounts over /run and /var/lib/wharf keep the default
paths (their lengths included: the exec console socket must fit 107 bytes) without touching
the host's. What the session made is removed, then the namespaces go with their last process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests import ptys
from tests.conftest import REPO

pytestmark = pytest.mark.root
SOCK = "/run/wharf/wharf.sock"
PATH = f"{REPO}/.venv/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENV = {"DOCKER_HOST": f"unix://{SOCK}", "PATH": PATH}


class Namespaces:
    """A process holding a network + mount namespace; commands run inside it with nsenter."""

    def __init__(self) -> None:
        setup = (
            "mount --make-rprivate / && mount -t tmpfs tmpfs /run && mkdir -p /var/lib/wharf"
            " && mount -t tmpfs tmpfs /var/lib/wharf && ip link set lo up"
            " && echo ready && exec sleep infinity"
        )
        self.holder = subprocess.Popen(
            ["unshare", "--net", "--mount", "bash", "-c", setup], stdout=subprocess.PIPE, text=True
        )
        assert self.holder.stdout is not None
        assert self.holder.stdout.readline().strip() == "ready"

    def argv(self, *cmd: str) -> list[str]:
        return ["nsenter", "-t", str(self.holder.pid), "-n", "-m", *cmd]

    def sh(self, script: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            self.argv("bash", "-c", script), env=dict(os.environ, **ENV), capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip
        if check:
            assert r.returncode == 0, f"{script}\nexit {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def close(self) -> None:
        self.sh('ids=$(docker ps -aq); [ -z "$ids" ] || docker rm -f $ids >/dev/null', check=False)
        self.sh('docker network prune -f >/dev/null; kill "$(cat /run/wharfd.pid)"', check=False)
        for _ in range(100):
            if self.sh("pgrep -x wharfd >/dev/null", check=False).returncode != 0:
                break
            time.sleep(0.1)
        self.holder.send_signal(signal.SIGKILL)
        self.holder.wait()
        for hier in os.listdir("/sys/fs/cgroup"):  # the default cgroup parent, empty by now
            try:
                os.rmdir(f"/sys/fs/cgroup/{hier}/wharf")
            except OSError:
                pass


@pytest.fixture(scope="module")
def ns() -> Iterator[Namespaces]:
    n = Namespaces()
    try:
        r = n.sh(f"cd {REPO} && bash scripts/quickstart.sh", timeout=600)
        assert "hello from a wharf container" in r.stdout, r.stdout + r.stderr
        yield n
    finally:
        n.close()


def _pty(ns: Namespaces, *cmd: str) -> tuple[int, int]:
    return ptys.spawn(ns.argv(*cmd), dict(os.environ, **ENV))


def _finish(pid: int, fd: int) -> int:
    try:
        return ptys.exit_code(pid)
    finally:
        ptys.end(pid, fd)


def test_the_daemon_runs_with_its_defaults(ns: Namespaces) -> None:
    if Path("/etc/wharf/daemon.json").exists():
        pytest.skip("this host has an /etc/wharf/daemon.json: the defaults are not what runs")
    r = ns.sh("docker info --format '{{.DockerRootDir}} {{.Driver}}'; ip -4 -br addr show wharf0")
    assert r.stdout.startswith("/var/lib/wharf overlayfs")
    assert "172.17.0.1/16" in r.stdout  # Docker's first default pool, free in this namespace


def test_run_it_and_exec_it_under_a_pty(ns: Namespaces) -> None:
    pid, fd = _pty(ns, "docker", "run", "-it", "--rm", "busybox", "sh")
    ptys.expect(fd, b"# ")
    os.write(fd, b"tty; exit 4\r")
    assert b"/dev/pts/0" in ptys.expect(fd, b"/dev/pts/0")
    assert _finish(pid, fd) == 4
    ns.sh("docker run -d --name shell busybox sleep 120")
    for cli in ("docker", "wharf"):  # the console socket under /run/wharf must fit a sockaddr_un
        pid, fd = _pty(ns, cli, "exec", "-it", "shell", "sh")
        ptys.expect(fd, b"# ")
        os.write(fd, b"echo $((6*7)); exit 3\r")
        assert b"42" in ptys.expect(fd, b"42")
        assert _finish(pid, fd) == 3
    assert ns.sh("ls /run/wharf/execs | wc -l").stdout.strip() == "0"
    ns.sh("docker rm -f shell >/dev/null")


def test_network_create_and_published_ports(ns: Namespaces) -> None:
    r = ns.sh(
        "docker network create app && docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' app"
    )
    assert r.stdout.splitlines()[-1] == "172.18.0.0/16"  # the next default pool
    ns.sh("docker run -d --name api --network app -p 127.0.0.1:8080:80 busybox httpd -f -p 80 -h /etc")
    try:
        r = ns.sh(
            "for i in $(seq 10); do wget -qO- http://127.0.0.1:8080/hostname && break; sleep 0.3; done"
        )
        assert r.stdout.strip()
        r = ns.sh("docker run --rm --network app busybox wget -qO- http://api/hostname")
        assert r.stdout.strip()
    finally:
        ns.sh("docker rm -f api >/dev/null; docker network rm app >/dev/null", check=False)


def test_init_is_pid_1(ns: Namespaces) -> None:
    r = ns.sh("docker run --rm --init busybox cat /proc/1/comm")
    assert r.stdout.strip() == "docker-init"


def test_default_pools_skip_what_the_host_routes() -> None:
    """A daemon with no network configuration on a host whose routes take all of 172.16/12
    picks its bridge from the next default pool, 192.168.0.0/16 in /20s."""
    other = Namespaces()
    try:
        other.sh(
            "ip link add taken type bridge && ip addr add 172.16.0.1/12 dev taken && ip link set taken up"
        )
        other.sh("nohup wharfd >/run/wharfd.log 2>&1 </dev/null & echo $! >/run/wharfd.pid")
        other.sh("for i in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.1; done")
        assert "192.168.0.1/20" in other.sh("ip -4 -br addr show wharf0").stdout
        r = other.sh(
            "docker network create two && docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' two"
        )
        assert r.stdout.splitlines()[-1] == "192.168.16.0/20"
    finally:
        other.close()
