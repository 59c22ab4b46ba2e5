"""Bad input to wharfd: each a clear error with Docker's status and wording, nothing half-created,
and the daemon keeps serving."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from tests.daemon import Daemon, UnixHTTPConnection
from tests.integration.engine.conftest import IMAGE

pytestmark = pytest.mark.root

BB = {"Image": IMAGE, "Cmd": ["true"]}


def hc(**kw: Any) -> dict[str, Any]:
    return {**BB, "HostConfig": kw}


CASES: list[tuple[str, Any, int, str]] = [
    ("wrong type", {**BB, "Cmd": 5}, 400, "cannot unmarshal number into Go struct field"),
    ("wrong type in HostConfig", hc(Memory="lots"), 400, "cannot unmarshal string"),
    ("not an object", [1, 2], 400, "cannot unmarshal array into Go value of type object"),
    ("no image", {"Cmd": ["true"]}, 400, "config cannot be empty in order to create a container"),
    ("missing image", {"Image": "nosuch:1"}, 404, "No such image: nosuch:1"),
    ("memory too small", hc(Memory=1000), 400, "Minimum memory limit allowed is 6MB"),
    ("swap below memory", hc(Memory=64 << 20, MemorySwap=8 << 20), 400, "Minimum memoryswap limit"),
    ("too many cpus", hc(NanoCpus=10**15), 400, "Range of CPUs is from 0.01 to"),
    ("cpus and period", hc(NanoCpus=10**9, CpuPeriod=100000), 400, "Nano CPUs and CPU Period cannot both"),
    ("unknown restart policy", hc(RestartPolicy={"Name": "sometimes"}), 400, "unknown policy 'sometimes'"),
    ("rm with restart", hc(AutoRemove=True, RestartPolicy={"Name": "always"}), 400, "'AutoRemove'"),
    ("unknown capability", hc(CapAdd=["BOGUS"]), 400, 'invalid CapAdd: unknown capability: "CAP_BOGUS"'),
    ("bad security opt", hc(SecurityOpt=["bogus"]), 400, 'invalid --security-opt 1: "bogus"'),
    ("unknown security opt", hc(SecurityOpt=["bogus=1"]), 400, 'invalid --security-opt 2: "bogus=1"'),
    ("bad stop signal", {**BB, "StopSignal": "SIGBOGUS"}, 400, "Invalid signal: SIGBOGUS"),
    ("health interval", {**BB, "Healthcheck": {"Interval": 5}}, 400, "Interval in Healthcheck"),
    ("health retries", {**BB, "Healthcheck": {"Retries": -1}}, 400, "cannot be negative"),
    ("unknown network", hc(NetworkMode="nosuchnet"), 400, "network nosuchnet not found"),
    ("hostname with container net", {**hc(NetworkMode="container:x"), "Hostname": "h"}, 400,
     "conflicting options: hostname and the network mode"),
]  # fmt: skip


def _post(d: Daemon, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    conn = UnixHTTPConnection(d.sock)
    try:
        conn.request("POST", path, body=raw, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def _snapshots(d: Daemon) -> set[str]:
    found: set[str] = set()
    for top, dirs, _ in os.walk(f"{d.data_root}/images/snapshots"):
        found |= {os.path.join(top, x) for x in dirs}
        if top.count("/") - d.data_root.count("/") > 4:
            dirs.clear()
    return found


@pytest.mark.parametrize("what,body,status,message", CASES, ids=[c[0] for c in CASES])
def test_create_refuses(wharfd: Daemon, what: str, body: Any, status: int, message: str) -> None:
    before = _snapshots(wharfd)
    got, answer = _post(wharfd, "/v1.47/containers/create?name=bad", json.dumps(body).encode())
    assert (got, message in answer.get("message", "")) == (status, True), answer
    assert wharfd.request("GET", "/containers/json?all=1")[1] == []
    assert _snapshots(wharfd) == before  # nothing half-created
    assert wharfd.request("GET", "/_ping")[0] == 200


def test_unknown_fields_are_ignored_as_docker_does(wharfd: Daemon) -> None:
    status, answer = _post(
        wharfd, "/containers/create?name=extra", json.dumps({**BB, "NoSuchField": 1}).encode()
    )
    assert status == 201, answer
    assert wharfd.request("DELETE", "/containers/extra")[0] == 204


def test_huge_body_is_413_and_daemon_keeps_serving(wharfd: Daemon) -> None:
    raw = b'{"Image": "' + b"a" * (40 << 20) + b'"}'
    status, answer = _post(wharfd, "/containers/create", raw)
    assert status == 413 and "request body too large" in answer["message"]
    assert wharfd.request("GET", "/_ping")[0] == 200
    assert wharfd.request("GET", "/containers/json?all=1")[1] == []


@pytest.mark.parametrize(
    "name", ["a/b", "-lead", "sp ace", "x" * 300 + "/"], ids=["slash", "leading-dash", "space", "long-slash"]
)
def test_invalid_names(wharfd: Daemon, name: str) -> None:
    import urllib.parse

    status, answer = _post(
        wharfd, f"/containers/create?name={urllib.parse.quote(name)}", json.dumps(BB).encode()
    )
    assert status == 400 and "Invalid container name" in answer["message"]
    assert wharfd.request("GET", "/containers/json?all=1")[1] == []


def test_bad_query_values(wharfd: Daemon) -> None:
    status, body = _post(wharfd, "/containers/create?name=qq", json.dumps(BB).encode())
    assert status == 201, body
    try:
        status, answer = _post(wharfd, "/containers/qq/stop?t=soon", b"")
        assert status == 400 and "not an integer" in answer["message"]
        status, answer = _post(wharfd, "/containers/qq/wait?condition=eventually", b"")
        assert status == 400 and "invalid condition" in answer["message"]
        status, answer = _post(wharfd, "/containers/qq/kill?signal=SIGBOGUS", b"")
        assert status in (400, 409) and "signal" in answer["message"].lower()
        status, answer = wharfd.request("GET", "/containers/json?filters=%7Bnot")
        assert status == 400 and "invalid filter" in answer["message"]
    finally:
        wharfd.request("DELETE", "/containers/qq?force=1")
