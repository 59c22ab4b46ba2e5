"""What the OCI runtime spec says a runtime MUST refuse, refused by `create`.

Each refused case is a bundle with one bad value: `wharf-runtime create` exits 1 naming it and
leaves nothing behind (no state directory, cgroup or mount), and runc, given the same bundle,
refuses it too. Before these checks the runtime joined a namespace of the wrong type (setns(fd,
0) joins whatever the file is: a "network" entry pointing at an ipc namespace left the
container in the host's network namespace), wrote sysctls the container's namespaces do not
own into the host's, and accepted capability sets and ids that made the container's init die
after `start`. The bundles are built so that a runtime which accepts them anyway changes
nothing on the host: sysctls are given the host's current values, and a bundle that joins a
host namespace sets no hostname.

Capability names the runtime cannot map are not refused: the runtime spec (1.1) says they MUST
be logged as a warning and the runtime SHOULD NOT fail, and runc warns and ignores them. What
matters is that the container runs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TEST_CGROUP_PARENT, mounts_under
from tests.daemon import Daemon
from tests.integration.engine.conftest import IMAGE, docker
from tests.integration.runtime.helpers import (
    Runtime,
    bundle,
    remove_runc_parent_cgroups,
    spec_for,
)

pytestmark = pytest.mark.root

RUNC = shutil.which("runc")
Spec = dict[str, Any]
ME = os.getpid()  # the runtimes run in this process's namespaces: /proc/ME/ns/* are the host's


@pytest.fixture
def runc(tmp_path: Path) -> Iterator[Runtime | None]:
    if RUNC is None:
        yield None
        return
    r = Runtime(RUNC, tmp_path / "runc-state")
    try:
        yield r
    finally:
        r.cleanup()
        remove_runc_parent_cgroups()


@pytest.fixture
def other_netns() -> Iterator[str]:
    """A network namespace that is not the host's, held by a sleeping process of the test's."""
    proc = subprocess.Popen(["unshare", "--net", "sleep", "120"])
    try:
        path = f"/proc/{proc.pid}/ns/net"
        mine = os.stat(f"/proc/{ME}/ns/net").st_ino
        for _ in range(200):
            if os.path.exists(path) and os.stat(path).st_ino != mine:
                break
            subprocess.run(["sleep", "0.01"])
        yield path
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def host_sysctl(key: str) -> str:
    with open("/proc/sys/" + key.replace(".", "/")) as f:
        return f.read().strip()


def _set(path: str, value: Any) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        node = spec
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value

    return change


def _drop_ns(kind: str) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != kind]

    return change


def _join(kind: str, path: str) -> Callable[[Spec], None]:
    """Join ``path`` as the ``kind`` namespace; no hostname, in case the join lands in the host's uts."""

    def change(spec: Spec) -> None:
        _drop_ns(kind)(spec)
        spec["linux"]["namespaces"].append({"type": kind, "path": path})
        spec.pop("hostname", None)

    return change


def _all(*changes: Callable[[Spec], None]) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        for c in changes:
            c(spec)

    return change


def _caps(**sets: list[str]) -> Callable[[Spec], None]:
    return _set("process.capabilities", sets)


def _userns(spec: Spec) -> None:
    spec["linux"]["namespaces"].append({"type": "user"})
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 100}]
    spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 100}]
    spec["mounts"] = [m for m in spec["mounts"] if m["type"] != "cgroup"]


def _sysctl(key: str, value: str | None = None) -> Callable[[Spec], None]:
    """``key`` set to the host's current value (or ``value``)."""

    def change(spec: Spec) -> None:
        spec["linux"]["sysctl"] = {key: value if value is not None else host_sysctl(key.replace("/", "."))}

    return change


@dataclass
class Refused:
    change: Callable[[Spec], None]
    message: str
    runc_differs: str = ""  # where runc 1.1 (Debian's) accepts the bundle: why wharf refuses it


# (spec type, a host namespace of another type, that type's spec name)
WRONG_TYPES = [
    ("cgroup", "uts", "uts"),
    ("ipc", "net", "network"),
    ("mount", "uts", "uts"),
    ("network", "ipc", "ipc"),
    ("pid", "uts", "uts"),
    ("user", "uts", "uts"),
    ("uts", "ipc", "ipc"),
]

