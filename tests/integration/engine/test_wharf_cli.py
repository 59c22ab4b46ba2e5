"""What only our own CLI has to show: Docker's flag errors and exit codes, the message when wharfd
is not running, a light import path, and the commands the shared session tests do not reach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import CLI, IMAGE, WHARF

pytestmark = pytest.mark.root


@pytest.fixture
def wharf(wharfd: Daemon) -> CLI:
    return CLI(wharfd, "wharf")


def test_daemon_not_running_says_how_to_start_it(tmp_path: Path) -> None:
    env = dict(os.environ, WHARF_HOST=f"unix://{tmp_path}/none.sock")
    r = subprocess.run([WHARF, "ps"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "Cannot connect to the wharf daemon" in r.stderr and "wharfd" in r.stderr
    r = subprocess.run(
        [WHARF, "run", "--rm", IMAGE, "true"], env=env, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 125


def test_cli_import_path_stays_light(wharf: CLI) -> None:
    """`wharf ps` must not pull in the daemon's stack (asyncio, aiohttp, sqlite, urllib3)."""
    r = subprocess.run(
        [sys.executable, "-X", "importtime", WHARF, "ps"],
        env=wharf.d.env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr
    imported = {
        line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")
    }
    assert "wharf.cli.containers" in imported
    heavy = {"asyncio", "aiohttp", "sqlite3", "urllib3", "wharf.engine", "wharf.images.store"}
    assert not heavy & imported


def test_flag_errors_are_125_with_dockers_words(wharf: CLI) -> None:
    r = wharf("run", "--no-such-flag", IMAGE, check=False)
    assert r.returncode == 125 and "unknown flag: --no-such-flag" in r.stderr
    r = wharf("run", "--rm", "--restart", "always", IMAGE, "true", check=False)
    assert r.returncode == 125 and "cannot specify both --restart and --rm" in r.stderr
    r = wharf("run", "-m", "lots", IMAGE, "true", check=False)
    assert r.returncode == 125 and "invalid size: 'lots'" in r.stderr
    r = wharf("run", "--no-healthcheck", "--health-cmd", "true", IMAGE, "true", check=False)
    assert r.returncode == 125 and "--no-healthcheck conflicts with --health-* options" in r.stderr
    r = wharf("run", "--mount", "type=bind,source=/tmp", IMAGE, "true", check=False)
    assert r.returncode == 125 and "target is required" in r.stderr
    r = wharf("nosuchcommand", check=False)
    assert r.returncode == 125 and "unknown command" in r.stderr
    assert wharf("ps", "-a", "-q").stdout == ""  # nothing was created by any of these


def test_ps_formats_filters_and_management_aliases(wharf: CLI) -> None:
    wharf("run", "--name", "done", "-l", "tier=batch", IMAGE, "sh", "-c", "exit 4", check=False)
    up = wharf("run", "-d", "--name", "up", IMAGE, "sleep", "30").stdout.strip()
    try:
        table = wharf("ps", "-a").stdout.splitlines()
        assert table[0].split() == [
            "CONTAINER",
            "ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ]
        assert wharf("ps", "-q").stdout.split() == [up[:12]]
        assert wharf("ps", "-q", "--no-trunc").stdout.split() == [up]
        exited = wharf("ps", "-a", "-f", "status=exited", "--format", "{{.Names}} {{.Status}}").stdout
        assert exited.startswith("done Exited (4)")
        assert wharf("ps", "-a", "-f", "label=tier=batch", "--format", "{{.Names}}").stdout.split() == [
            "done"
        ]
        rows = [
            json.loads(x)
            for x in wharf("container", "ls", "-a", "--format", "{{json .}}").stdout.splitlines()
        ]
        assert {r["Names"] for r in rows} == {"done", "up"} and all(len(r["ID"]) == 12 for r in rows)
        assert wharf("container", "inspect", "-f", "{{.State.ExitCode}}", "done").stdout.strip() == "4"
        assert wharf("wait", "done").stdout.strip() == "4"
        r = wharf("inspect", "nosuch", check=False)
        assert r.returncode == 1 and "No such object: nosuch" in r.stderr
    finally:
        wharf("rm", "-f", "done", "up", check=False)


def test_exec_options_update_rename_diff_export(wharf: CLI, tmp_path: Path) -> None:
    wharf("run", "-d", "--name", "box", IMAGE, "sleep", "60")
    try:
        out = wharf("exec", "-e", "GREETING=hi", "-w", "/tmp", "-u", "65534", "box",
                    "sh", "-c", "echo $GREETING $(pwd) $(id -u)").stdout  # fmt: skip
        assert out.split() == ["hi", "/tmp", "65534"]
        r = wharf("exec", "-i", "box", "sh", "-c", "tr a-z A-Z", input="shout\n")
        assert r.stdout == "SHOUT\n"
        r = wharf("exec", "box", "nosuchbinary", check=False)
        assert r.returncode == 126 and "executable file not found" in r.stderr
        assert wharf("update", "--memory", "64m", "--pids-limit", "50", "box").stdout.strip() == "box"
        limits = wharf(
            "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", "box"
        ).stdout.split()
        assert limits == [str(64 << 20), "50"]
        if not any(
            os.path.exists(f"/sys/fs/cgroup/blkio/{f}") for f in ("blkio.weight", "blkio.bfq.weight")
        ):
            r = subprocess.run(["docker", "update", "--blkio-weight", "100", "box"], env=wharf.d.env(),
                               capture_output=True, text=True)  # fmt: skip
            assert r.returncode == 0, r.stderr  # a kernel without a blkio weight: discarded, as dockerd
            assert "Your kernel does not support Block I/O weight" in r.stdout + r.stderr
        wharf("rename", "box", "crate")
        wharf("exec", "crate", "sh", "-c", "echo x > /made-here")
        assert "A /made-here" in wharf("diff", "crate").stdout.splitlines()
        tar = tmp_path / "fs.tar"
        wharf("export", "-o", str(tar), "crate")
        names = subprocess.run(["tar", "-tf", str(tar)], capture_output=True, text=True, check=True).stdout
        assert "made-here" in names and "bin/busybox" in names
        r = wharf("rename", "nosuch", "other", check=False)
        assert r.returncode == 1 and "No such container: nosuch" in r.stderr
    finally:
        wharf("rm", "-f", "box", "crate", check=False)


def test_system_commands(wharf: CLI) -> None:
    wharf("create", "--name", "idle", IMAGE, "true")
    info = wharf("info").stdout
    assert "Containers: 1" in info and "Cgroup Driver: cgroupfs" in info
    assert wharf("info", "-f", "{{.Containers}}").stdout.strip() == "1"
    version = wharf("version", "-f", "{{.Server.Version}} {{.Client.APIVersion}}").stdout.split()
    assert version[1] == "1.47" and version[0]
    df = wharf("system", "df").stdout.splitlines()
    assert df[0].split()[:2] == ["TYPE", "TOTAL"] and df[1].split()[:3] == ["Images", "1", "1"]
    out = wharf("container", "prune", "-f").stdout
    assert "Deleted Containers:" in out and "Total reclaimed space:" in out
    assert wharf("ps", "-aq").stdout == ""
    out = wharf("system", "prune", "-f").stdout
    assert "Total reclaimed space:" in out
    assert "busybox" in wharf("images").stdout  # in use by nothing, but tagged: not dangling


def test_start_attach_returns_the_exit_code(wharf: CLI) -> None:
    wharf("create", "--name", "once", IMAGE, "sh", "-c", "echo ran; exit 6")
    try:
        r = wharf("start", "-a", "once", check=False)
        assert (r.returncode, r.stdout) == (6, "ran\n")
        assert wharf("logs", "--tail", "1", "once").stdout == "ran\n"
        assert wharf("logs", "-t", "once").stdout.split()[0].endswith("Z")
    finally:
        wharf("rm", "-f", "once", check=False)
