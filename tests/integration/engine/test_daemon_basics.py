"""wharfd answers the Engine API as dockerd does: ping headers, version negotiation, errors."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from tests.daemon import Daemon, new_root

pytestmark = pytest.mark.root


@pytest.fixture
def daemon() -> Iterator[Daemon]:
    d = Daemon(new_root())
    try:
        d.start()
        yield d
    finally:
        d.cleanup()


def test_ping_and_version(daemon: Daemon) -> None:
    status, body = daemon.request("GET", "/_ping")
    assert (status, body) == (200, b"OK")
    status, v = daemon.request("GET", "/v1.41/version")
    assert status == 200 and v["ApiVersion"] == "1.47" and v["Os"] == "linux"


def test_too_new_version_refused(daemon: Daemon) -> None:
    status, body = daemon.request("GET", "/v1.99/version")
    assert status == 400
    assert body["message"] == "client version 1.99 is too new. Maximum supported API version is 1.47"


def test_docker_cli_talks_to_wharfd(daemon: Daemon) -> None:
    out = subprocess.run(
        ["docker", "version", "--format", "{{json .Server}}"],
        env=daemon.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ApiVersion"] == "1.47"
    info = subprocess.run(
        ["docker", "info", "--format", "{{.CgroupDriver}} {{.Containers}}"],
        env=daemon.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert info.returncode == 0, info.stderr
    assert info.stdout.split() == ["cgroupfs", "0"]


def test_unknown_container_is_404_with_dockers_message(daemon: Daemon) -> None:
    status, body = daemon.request("GET", "/containers/nosuch/json")
    assert status == 404 and body["message"] == "No such container: nosuch"
    out = subprocess.run(
        ["docker", "container", "inspect", "nosuch"], env=daemon.env(), capture_output=True, text=True
    )
    assert out.returncode == 1
    assert "No such object: nosuch" in out.stderr or "No such container: nosuch" in out.stderr


def test_malformed_json_is_400_and_daemon_keeps_serving(daemon: Daemon) -> None:
    from tests.daemon import UnixHTTPConnection

    conn = UnixHTTPConnection(daemon.sock)
    conn.request(
        "POST", "/containers/create", body=b"{not json", headers={"Content-Type": "application/json"}
    )
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 400 and body["message"].startswith("invalid JSON")
    status, body = daemon.request("POST", "/containers/create", {"Image": "x", "Env": "A=1"})
    assert status == 400 and "cannot unmarshal string" in body["message"]
    assert daemon.request("GET", "/_ping")[0] == 200