REFUSED: dict[str, Refused] = {
    **{
        f"{kind}-namespace-path-of-type-{other}": Refused(
            _join(kind, f"/proc/{ME}/ns/{proc_name}"),
            f'namespace path "/proc/{ME}/ns/{proc_name}" is of type {other}, not {kind}',
        )
        for kind, proc_name, other in WRONG_TYPES
    },
    "namespace-path-not-a-namespace": Refused(
        _join("network", "/proc/self/status"), 'namespace path "/proc/self/status" is not a namespace file'
    ),
    "unknown-rlimit": Refused(
        _set("process.rlimits", [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]),
        "process.rlimits[0].type: wrong rlimit value: RLIMIT_FOO",
    ),
    "rlimit-name-in-lower-case": Refused(
        _set("process.rlimits", [{"type": "rlimit_nofile", "soft": 1, "hard": 1}]),
        "wrong rlimit value: rlimit_nofile",
    ),
    "rlimit-soft-above-hard": Refused(
        _set("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 200, "hard": 100}]),
        "RLIMIT_NOFILE: soft limit 200 is above hard limit 100",
    ),
    "effective-capability-not-permitted": Refused(
        _caps(
            bounding=["CAP_CHOWN", "CAP_KILL"], effective=["CAP_CHOWN", "CAP_KILL"], permitted=["CAP_KILL"]
        ),
        "process.capabilities: unable to apply caps: effective CAP_CHOWN not in the permitted set",
    ),
    "inheritable-capability-outside-bounding": Refused(
        _caps(
            bounding=["CAP_KILL"], effective=["CAP_KILL"], permitted=["CAP_KILL"], inheritable=["CAP_CHOWN"]
        ),
        "process.capabilities: unable to apply caps: inheritable CAP_CHOWN not in the bounding set",
    ),
    "uid-unmapped-in-user-namespace": Refused(
        _all(_userns, _set("process.user", {"uid": 500, "gid": 0})),
        "process.user: cannot set uid 500: it is not mapped in the user namespace",
    ),
    "gid-unmapped-in-user-namespace": Refused(
        _all(_userns, _set("process.user", {"uid": 0, "gid": 0, "additionalGids": [5, 700]})),
        "process.user: cannot set gid 700: it is not mapped in the user namespace",
    ),
    "sysctl-of-no-namespace": Refused(
        _sysctl("vm.swappiness"),
        'linux.sysctl: sysctl "vm.swappiness" is not in a separate kernel namespace',
    ),
    "ipc-sysctl-in-host-ipc-namespace": Refused(
        _all(_drop_ns("ipc"), _sysctl("kernel.shmmax")),
        'linux.sysctl: sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace',
    ),
    "mqueue-sysctl-in-host-ipc-namespace": Refused(
        _all(_drop_ns("ipc"), _sysctl("fs.mqueue.msg_max")),
        'sysctl "fs.mqueue.msg_max" is not allowed in the hosts ipc namespace',
    ),
    "net-sysctl-without-network-namespace": Refused(
        _all(_drop_ns("network"), _sysctl("net.ipv4.ip_default_ttl")),
        'linux.sysctl: sysctl "net.ipv4.ip_default_ttl" not allowed in host network namespace',
    ),
    "net-sysctl-slashes-in-joined-host-netns": Refused(
        _all(_join("network", f"/proc/{ME}/ns/net"), _sysctl("net/ipv4/ip_default_ttl")),
        'linux.sysctl: sysctl "net.ipv4.ip_default_ttl" not allowed in host network namespace',
    ),
    "hostname-sysctl": Refused(
        _sysctl("kernel.hostname", "other"),
        'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field',
    ),
    "hostname-without-uts-namespace": Refused(
        _drop_ns("uts"), "hostname: unable to set hostname without a private UTS namespace"
    ),
    "masked-paths-without-mount-namespace": Refused(
        _drop_ns("mount"),
        "linux.maskedPaths: unable to restrict sys entries without a private MNT namespace",
    ),
    "unknown-seccomp-action": Refused(
        _set("linux.seccomp", {"defaultAction": "SCMP_ACT_BOGUS"}), "unknown action 'SCMP_ACT_BOGUS'"
    ),
    "unknown-seccomp-architecture": Refused(
        _set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_FOO"]}),
        "unknown architecture 'SCMP_ARCH_FOO'",
    ),
    "duplicate-namespace": Refused(
        lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "duplicate namespace 'pid'"
    ),
    "unknown-namespace-type": Refused(
        lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), "unknown namespace type 'bogus'"
    ),
    "relative-cwd": Refused(_set("process.cwd", "tmp"), "process.cwd: must be an absolute path"),
    "no-root-path": Refused(_set("root", {}), "root.path: required field is missing"),
    "user-namespace-without-mappings": Refused(
        lambda s: s["linux"]["namespaces"].append({"type": "user"}),
        "a new user namespace needs uidMappings and gidMappings",
    ),
    "unknown-personality": Refused(
        _set("linux.personality", {"domain": "FOO"}),
        "linux.personality.domain: unknown domain 'FOO'",
        runc_differs="runc 1.1 does not know linux.personality and ignores it",
    ),
    "no-oci-version": Refused(
        lambda s: s.pop("ociVersion"),
        "ociVersion: required field is missing",
        runc_differs="runc does not read ociVersion; the spec makes it REQUIRED",
    ),
    "relative-mount-destination": Refused(
        lambda s: s["mounts"].append({"destination": "rel", "type": "tmpfs", "source": "tmpfs"}),
        "mounts[7].destination: must be an absolute path",
        runc_differs="runc 1.1 only warns (runc 1.2 refuses); the spec says the path MUST be absolute",
    ),
    "id-mappings-without-user-namespace": Refused(
        _set("linux.uidMappings", [{"containerID": 0, "hostID": 100000, "size": 100}]),
        "id mappings need a new user namespace",
        runc_differs="runc 1.1 drops the mappings silently",
    ),
}


