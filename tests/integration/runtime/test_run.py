"""Real containers through wharf-runtime, checked from inside the container."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from tests.integration.runtime.helpers import Runtime, bundle, spec_for

pytestmark = pytest.mark.root


def run(rt: Runtime, tmp_path: Path, template: str, args: list[str], mutate=None):  # type: ignore[no-untyped-def]
    cid = rt.new_id()
    spec = spec_for(args, cid)
    if mutate:
        mutate(spec)
    b = bundle(tmp_path, spec, template)
    return rt.cmd("run", "--bundle", b, cid)


def test_pid_one_and_hostname(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    r = run(rt, tmp_path, rootfs_template, ["sh", "-c", "echo $$; hostname"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "wharf"]


def test_exit_code_passes_through(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    r = run(rt, tmp_path, rootfs_template, ["sh", "-c", "exit 42"])
    assert r.returncode == 42


def test_signal_exit_is_128_plus(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    # pid 1 ignores signals sent from inside its namespace, so the kill comes from the runtime
    cid = rt.new_id()
    b = bundle(tmp_path, spec_for(["sleep", "60"], cid), rootfs_template)
    proc = subprocess.Popen([rt.binary, "--root", str(rt.root), "run", "--bundle", b, cid])
    try:
        deadline = time.monotonic() + 10
        while rt.cmd("kill", cid, "KILL").returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.wait(timeout=10) == 137
    finally:
        proc.kill()
        proc.wait()


def test_mounts_and_readonly_root(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    script = "grep -E ' /(proc|dev|sys|dev/pts|dev/shm) ' /proc/mounts | cut -d' ' -f2,3; touch /x"
    r = run(rt, tmp_path, rootfs_template, ["sh", "-c", script])
    lines = r.stdout.splitlines()
    assert "/proc proc" in lines and "/dev tmpfs" in lines and "/sys sysfs" in lines
    assert "/dev/pts devpts" in lines and "/dev/shm tmpfs" in lines
    assert "Read-only file system" in r.stderr
    assert r.returncode == 1


def test_capabilities_from_spec(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    r = run(rt, tmp_path, rootfs_template, ["grep", "^Cap", "/proc/self/status"])
    caps = dict(line.split(":\t") for line in r.stdout.splitlines())
    want = (1 << 5) | (1 << 10) | (1 << 29)  # CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE
    assert int(caps["CapEff"], 16) == want
    assert int(caps["CapPrm"], 16) == want
    assert int(caps["CapBnd"], 16) == want
    assert int(caps["CapInh"], 16) == 0


def test_user_and_groups(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    def mutate(spec):  # type: ignore[no-untyped-def]
        spec["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 0o27}

    r = run(
        rt,
        tmp_path,
        rootfs_template,
        ["sh", "-c", "grep -E '^(Uid|Gid|Groups)' /proc/self/status; umask"],
        mutate,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")
    assert out[0].split() == ["Uid:", "1000", "1000", "1000", "1000"]
    assert out[1].split() == ["Gid:", "1001", "1001", "1001", "1001"]
    assert out[2].split() == ["Groups:", "10", "20"]
    assert out[3] == "0027"


def test_rlimits(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    def mutate(spec):  # type: ignore[no-untyped-def]
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}]

    r = run(rt, tmp_path, rootfs_template, ["sh", "-c", "ulimit -n; ulimit -Hn"], mutate)
    assert r.stdout.split() == ["123", "456"]


def test_seccomp_blocks_with_spec_errno(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    def mutate(spec):  # type: ignore[no-untyped-def]
        spec["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}],
        }

    r = run(
        rt,
        tmp_path,
        rootfs_template,
        ["sh", "-c", "mkdir /tmp/x; echo rc=$?; grep Seccomp: /proc/self/status"],
        mutate,
    )
    assert "Function not implemented" in r.stderr
    assert "rc=1" in r.stdout
    assert "Seccomp:\t2" in r.stdout


def test_memory_hog_is_oom_killed(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    def mutate(spec):  # type: ignore[no-untyped-def]
        spec["linux"]["resources"]["memory"] = {"limit": 32 * 1024 * 1024, "swap": 32 * 1024 * 1024}

    # dd reads into one 64 MiB buffer: its pages fault in until the limit stops it. (Not a pipe: a
    # writer still filling it after its reader was killed could make the next OOM victim the shell.)
    r = run(
        rt,
        tmp_path,
        rootfs_template,
        ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1 2>/dev/null; echo rc=$?"],
        mutate,
    )
    assert "rc=137" in r.stdout, (r.stdout, r.stderr)


def test_fork_bomb_stops_at_pids_max(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    def mutate(spec):  # type: ignore[no-untyped-def]
        spec["linux"]["resources"]["pids"] = {"limit": 8}

    # an inner shell forks until the kernel refuses (ash then gives up); the outer one reads
    # the counters with builtins only, since nothing more can fork while the sleeps live
    script = (
        "sh -c 'for i in $(seq 1 50); do sleep 5 & done' 2>/dev/null;"
        " d=/sys/fs/cgroup/pids; read cur < $d/pids.current; read max < $d/pids.max;"
        " read ev < $d/pids.events; echo $cur $max $ev"
    )
    r = run(rt, tmp_path, rootfs_template, ["sh", "-c", script], mutate)
    cur, pmax, _, refused = r.stdout.split()
    assert pmax == "8" and int(cur) <= 8
    assert int(refused) > 0, r.stdout  # forks past the limit failed


def test_hooks_called_in_order_with_state(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    logdir = tmp_path / "hooklog"
    logdir.mkdir()
    hook = logdir / "hook.sh"
    # a slow startContainer hook: poststart must still come after it (after the process is executed)
    hook.write_text(
        "#!/bin/sh\nread -r state\n"
        '[ "$1" = startContainer ] && sleep 0.3\necho "$1 $state" >> "$(dirname "$0")/log"\n'
    )
    hook.chmod(0o755)
    phases = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]

    def mutate(spec):  # type: ignore[no-untyped-def]
        spec["mounts"].append(
            {"destination": str(logdir), "type": "bind", "source": str(logdir), "options": ["rbind", "rw"]}
        )
        spec["hooks"] = {p: [{"path": str(hook), "args": ["hook.sh", p]}] for p in phases}

    r = run(rt, tmp_path, rootfs_template, ["true"], mutate)
    assert r.returncode == 0, r.stderr
    lines = (logdir / "log").read_text().splitlines()
    assert [line.split()[0] for line in lines] == phases
    assert '"status":"created"' in lines[0].replace(" ", "")
    assert '"status":"stopped"' in lines[-1].replace(" ", "")


def test_create_start_state_kill_delete(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    import json

    cid = rt.new_id()
    b = bundle(tmp_path, spec_for(["sleep", "100"], cid), rootfs_template)
    pidfile = tmp_path / "pid"
    r = rt.cmd("create", "--bundle", b, "--pid-file", str(pidfile), cid)
    assert r.returncode == 0, r.stderr
    st = json.loads(rt.cmd("state", cid, check=True).stdout)
    assert st["status"] == "created" and st["pid"] == int(pidfile.read_text())
    rt.cmd("start", cid, check=True)
    assert json.loads(rt.cmd("state", cid).stdout)["status"] == "running"
    r = rt.cmd("delete", cid)
    assert r.returncode == 1 and "not stopped" in r.stderr
    rt.cmd("pause", cid, check=True)
    assert json.loads(rt.cmd("state", cid).stdout)["status"] == "paused"
    rt.cmd("resume", cid, check=True)
    ps = json.loads(rt.cmd("ps", "--format", "json", cid, check=True).stdout)
    assert st["pid"] in ps
    rt.cmd("kill", cid, "KILL", check=True)
    for _ in range(200):
        if json.loads(rt.cmd("state", cid).stdout)["status"] == "stopped":
            break
        time.sleep(0.01)
    assert json.loads(rt.cmd("state", cid).stdout)["status"] == "stopped"
    rt.cmd("delete", cid, check=True)
    assert rt.cmd("state", cid).returncode == 1
    assert not os.path.exists(rt.root / cid)


def test_exec_joins_container(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    cid = rt.new_id()
    b = bundle(tmp_path, spec_for(["sleep", "100"], cid), rootfs_template)
    rt.cmd("run", "-d", "--bundle", b, cid, check=True)
    r = rt.cmd(
        "exec", "--env", "FOO=bar", cid, "sh", "-c", "hostname; echo $FOO; ps -o pid,comm | grep sleep"
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.split()
    assert out[:2] == ["wharf", "bar"] and out[2:4] == ["1", "sleep"]
    r = rt.cmd("exec", cid, "sh", "-c", "exit 7")
    assert r.returncode == 7
    r = rt.cmd("exec", cid, "nonexistent")
    assert r.returncode == 1 and 'exec: "nonexistent": executable file not found in $PATH' in r.stderr
    rt.cmd("delete", "--force", cid, check=True)


def test_lsm_fields_ignored_without_the_lsm(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    if os.path.isdir("/sys/fs/selinux") or os.path.exists("/sys/module/apparmor/parameters/enabled"):
        pytest.skip("this kernel has an LSM: the labels would be applied")

    def mutate(spec):  # type: ignore[no-untyped-def]
        spec["process"]["apparmorProfile"] = "docker-default"
        spec["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
        spec["linux"]["mountLabel"] = "system_u:object_r:container_file_t:s0"

    r = run(rt, tmp_path, rootfs_template, ["echo", "ran"], mutate)
    assert r.returncode == 0 and r.stdout == "ran\n", r.stderr


def test_personality_linux32(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("LINUX32 is checked on x86_64")

    def mutate(spec):  # type: ignore[no-untyped-def]
        spec["linux"]["personality"] = {"domain": "LINUX32"}

    r = run(rt, tmp_path, rootfs_template, ["uname", "-m"], mutate)
    assert r.returncode == 0 and r.stdout.strip() == "i686", (r.stdout, r.stderr)


def test_start_returns_once_the_process_is_executed(
    rt: Runtime, tmp_path: Path, rootfs_template: str
) -> None:
    """`start` waits for the exec fifo's last reader, the init's close-on-exec fd: that fd must
    stay open through the fd sweep before execve (a seccomp filter to load makes the gap wide)."""
    from wharf.engine import seccomp_profile, specgen
    from wharf.runtime import container as rt_lib

    for _ in range(5):
        cid = rt.new_id()
        spec = spec_for(["sleep", "100"], cid)
        spec["linux"]["seccomp"] = seccomp_profile.to_oci(
            seccomp_profile.default_profile(), specgen.DEFAULT_CAPS
        )
        b = bundle(tmp_path / cid, spec, rootfs_template)
        pidfile = tmp_path / f"{cid}.pid"
        rt.cmd("create", "--bundle", b, "--pid-file", str(pidfile), cid, check=True)
        try:
            pid = int(pidfile.read_text())
            rt_lib.start(str(rt.root), cid)  # in-process, as the engine starts containers
            assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"
        finally:
            rt.cmd("delete", "--force", cid)
