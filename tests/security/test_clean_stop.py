"""What a clean stop (SIGTERM) of wharfd removes (docs/security.md, "Stopping the daemon").

With no container running: its socket and pid file, its bridges, its nftables table and its
(empty) cgroup parent; the next start makes them again. With containers running (live
restore): only the socket and pid file; the containers keep their network and cgroups.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from tests.conftest import TEST_CGROUP_PARENT
from tests.daemon import Daemon, new_root
from tests.integration.engine.conftest import IMAGE, docker, seed_busybox

pytestmark = pytest.mark.root


@pytest.fixture
def d(rootfs_template: str) -> Iterator[Daemon]:
    daemon = Daemon(new_root())
    # a cgroup parent of wharf's own naming, as the default /wharf is
    daemon.cgroup_parent = f"/{TEST_CGROUP_PARENT}/wharf-{uuid.uuid4().hex[:6]}"
    try:
        seed_busybox(daemon, rootfs_template)
        (daemon.root / "daemon.json").write_text(json.dumps(daemon.config()))
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()


def _table_exists(name: str) -> bool:
    r = subprocess.run(["nft", "list", "table", "inet", name], capture_output=True)
    return r.returncode == 0


def _cgroup_dirs(parent: str) -> list[str]:
    return [
        f"/sys/fs/cgroup/{h}{parent}"
        for h in os.listdir("/sys/fs/cgroup")
        if os.path.isdir(f"/sys/fs/cgroup/{h}{parent}")
    ]


def test_idle_stop_removes_what_it_made_and_start_makes_it_again(d: Daemon) -> None:
    net = f"stopnet-{uuid.uuid4().hex[:6]}"
    docker(d, "network", "create", net)
    user_bridge = docker(d, "network", "inspect", "-f", "{{.Id}}", net).stdout.strip()
    docker(d, "run", "--rm", IMAGE, "true")  # the cgroup parent exists once a container ran
    bridges = [x for x in os.listdir("/sys/class/net") if x == d.bridge or x == f"br-{user_bridge[:12]}"]
    assert d.bridge in bridges and _table_exists(d.table)
    d.stop()
    assert not os.path.exists(d.sock)
    assert not os.path.exists(os.path.join(d.exec_root, "wharfd.pid"))
    assert not os.path.exists(f"/sys/class/net/{d.bridge}")
    assert not os.path.exists(f"/sys/class/net/br-{user_bridge[:12]}")
    assert not _table_exists(d.table)
    assert _cgroup_dirs(d.cgroup_parent) == []
    d.start()
    assert os.path.exists(f"/sys/class/net/{d.bridge}") and _table_exists(d.table)
    out = docker(d, "run", "--rm", "--network", net, IMAGE, "ip", "-4", "-o", "addr", "show", "eth0").stdout
    assert "inet " in out
    assert docker(d, "run", "--rm", IMAGE, "echo", "ok").stdout.strip() == "ok"


def test_stop_with_a_running_container_keeps_its_network(d: Daemon) -> None:
    name = f"live-{uuid.uuid4().hex[:6]}"
    docker(d, "run", "-d", "--name", name, IMAGE, "sleep", "300")
    try:
        d.stop()
        assert not os.path.exists(d.sock)
        assert os.path.exists(f"/sys/class/net/{d.bridge}") and _table_exists(d.table)
        assert _cgroup_dirs(d.cgroup_parent) != []
        d.start()
        assert docker(d, "inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"
    finally:
        docker(d, "rm", "-f", name, check=False)
