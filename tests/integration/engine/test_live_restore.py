"""Live restore: kill -9 wharfd while containers run and log; a new wharfd adopts them with
their logs complete and their exit codes right."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest
from tests.daemon import Daemon, new_root
from tests.integration.engine.conftest import IMAGE, docker, seed_busybox

pytestmark = pytest.mark.root


@pytest.fixture
def daemon(rootfs_template: str) -> Iterator[Daemon]:
    d = Daemon(new_root(), "restore")
    try:
        seed_busybox(d, rootfs_template)
        d.start()
        yield d
    finally:
        d.cleanup()


def test_containers_outlive_a_killed_daemon(daemon: Daemon) -> None:
    script = "i=0; while [ $i -lt 30 ]; do echo line $i; i=$((i+1)); sleep 0.1; done; exit 4"
    docker(daemon, "run", "-d", "--name", "logger", IMAGE, "sh", "-c", script)
    docker(daemon, "run", "-d", "--name", "sleeper", IMAGE, "sleep", "300")
    pid_before = docker(daemon, "inspect", "-f", "{{.State.Pid}}", "sleeper").stdout.strip()
    time.sleep(0.5)
    daemon.stop(signal.SIGKILL)  # no goodbye: shims and containers must not notice
    time.sleep(1.0)  # the logger keeps logging with no daemon at all
    daemon.start()
    assert docker(
        daemon, "inspect", "-f", "{{.State.Running}} {{.State.Pid}}", "sleeper"
    ).stdout.split() == [
        "true",
        pid_before,
    ]
    assert docker(daemon, "wait", "logger", timeout=30).stdout.strip() == "4"
    lines = docker(daemon, "logs", "logger").stdout.splitlines()
    assert lines == [f"line {i}" for i in range(30)]  # complete, in order, no gap
    docker(daemon, "stop", "-t", "1", "sleeper")
    assert docker(daemon, "inspect", "-f", "{{.State.Status}}", "sleeper").stdout.strip() == "exited"
    docker(daemon, "rm", "-f", "logger", "sleeper")


def test_container_that_exits_while_the_daemon_is_down(daemon: Daemon) -> None:
    docker(daemon, "run", "-d", "--name", "short", IMAGE, "sh", "-c", "sleep 0.5; echo bye; exit 9")
    daemon.stop(signal.SIGKILL)
    time.sleep(1.5)
    daemon.start()
    assert docker(
        daemon, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "short"
    ).stdout.split() == [
        "exited",
        "9",
    ]
    assert docker(daemon, "logs", "short").stdout == "bye\n"
    docker(daemon, "rm", "short")
