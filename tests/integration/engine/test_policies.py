"""Restart policies and health checks, driven by the real docker CLI, seen in inspect and events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import CLI, IMAGE

pytestmark = pytest.mark.root


@pytest.fixture
def docker(wharfd: Daemon) -> CLI:
    return CLI(wharfd, "docker")


def _until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


def _state(docker: CLI, name: str) -> dict[str, object]:
    info = json.loads(docker("inspect", name).stdout)[0]
    return dict(info["State"], RestartCount=info["RestartCount"])


def test_on_failure_retries_then_gives_up(docker: CLI) -> None:
    docker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", IMAGE, "sh", "-c", "exit 3")
    try:
        _until(
            lambda: _state(docker, "flaky")["RestartCount"] == 2 and not _state(docker, "flaky")["Running"]
        )
        time.sleep(1.0)  # and no third try
        st = _state(docker, "flaky")
        assert (st["RestartCount"], st["ExitCode"], st["Status"]) == (2, 3, "exited")
    finally:
        docker("rm", "-f", "flaky", check=False)


def test_on_failure_leaves_a_clean_exit_alone(docker: CLI) -> None:
    docker("run", "-d", "--name", "fine", "--restart", "on-failure", IMAGE, "true")
    try:
        _until(lambda: _state(docker, "fine")["Status"] == "exited")
        time.sleep(0.5)
        assert _state(docker, "fine")["RestartCount"] == 0
    finally:
        docker("rm", "-f", "fine", check=False)


def test_always_restarts_until_stopped_by_the_user(docker: CLI) -> None:
    docker("run", "-d", "--name", "phoenix", "--restart", "always", IMAGE, "sh", "-c", "sleep 0.2")
    try:
        _until(lambda: int(str(_state(docker, "phoenix")["RestartCount"])) >= 2)
        docker("stop", "-t", "1", "phoenix")
        count = _state(docker, "phoenix")["RestartCount"]
        time.sleep(1.0)
        st = _state(docker, "phoenix")
        assert not st["Running"] and st["RestartCount"] == count  # a user's stop is final
    finally:
        docker("rm", "-f", "phoenix", check=False)


def test_health_goes_starting_healthy_unhealthy_with_events(docker: CLI) -> None:
    since = str(int(time.time()) - 1)
    docker("run", "-d", "--name", "doc", "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms",
           "--health-retries", "2", "--health-timeout", "1s", IMAGE, "sleep", "60")  # fmt: skip
    try:

        def health() -> str:
            return docker("inspect", "-f", "{{.State.Health.Status}}", "doc").stdout.strip()

        assert health() in ("starting", "unhealthy")
        _until(lambda: health() == "unhealthy")
        docker("exec", "doc", "touch", "/tmp/ok")
        _until(lambda: health() == "healthy")
        assert "(healthy)" in docker("ps", "--format", "{{.Status}}", "-f", "name=doc").stdout
        log = json.loads(docker("inspect", "doc").stdout)[0]["State"]["Health"]["Log"]
        assert log[-1]["ExitCode"] == 0 and log[0]["ExitCode"] == 1
        until = str(int(time.time()) + 1)
        events = docker("events", "--since", since, "--until", until, "-f", "container=doc",
                        "--format", "{{.Action}}").stdout.split("\n")  # fmt: skip
        assert "health_status: unhealthy" in events and "health_status: healthy" in events
    finally:
        docker("rm", "-f", "doc", check=False)


def test_no_healthcheck_overrides_the_image(docker: CLI) -> None:
    docker("run", "-d", "--name", "nohc", "--no-healthcheck", IMAGE, "sleep", "30")
    try:
        state = json.loads(docker("inspect", "nohc").stdout)[0]["State"]
        assert "Health" not in state or state["Health"] is None
    finally:
        docker("rm", "-f", "nohc", check=False)