def _cgroup_leftovers(cid: str) -> list[str]:
    found = []
    for hier in os.listdir("/sys/fs/cgroup"):
        d = f"/sys/fs/cgroup/{hier}/{TEST_CGROUP_PARENT}/{cid}"
        if os.path.isdir(d):
            found.append(d)
    return found


def _assert_nothing_left(rt: Runtime, cid: str, bundle_dir: str) -> None:
    assert not (rt.root / cid).exists(), "state directory left behind"
    assert not _cgroup_leftovers(cid), "cgroup left behind"
    assert not mounts_under(bundle_dir), "mount left behind"
    assert cid not in rt.cmd("list", "-q").stdout.split()


@pytest.mark.parametrize("name", list(REFUSED))
def test_create_refuses(
    rt: Runtime, runc: Runtime | None, tmp_path: Path, rootfs_template: str, name: str
) -> None:
    case = REFUSED[name]
    cid = rt.new_id()
    spec = spec_for(["true"], cid)
    case.change(spec)
    b = bundle(tmp_path, spec, rootfs_template)
    r = rt.cmd("create", "--bundle", b, cid)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert case.message in r.stderr, r.stderr
    _assert_nothing_left(rt, cid, b)
    if runc is None:
        return
    rcid = runc.new_id()
    r = runc.cmd("create", "--bundle", b, rcid)
    if case.runc_differs:
        assert r.returncode == 0, f"runc refuses it now: drop runc_differs ({r.stderr})"
    else:
        assert r.returncode != 0, f"runc accepts what wharf refuses: {r.stderr}"


@dataclass
class Accepted:
    change: Callable[[Spec], None]
    script: str
    expect: str  # what the script prints
    warning: str = ""  # what create warns of on stderr


def _accepted(netns: str) -> dict[str, Accepted]:
    return {
        "unknown-capability-names-ignored": Accepted(
            _caps(
                **{
                    k: ["CAP_KILL", "CAP_FOO"]
                    for k in ("bounding", "effective", "permitted", "inheritable", "ambient")
                }
            ),
            "grep -e CapEff -e CapAmb /proc/self/status",
            "CapEff:\t0000000000000020\nCapAmb:\t0000000000000020\n",
            warning="ignoring unknown or unavailable capabilities: [CAP_FOO]",
        ),
        "permitted-capability-outside-bounding": Accepted(
            _caps(bounding=["CAP_KILL"], effective=["CAP_CHOWN"], permitted=["CAP_CHOWN"]),
            "grep -e CapEff -e CapBnd /proc/self/status",
            # execve as uid 1000 keeps no permitted capability that is not ambient
            "CapEff:\t0000000000000000\nCapBnd:\t0000000000000020\n",
        ),
        "namespaced-sysctls-in-own-namespaces": Accepted(
            _set(
                "linux.sysctl",
                {"kernel.shmmax": "4096000", "fs.mqueue.msg_max": "20", "kernel.domainname": "spec.test"},
            ),
            "cat /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max /proc/sys/kernel/domainname",
            "4096000\n20\nspec.test\n",
        ),
        "net-sysctl-in-joined-netns-of-its-own": Accepted(
            _all(_join("network", netns), _sysctl("net.ipv4.ip_default_ttl", "42")),
            "cat /proc/sys/net/ipv4/ip_default_ttl; readlink /proc/self/ns/net",
            f"42\n{os.readlink(netns)}\n",
        ),
    }


