"""Bad input: a clear error naming the problem, runc's exit code, and nothing left behind
(no state directory, no cgroup, no mount under the bundle)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TEST_CGROUP_PARENT, mounts_under
from tests.integration.runtime.helpers import Runtime, bundle, spec_for

pytestmark = pytest.mark.root

Mutate = Callable[[dict[str, Any]], None]


def _cgroup_leftovers(cid: str) -> list[str]:
    found = []
    for hier in os.listdir("/sys/fs/cgroup"):
        d = f"/sys/fs/cgroup/{hier}/{TEST_CGROUP_PARENT}"
        if os.path.isdir(d):
            found += [f"{d}/{x}" for x in os.listdir(d) if x == cid]
    return found


def _assert_nothing_left(rt: Runtime, cid: str, bundle_dir: str) -> None:
    assert not (rt.root / cid).exists(), "state directory left behind"
    assert not _cgroup_leftovers(cid), "cgroup left behind"
    assert not mounts_under(bundle_dir), "mount left behind"
    listed = rt.cmd("list", "-q")
    assert cid not in listed.stdout.split()


def _set(path: str, value: Any) -> Mutate:
    def mutate(spec: dict[str, Any]) -> None:
        node = spec
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value

    return mutate


CASES = [
    pytest.param(
        _set("linux.namespaces", [{"type": "pid"}, {"type": "mount"}, {"type": "bogus"}]),
        "linux.namespaces[2].type",
        id="unknown-namespace",
    ),
    pytest.param(_set("process.args", ["/no/such/bin"]), "no such file or directory", id="missing-binary"),
    pytest.param(
        _set("process.args", ["nosuchcommand"]),
        'exec: "nosuchcommand": executable file not found in $PATH',
        id="binary-not-in-path",
    ),
    pytest.param(_set("root.path", "does-not-exist"), "does-not-exist", id="missing-rootfs"),
    pytest.param(_set("process.cwd", "rel"), "process.cwd: must be an absolute path", id="relative-cwd"),
    pytest.param(
        _set("linux.cgroupsPath", f"/{TEST_CGROUP_PARENT}/cgroup.procs/x"),
        "cgroup.procs",
        id="cgroup-path-under-a-file",
    ),
    pytest.param(
        _set("linux.resources.cpu", {"cpus": "4096"}),
        "cpuset.cpus",
        id="unwritable-cgroup-value",
    ),
    pytest.param(
        _set("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 10**9, "hard": 10**9}]),
        "RLIMIT_NOFILE",
        id="rlimit-above-hard-limit",
    ),
    pytest.param(
        _set("linux.seccomp", {"defaultAction": "SCMP_ACT_BOGUS"}),
        "SCMP_ACT_BOGUS",
        id="unknown-seccomp-action",
    ),
    pytest.param(
        _set("mounts", [{"destination": "/x", "type": "bind", "source": "/no/such/dir", "options": []}]),
        "/no/such/dir",
        id="missing-bind-source",
    ),
    pytest.param(_set("hostname", 5), "hostname: expected a string", id="wrong-type"),
]


@pytest.mark.parametrize(("mutate", "message"), CASES)
def test_bad_spec_fails_cleanly(
    rt: Runtime, tmp_path: Path, rootfs_template: str, mutate: Mutate, message: str
) -> None:
    cid = rt.new_id()
    spec = spec_for(["true"], cid)
    mutate(spec)
    b = bundle(tmp_path, spec, rootfs_template)
    r = rt.cmd("run", "--bundle", b, cid)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    _assert_nothing_left(rt, cid, b)


def test_config_json_syntax_error(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    cid = rt.new_id()
    b = bundle(tmp_path, spec_for(["true"], cid), rootfs_template)
    Path(b, "config.json").write_text('{"ociVersion": "1.1.0",')
    r = rt.cmd("create", "--bundle", b, cid)
    assert r.returncode == 1
    assert "config.json" in r.stderr
    _assert_nothing_left(rt, cid, b)


def test_missing_config_json(rt: Runtime, tmp_path: Path) -> None:
    cid = rt.new_id()
    r = rt.cmd("create", "--bundle", str(tmp_path), cid)
    assert r.returncode == 1
    assert "config.json" in r.stderr and "no such file or directory" in r.stderr.lower()
    assert not (rt.root / cid).exists()


def test_systemd_cgroup_refused(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    cid = rt.new_id()
    b = bundle(tmp_path, spec_for(["true"], cid), rootfs_template)
    r = rt.cmd("--systemd-cgroup", "run", "--bundle", b, cid)
    assert r.returncode == 1
    assert "systemd" in r.stderr
    _assert_nothing_left(rt, cid, b)


def test_unknown_container_and_duplicate_id(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    r = rt.cmd("kill", "nosuchcontainer", "KILL")
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = rt.cmd("state", "nosuchcontainer")
    assert r.returncode == 1 and "does not exist" in r.stderr
    cid = rt.new_id()
    b = bundle(tmp_path, spec_for(["sleep", "30"], cid), rootfs_template)
    rt.cmd("create", "--bundle", b, cid, check=True)
    r = rt.cmd("create", "--bundle", b, cid)
    assert r.returncode == 1 and "exists" in r.stderr
    r = rt.cmd("kill", cid, "NOSUCHSIGNAL")
    assert r.returncode == 1 and "NOSUCHSIGNAL" in r.stderr
    assert json.loads(rt.cmd("state", cid, check=True).stdout)["status"] == "created"
    rt.cmd("start", cid, check=True)
    r = rt.cmd("delete", cid)  # running: only --force deletes it
    assert r.returncode == 1 and "not stopped" in r.stderr
    assert json.loads(rt.cmd("state", cid, check=True).stdout)["status"] == "running"
    rt.cmd("delete", "--force", cid, check=True)
    _assert_nothing_left(rt, cid, b)
