"""The same bundle, run by runc (Debian's package) and by wharf-runtime, must look the same from inside.

Each case changes one part of config.json and prints what a process in the container sees of
it. Both runtimes must exit with the same status and print the same thing, and what they print
must show that the feature took effect (``expect``), so two runtimes that both ignore a field
cannot pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.integration.runtime.helpers import (
    Runtime,
    bundle,
    remove_runc_parent_cgroups,
    runtime_path,
    spec_for,
)

pytestmark = pytest.mark.root

RUNC = shutil.which("runc")
Spec = dict[str, Any]
HOST_DATA = "HOSTDATA"  # replaced by a host directory of the test's own


@dataclass
class Case:
    script: str
    change: Callable[[Spec], None] = lambda spec: None
    expect: str = ""  # a regular expression the output must match (re.search, multiline)
    rc: int = 0
    userns: bool = False
    # where wharf deliberately differs from runc 1.1 (Debian's): why; then only ``expect`` is checked
    runc_differs: str = ""


def _writable(spec: Spec) -> None:
    spec["root"]["readonly"] = False


def _set(path: str, value: Any) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        node = spec
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value

    return change


def _both(*changes: Callable[[Spec], None]) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        for c in changes:
            c(spec)

    return change


def _mount(m: dict[str, Any]) -> Callable[[Spec], None]:
    return lambda spec: spec["mounts"].append(m)


def _caps(spec: Spec) -> None:
    spec["process"]["user"] = {"uid": 1000, "gid": 1000}
    spec["process"]["capabilities"] = {
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"],
        "effective": ["CAP_KILL", "CAP_NET_RAW"],
        "permitted": ["CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
        "ambient": ["CAP_NET_RAW"],
    }


def _seccomp(spec: Spec) -> None:
    _writable(spec)
    spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {
                "names": ["chmod", "fchmodat"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": 1,
                "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}],
            },
        ],
    }


def _userns(spec: Spec) -> None:
    spec["linux"]["namespaces"].append({"type": "user"})
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    # sysfs cannot be mounted in a user namespace without a new network namespace of its own
    # (we have one) but cgroup v1 hierarchies can only be bind-mounted: drop the cgroup mount
    spec["mounts"] = [m for m in spec["mounts"] if m["type"] != "cgroup"]


def _drop_ns(spec: Spec, kind: str) -> None:
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != kind]


def _resources(res: dict[str, Any]) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        spec["linux"]["resources"].update(res)

    return change


def _device(allow: bool) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        spec["linux"]["devices"] = [
            {"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237, "fileMode": 0o600}
        ]
        if allow:
            spec["linux"]["resources"]["devices"].append(
                {"allow": True, "type": "c", "major": 10, "minor": 237, "access": "rw"}
            )

    return change


CG = "/sys/fs/cgroup"

CASES: dict[str, Case] = {
    "pid-1": Case("echo $$", expect=r"^1$"),
    "exit-code": Case("exit 42", rc=42),
    # pid 1 of a pid namespace cannot be killed from inside it: run this one without a new one
    "signal-exit": Case("kill -9 $$", lambda s: _drop_ns(s, "pid"), rc=137),
    "hostname": Case("hostname", _set("hostname", "cmp-host"), r"^cmp-host$"),
    "domainname": Case(
        "cat /proc/sys/kernel/domainname",
        _set("domainname", "cmp.example"),
        r"^cmp\.example$",
        runc_differs="runc 1.1 ignores the spec's domainname (runc 1.2 sets it, as wharf does)",
    ),
    "env": Case(
        'echo "$A|$B"; env | sort | grep -v "^PWD\\|^SHLVL\\|^_"',
        lambda s: s["process"]["env"].extend(["A=1", "B=two words"]),
        r"^1\|two words$",
    ),
    "cwd": Case("pwd", _set("process.cwd", "/tmp/made/by/runtime"), r"^/tmp/made/by/runtime$"),
    "user-groups": Case(
        "id -u; id -g; id -G",
        _set("process.user", {"uid": 1000, "gid": 1001, "additionalGids": [5, 1002]}),
        r"^1000\n1001\n1001 5 1002$",
    ),
    "umask": Case("umask", _set("process.user", {"uid": 0, "gid": 0, "umask": 0o027}), r"^0027$"),
    "five-capability-sets": Case("grep ^Cap /proc/self/status", _caps, r"CapAmb:\s+0+2000$"),
    "no-new-privileges": Case("grep NoNewPrivs /proc/self/status", expect=r"NoNewPrivs:\s+1"),
    "new-privileges-allowed": Case(
        "grep NoNewPrivs /proc/self/status",
        _set("process.noNewPrivileges", False),
        r"NoNewPrivs:\s+0",
    ),
    "rlimits": Case(
        "grep -e 'open files' -e 'core file' /proc/self/limits",
        _set(
            "process.rlimits",
            [
                {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
            ],
        ),
        r"open files\s+100\s+200",
    ),
    "oom-score-adj": Case("cat /proc/self/oom_score_adj", _set("process.oomScoreAdj", 500), r"^500$"),
    "readonly-root": Case("touch /newfile 2>/dev/null; echo $?", expect=r"^1$"),
    "writable-root": Case("touch /newfile; echo $?", _writable, r"^0$"),
    "masked-paths": Case(
        "wc -c < /proc/timer_list; wc -c < /proc/keys; ls /proc/acpi | wc -l; touch /proc/acpi/x; echo $?",
        expect=r"^0\n0\n0\n1$",
    ),
    "readonly-paths": Case(
        "echo x 2>/dev/null > /proc/sys/kernel/domainname; echo $?; grep ' /proc/sys ' /proc/self/mounts",
        expect=r"^1\nproc /proc/sys proc ro,",
    ),
    "ro-bind-mount": Case(
        "cat /data/f; touch /data/g 2>/dev/null; echo $?; grep ' /data ' /proc/self/mounts | cut -d' ' -f4",
        _mount({"destination": "/data", "type": "bind", "source": HOST_DATA, "options": ["rbind", "ro"]}),
        r"^hello\n1\nro,",
    ),
    "tmpfs-options": Case(
        "stat -c %a /scratch; grep ' /scratch ' /proc/self/mounts | cut -d' ' -f3-4",
        _mount(
            {
                "destination": "/scratch",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=0700"],
            }
        ),
        r"^700\ntmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=700",
    ),
    "noexec-mount": Case(
        "cp /bin/busybox /scratch/bb; /scratch/bb true 2>/dev/null; echo $?",
        _mount({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["noexec"]}),
        r"^126$",
    ),
    "mount-table": Case(
        "cut -d' ' -f2-4 /proc/self/mounts",
        expect=r"^/dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666$",
        runc_differs="runc 1.1 leaves the tmpfs under /sys/fs/cgroup read-write although the cgroup"
        " mount asks for ro; wharf makes it read-only like the hierarchies in it",
    ),
    "sysctl": Case(
        "cat /proc/sys/net/ipv4/ip_default_ttl /proc/sys/kernel/msgmax",
        _set("linux.sysctl", {"net.ipv4.ip_default_ttl": "42", "kernel.msgmax": "4096"}),
        r"^42\n4096$",
    ),
    "default-dev": Case(
        "for f in /dev/* /dev/pts/* /dev/shm /dev/mqueue; do stat -c '%n %F %a %u %g %t %T' $f; done;"
        " for l in fd stdin stdout stderr ptmx core; do echo $l $(readlink /dev/$l); done",
        expect=r"^/dev/null character special file 666 0 0 1 3$",
    ),
    # runc's Go threads use up pid numbers before sh runs: compare the process list, not the pids
    "pid-namespace": Case(
        "echo $$; ps -o comm > /dev/shm/ps; tail -n +2 /dev/shm/ps", expect=r"^1\nsh\nps$"
    ),
    "net-namespace": Case("awk 'NR>2 {print $1}' /proc/net/dev", expect=r"^lo:$"),
    "user-namespace": Case(
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u:%g /bin; touch /ok; echo $?",
        _both(_writable, _userns),
        r"^\s*0\s+100000\s+65536\n\s*0\s+100000\s+65536\n0\n0:0\n0$",
        userns=True,
    ),
    "seccomp-errno": Case(
        "mkdir /tmp/d 2>/dev/null; echo $?; touch /tmp/f; chmod 777 /tmp/f 2>/dev/null; echo $?;"
        " chmod 755 /tmp/f; echo $?",
        _seccomp,
        r"^1\n1\n0$",
    ),
    "memory-limit": Case(
        f"cat {CG}/memory/memory.limit_in_bytes",
        _resources({"memory": {"limit": 64 << 20}}),
        rf"^{64 << 20}$",
    ),
    "pids-limit": Case(f"cat {CG}/pids/pids.max", _resources({"pids": {"limit": 37}}), r"^37$"),
    "cpu-quota": Case(
        f"cat {CG}/cpu/cpu.cfs_quota_us {CG}/cpu/cpu.cfs_period_us {CG}/cpu/cpu.shares",
        _resources({"cpu": {"quota": 50000, "period": 100000, "shares": 512}}),
        r"^50000\n100000\n512$",
    ),
    "cpuset": Case(f"cat {CG}/cpuset/cpuset.cpus", _resources({"cpu": {"cpus": "0"}}), r"^0$"),
    "device-allowed": Case(": < /dev/loop-control; echo $?", _device(True), r"^0$"),
    "device-denied": Case("(: < /dev/loop-control) 2>/dev/null; echo $?", _device(False), r"^1$"),
    "cgroup-namespace": Case(
        "grep -v '^0::' /proc/self/cgroup | cut -d: -f3 | sort -u",
        lambda s: s["linux"]["namespaces"].append({"type": "cgroup"}),
        r"^/$",
    ),
    "no-terminal": Case("[ -t 0 ]; echo $?", expect=r"^1$"),
}


@pytest.fixture
def host_data(tmp_path: Path) -> str:
    d = tmp_path / "hostdata"
    d.mkdir()
    (d / "f").write_text("hello\n")
    return str(d)


@pytest.fixture
def runtimes(tmp_path: Path) -> Iterator[dict[str, Runtime]]:
    if RUNC is None:
        pytest.skip("runc is not installed")
    rts = {
        "runc": Runtime(RUNC, tmp_path / "runc-state"),
        "wharf": Runtime(runtime_path(), tmp_path / "wharf"),
    }
    try:
        yield rts
    finally:
        for r in rts.values():
            r.cleanup()
        remove_runc_parent_cgroups()


def _replace(obj: Any, old: str, new: str) -> Any:
    if isinstance(obj, dict):
        return {k: _replace(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_replace(v, old, new) for v in obj]
    return new if obj == old else obj


def _run_case(
    rt: Runtime, case: Case, tmp: Path, template: str, data: str, cleanups: list[str]
) -> tuple[int, str]:
    cid = rt.new_id()
    spec = spec_for(["sh", "-c", case.script], cid)
    case.change(spec)
    spec = _replace(spec, HOST_DATA, data)
    if case.userns:
        # the mapped root must be able to reach its rootfs: a bundle outside pytest's 0700 dirs
        tmp = Path(tempfile.mkdtemp(prefix="wharf-userns-"))
        os.chmod(tmp, 0o711)
        cleanups.append(str(tmp))
    path = bundle(tmp, spec, template)
    if case.userns:
        subprocess.run(["chown", "-R", "-h", "100000:100000", f"{path}/rootfs"], check=True)
    r = rt.cmd("run", "--bundle", path, cid)
    return r.returncode, r.stdout if r.stdout or r.returncode == case.rc else r.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_as_runc(
    name: str, runtimes: dict[str, Runtime], tmp_path: Path, rootfs_template: str, host_data: str
) -> None:
    case = CASES[name]
    cleanups: list[str] = []
    try:
        got = {
            k: _run_case(rt, case, tmp_path, rootfs_template, host_data, cleanups)
            for k, rt in runtimes.items()
        }
    finally:
        for rt in runtimes.values():
            rt.cleanup()
            rt.ids.clear()
        for d in cleanups:
            shutil.rmtree(d, ignore_errors=True)
    if not case.runc_differs:
        assert got["wharf"] == got["runc"]
    rc, out = got["wharf"]
    assert rc == case.rc, out
    assert re.search(case.expect, out.strip(), re.MULTILINE), out