ACCEPTED = [
    "unknown-capability-names-ignored",
    "permitted-capability-outside-bounding",
    "namespaced-sysctls-in-own-namespaces",
    "net-sysctl-in-joined-netns-of-its-own",
]


@pytest.mark.parametrize("name", ACCEPTED)
def test_create_accepts_and_the_container_runs(
    rt: Runtime, runc: Runtime | None, tmp_path: Path, rootfs_template: str, other_netns: str, name: str
) -> None:
    case = _accepted(other_netns)[name]
    for runtime in (rt, runc):
        if runtime is None:
            continue
        cid = runtime.new_id()
        spec = spec_for(["sh", "-c", case.script], cid)
        spec["process"]["user"] = {"uid": 1000, "gid": 1000}
        case.change(spec)
        b = bundle(tmp_path, spec, rootfs_template)
        r = runtime.cmd("create", "--bundle", b, cid)
        assert r.returncode == 0, (runtime.binary, r.stderr)
        assert case.warning in r.stderr, r.stderr
        if runtime is rt and not case.warning:
            assert r.stderr == ""
        runtime.cmd("delete", "--force", cid, check=True)
        cid = runtime.new_id()
        r = runtime.cmd("run", "--bundle", b, cid)
        assert (r.returncode, r.stdout) == (0, case.expect), (runtime.binary, r.stderr)
        assert host_sysctl("kernel.domainname") != "spec.test"


def test_docker_run_reports_the_runtime_refusal(wharfd: Daemon) -> None:
    """dockerd's answer to an OCI runtime create failure: the CLI prints the runtime's reason
    and exits 125; the container stays "created" with the error and exit code 128 recorded."""
    name = "refused-sysctl"
    shmmax = host_sysctl("kernel.shmmax")  # the host's own value: nothing changes if it is written
    try:
        sysctl = f"kernel.shmmax={shmmax}"
        r = docker(
            wharfd, "run", "--name", name, "--ipc", "host", "--sysctl", sysctl, IMAGE, "true", check=False
        )
        assert r.returncode == 125, (r.stdout, r.stderr)
        reason = 'linux.sysctl: sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace'
        assert f"docker: Error response from daemon: wharf-runtime: {reason}\n" in r.stderr, r.stderr
        state = json.loads(docker(wharfd, "inspect", "--format", "{{json .State}}", name).stdout)
        assert state["Status"] == "created", state
        assert state["ExitCode"] == 128, state
        assert "is not allowed in the hosts ipc namespace" in state["Error"], state
    finally:
        docker(wharfd, "rm", "-f", name, check=False)
    assert host_sysctl("kernel.shmmax") == shmmax


def _has_cap_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        bnd = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return bool(bnd & (1 << 24))


@pytest.mark.skipif(_has_cap_sys_resource(), reason="the host may lower oom_score_adj")
def test_an_oom_score_adj_the_kernel_refuses_is_runcs_error(wharfd: Daemon) -> None:
    """Lowering oom_score_adj needs CAP_SYS_RESOURCE, which this host lacks: runc's words (and,
    as dockerd counts a "permission denied", exit 126), not a Python traceback's."""
    r = docker(wharfd, "run", "--rm", "--oom-score-adj", "-500", IMAGE, "true", check=False)
    assert r.returncode == 126, r.stderr
    assert "wharf-runtime: write /proc/self/oom_score_adj: permission denied" in r.stderr
    assert "PermissionError" not in r.stderr
    r = docker(wharfd, "run", "--rm", "--oom-score-adj", "500", IMAGE, "cat", "/proc/self/oom_score_adj")
    assert r.stdout == "500\n"
