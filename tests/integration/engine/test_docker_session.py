"""The real docker CLI, and then our own wharf CLI, drive wharfd through a scripted session (the
issue's list); each test runs once per CLI and expects the same output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
from tests import ptys
from tests.integration.engine.conftest import CLI, IMAGE

pytestmark = pytest.mark.root


def test_run_rm_prints_output_and_passes_exit_code(cli: CLI) -> None:
    r = cli("run", "--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert cli("ps", "-aq").stdout == ""


def test_quick_runs_never_lose_their_output(cli: CLI) -> None:
    """A process that writes and exits at once, 4 clients at a time: the attach is connected to
    the shim before the runtime's start (it used to connect after, and a run printed nothing,
    4% of the time under load)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> str:
        return cli("run", "--rm", IMAGE, "echo", f"hi {i}").stdout

    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(one, range(60)))
    assert [o for i, o in enumerate(outs) if o != f"hi {i}\n"] == []


def test_missing_command_is_127(cli: CLI) -> None:
    r = cli("run", "--rm", IMAGE, "nosuchcmd", check=False)
    assert r.returncode == 127, r.stderr
    assert "executable file not found" in r.stderr
    assert "Error waiting for container" not in r.stderr  # dockerd's wait for removal has no error


def test_detached_lifecycle(cli: CLI) -> None:
    cid = cli(
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
        ps = cli("ps", "--format", "{{.Names}} {{.Status}}").stdout
        assert ps.startswith("web Up")
        time.sleep(0.5)
        logs = cli("logs", "web").stdout.splitlines()
        assert logs[:2] == ["tick 0", "tick 1"]
        assert cli("exec", "web", "cat", "/etc/hostname").stdout.strip() == cid[:12]
        r = cli("exec", "web", "sh", "-c", "exit 7", check=False)
        assert r.returncode == 7
        top = cli("top", "web").stdout
        assert "sleep" in top or "sh -c" in top
        stats = cli("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "web").stdout.split()
        assert stats[0] == "web" and int(stats[1]) >= 1
        inspect = json.loads(cli("inspect", "web").stdout)[0]
        assert inspect["State"]["Running"] is True and inspect["Name"] == "/web"
        assert inspect["Config"]["Image"] == IMAGE
        cli("pause", "web")
        assert cli("inspect", "-f", "{{.State.Status}}", "web").stdout.strip() == "paused"
        cli("unpause", "web")
        t0 = time.time()
        cli("stop", "-t", "1", "web")
        assert time.time() - t0 < 5
        assert (
            cli("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web").stdout.split()
            == ["exited", "137"]
            or cli("inspect", "-f", "{{.State.ExitCode}}", "web").stdout.strip() == "143"
        )
        cli("start", "web")
        assert cli("inspect", "-f", "{{.State.Running}}", "web").stdout.strip() == "true"
        cli("restart", "-t", "0", "web")
        assert cli("inspect", "-f", "{{.State.Running}}", "web").stdout.strip() == "true"
    finally:
        cli("rm", "-f", "web", check=False)
    assert "web" not in cli("ps", "-a", "--format", "{{.Names}}").stdout


def test_logs_follow_ends_with_container(cli: CLI) -> None:
    cli(
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
        r = cli("logs", "-f", "counter", timeout=20)
        assert r.stdout.split() == ["1", "2", "3"]
        w = cli("wait", "counter")
        assert w.stdout.strip() == "0"
    finally:
        cli("rm", "-f", "counter", check=False)


def test_events_show_the_lifecycle(cli: CLI) -> None:
    since = str(int(time.time()) - 1)
    cli("run", "--rm", "--name", f"evt-{cli.name}", IMAGE, "true")
    until = str(int(time.time()) + 1)
    out = cli(
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        f"container=evt-{cli.name}",
        "--format",
        "{{.Action}}",
    ).stdout.split()
    assert out[:3] == ["create", "attach", "start"] or out[:2] == ["create", "start"]
    assert "die" in out and out[-1] == "destroy"


def _pty(cli: CLI, *args: str) -> tuple[int, int]:
    return ptys.spawn([cli.argv0, *args], cli.d.env())


def test_run_it_under_a_pty(cli: CLI) -> None:
    pid, fd = _pty(cli, "run", "-it", "--rm", IMAGE, "sh")
    try:
        ptys.expect(fd, b"# ")
        os.write(fd, b"echo $((6*7)); tty\r")
        assert b"42" in ptys.expect(fd, b"/dev/pts/0")
        os.write(fd, b"exit 5\r")
        assert ptys.exit_code(pid) == 5
    finally:
        ptys.end(pid, fd)


def test_exec_it_under_a_pty(cli: CLI) -> None:
    """exec -it: the console socket lives under a short exec directory (below the container's
    state dir its path was over a unix socket's 107 bytes), and nothing is left of it after."""
    cli("run", "-d", "--name", "shell", IMAGE, "sleep", "60")
    pid, fd = _pty(cli, "exec", "-it", "shell", "sh")
    try:
        ptys.expect(fd, b"# ")
        os.write(fd, b"echo $((6*7)); tty\r")
        assert b"42" in ptys.expect(fd, b"/dev/pts/")
        os.write(fd, b"exit 3\r")
        assert ptys.exit_code(pid) == 3
        assert os.listdir(f"{cli.d.exec_root}/execs") == []
    finally:
        ptys.end(pid, fd)
        cli("rm", "-f", "shell", check=False)


def test_init_runs_as_pid_1(cli: CLI) -> None:
    r = cli("run", "--rm", "--init", IMAGE, "sh", "-c", "cat /proc/1/comm; echo $$")
    first, shell_pid = r.stdout.split()
    assert first in ("docker-init", "tini-static", "tini")
    assert shell_pid != "1"
    r = cli("run", "--rm", IMAGE, "cat", "/proc/1/comm")
    assert r.stdout.strip() == "cat"


def test_kill_answers_once_the_container_is_dead(cli: CLI) -> None:
    cli("run", "-d", "--name", "victim", IMAGE, "sleep", "60")
    try:
        cli("kill", "victim")
        state = json.loads(cli("inspect", "victim").stdout)[0]["State"]
        assert (state["Status"], state["Running"], state["ExitCode"]) == ("exited", False, 137)
        cli("rm", "victim")  # no -f needed: it is not running any more
    finally:
        cli("rm", "-f", "victim", check=False)


def test_attach_sees_output_and_stdin_reaches_container(cli: CLI) -> None:
    cid = cli("run", "-d", "-i", "--name", "cat", IMAGE, "sh", "-c", "read x; echo got $x").stdout.strip()
    try:
        r = subprocess.run(
            [cli.argv0, "attach", "cat"],
            input="hello\n",
            env=cli.d.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.stdout.strip() == "got hello"
        assert cli("wait", cid).stdout.strip() == "0"
    finally:
        cli("rm", "-f", "cat", check=False)


def test_name_conflict_and_bad_requests(cli: CLI) -> None:
    cli("create", "--name", "dup", IMAGE, "true")
    try:
        r = cli("run", "-d", "--name", "dup", IMAGE, "true", check=False)
        assert r.returncode == 125
        assert 'The container name "/dup" is already in use' in r.stderr
        r = cli("run", "--rm", "nosuchimage:1", "true", check=False)
        assert r.returncode == 125
        r = cli("rm", "nosuch", check=False)
        assert r.returncode == 1 and "No such container: nosuch" in r.stderr
        r = cli("run", "--rm", "--name", "bad name", IMAGE, "true", check=False)
        assert r.returncode == 125 and "Invalid container name" in r.stderr
    finally:
        cli("rm", "-f", "dup", check=False)


def test_legacy_links(cli: CLI) -> None:
    """--link on the default bridge: the child by its alias in /etc/hosts and the environment,
    its link name among its names until rm --link takes the link away."""
    try:
        cli("run", "-d", "--name", "db", "-e", "SECRET=s3", "--expose", "5432", IMAGE, "sleep", "60")
        script = "env | sort; grep database /etc/hosts; ping -c1 -W2 database >/dev/null && echo reached"
        r = cli("run", "--rm", "--name", "app", "--link", "db:database", IMAGE, "sh", "-c", script)
        env = r.stdout.splitlines()
        assert "DATABASE_NAME=/app/database" in env
        assert "DATABASE_ENV_SECRET=s3" in env
        assert any(x.startswith("DATABASE_PORT_5432_TCP=tcp://") for x in env)
        [hosts] = [x for x in env if "\tdatabase " in x]
        ip, names = hosts.split("\t")
        assert names.split()[0] == "database" and names.split()[-1] == "db" and ip.count(".") == 3
        assert "reached" in env
        cli("create", "--name", "web", "--link", "db", IMAGE, "true")
        assert (
            cli("ps", "-a", "--no-trunc", "--filter", "name=db", "--format", "{{.Names}}").stdout
            == "db,web/db\n"
        )
        assert cli("ps", "-a", "--filter", "name=db", "--format", "{{.Names}}").stdout == "db\n"
        links = json.loads(cli("inspect", "web").stdout)[0]["HostConfig"]["Links"]
        assert links == ["/db:/web/db"]
        cli("rm", "--link", "/web/db")
        assert "web/db" not in cli("ps", "-a", "--no-trunc", "--format", "{{.Names}}").stdout
        assert json.loads(cli("inspect", "web").stdout)[0]["HostConfig"]["Links"] is None
        r = cli("run", "--rm", "--link", "nosuch:x", IMAGE, "true", check=False)
        assert r.returncode != 0 and "could not get container for nosuch" in r.stderr
    finally:
        cli("rm", "-f", "db", "web", "app", check=False)
