"""The real docker CLI drives wharfd through a scripted session (the issue's list)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import IMAGE, docker

pytestmark = pytest.mark.root


def test_run_rm_prints_output_and_passes_exit_code(wharfd: Daemon) -> None:
    r = docker(wharfd, "run", "--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert docker(wharfd, "ps", "-aq").stdout == ""


def test_missing_command_is_127(wharfd: Daemon) -> None:
    r = docker(wharfd, "run", "--rm", IMAGE, "nosuchcmd", check=False)
    assert r.returncode == 127, r.stderr
    assert "executable file not found" in r.stderr


def test_detached_lifecycle(wharfd: Daemon) -> None:
    cid = docker(
        wharfd,
        "run",
        "-d",
        "--name",
        "web",
        IMAGE,
        "sh",
        "-c",
        "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done",
    ).stdout.strip()
    try:
        assert len(cid) == 64
        ps = docker(wharfd, "ps", "--format", "{{.Names}} {{.Status}}").stdout
        assert ps.startswith("web Up")
        time.sleep(0.5)
        logs = docker(wharfd, "logs", "web").stdout.splitlines()
        assert logs[:2] == ["tick 0", "tick 1"]
        assert docker(wharfd, "exec", "web", "cat", "/etc/hostname").stdout.strip() == cid[:12]
        r = docker(wharfd, "exec", "web", "sh", "-c", "exit 7", check=False)
        assert r.returncode == 7
        top = docker(wharfd, "top", "web").stdout
        assert "sleep" in top or "sh -c" in top
        stats = docker(
            wharfd, "stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "web"
        ).stdout.split()
        assert stats[0] == "web" and int(stats[1]) >= 1
        inspect = json.loads(docker(wharfd, "inspect", "web").stdout)[0]
        assert inspect["State"]["Running"] is True and inspect["Name"] == "/web"
        assert inspect["Config"]["Image"] == IMAGE
        docker(wharfd, "pause", "web")
        assert docker(wharfd, "inspect", "-f", "{{.State.Status}}", "web").stdout.strip() == "paused"
        docker(wharfd, "unpause", "web")
        t0 = time.time()
        docker(wharfd, "stop", "-t", "1", "web")
        assert time.time() - t0 < 5
        assert (
            docker(wharfd, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web").stdout.split()
            == ["exited", "137"]
            or docker(wharfd, "inspect", "-f", "{{.State.ExitCode}}", "web").stdout.strip() == "143"
        )
        docker(wharfd, "start", "web")
        assert docker(wharfd, "inspect", "-f", "{{.State.Running}}", "web").stdout.strip() == "true"
        docker(wharfd, "restart", "-t", "0", "web")
        assert docker(wharfd, "inspect", "-f", "{{.State.Running}}", "web").stdout.strip() == "true"
    finally:
        docker(wharfd, "rm", "-f", "web", check=False)
    assert "web" not in docker(wharfd, "ps", "-a", "--format", "{{.Names}}").stdout


def test_logs_follow_ends_with_container(wharfd: Daemon) -> None:
    docker(
        wharfd,
        "run",
        "-d",
        "--name",
        "counter",
        IMAGE,
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 0.2; done",
    )
    try:
        r = docker(wharfd, "logs", "-f", "counter", timeout=20)
        assert r.stdout.split() == ["1", "2", "3"]
        w = docker(wharfd, "wait", "counter")
        assert w.stdout.strip() == "0"
    finally:
        docker(wharfd, "rm", "-f", "counter", check=False)


def test_events_show_the_lifecycle(wharfd: Daemon) -> None:
    since = str(int(time.time()) - 1)
    docker(wharfd, "run", "--rm", "--name", "evt", IMAGE, "true")
    until = str(int(time.time()) + 1)
    out = docker(
        wharfd,
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        "container=evt",
        "--format",
        "{{.Action}}",
    ).stdout.split()
    assert out[:3] == ["create", "attach", "start"] or out[:2] == ["create", "start"]
    assert "die" in out and out[-1] == "destroy"


def test_run_it_under_a_pty(wharfd: Daemon) -> None:
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe("docker", ["docker", "run", "-it", "--rm", IMAGE, "sh"], wharfd.env())
    try:
        out = _expect(fd, b"# ", 20)
        os.write(fd, b"echo $((6*7)); tty\r")
        out = _expect(fd, b"/dev/pts/0", 20)
        assert b"42" in out
        os.write(fd, b"exit 5\r")
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 5
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def _expect(fd: int, what: bytes, timeout: float) -> bytes:
    buf = b""
    deadline = time.time() + timeout
    while what not in buf:
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError(f"did not see {what!r} in {buf!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    return buf


def test_attach_sees_output_and_stdin_reaches_container(wharfd: Daemon) -> None:
    cid = docker(
        wharfd, "run", "-d", "-i", "--name", "cat", IMAGE, "sh", "-c", "read x; echo got $x"
    ).stdout.strip()
    try:
        r = subprocess.run(
            ["docker", "attach", "cat"],
            input="hello\n",
            env=wharfd.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.stdout.strip() == "got hello"
        assert docker(wharfd, "wait", cid).stdout.strip() == "0"
    finally:
        docker(wharfd, "rm", "-f", "cat", check=False)


def test_name_conflict_and_bad_requests(wharfd: Daemon) -> None:
    docker(wharfd, "create", "--name", "dup", IMAGE, "true")
    try:
        r = docker(wharfd, "run", "-d", "--name", "dup", IMAGE, "true", check=False)
        assert r.returncode == 125
        assert 'The container name "/dup" is already in use' in r.stderr
        r = docker(wharfd, "run", "--rm", "nosuchimage:1", "true", check=False)
        assert r.returncode == 125
        r = docker(wharfd, "rm", "nosuch", check=False)
        assert r.returncode == 1 and "No such container: nosuch" in r.stderr
        r = docker(wharfd, "run", "--rm", "--name", "bad name", IMAGE, "true", check=False)
        assert r.returncode == 125 and "Invalid container name" in r.stderr
    finally:
        docker(wharfd, "rm", "-f", "dup", check=False)
