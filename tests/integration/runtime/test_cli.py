"""runc's command line beyond run: terminal over --console-socket, --preserve-fds, --no-pivot,
namespaces joined by path, exec --process, update, spec and features."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from tests.integration.runtime.helpers import Runtime, bundle, run_detached, spec_for

pytestmark = pytest.mark.root


class ConsoleReceiver:
    """A --console-socket server: receives the pty master and reads everything from it."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(1)
        self.output = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
        master = fds[0]
        try:
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the slave side closed
                    break
                if not chunk:
                    break
                self.output += chunk
        finally:
            os.close(master)

    def close(self) -> None:
        self.sock.close()


def test_terminal_over_console_socket(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    cid = rt.new_id()
    spec = spec_for(["sh", "-c", "tty; stty size; echo done"], cid)
    spec["process"]["terminal"] = True
    spec["process"]["consoleSize"] = {"height": 33, "width": 101}
    b = bundle(tmp_path, spec, rootfs_template)
    recv = ConsoleReceiver(str(tmp_path / "console.sock"))
    try:
        r = rt.cmd("run", "--console-socket", str(tmp_path / "console.sock"), "--bundle", b, cid)
        assert r.returncode == 0, r.stderr
        recv.thread.join(timeout=10)
        lines = recv.output.decode().split()
        assert lines[0].startswith("/dev/pts/"), lines
        assert lines[1:] == ["33", "101", "done"]
    finally:
        recv.close()


def test_terminal_without_console_socket_is_refused(
    rt: Runtime, tmp_path: Path, rootfs_template: str
) -> None:
    cid = rt.new_id()
    spec = spec_for(["true"], cid)
    spec["process"]["terminal"] = True
    r = rt.cmd("run", "--bundle", bundle(tmp_path, spec, rootfs_template), cid)
    assert r.returncode == 1 and "console-socket" in r.stderr


def test_preserve_fds(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    cid = rt.new_id()
    b = bundle(
        tmp_path, spec_for(["sh", "-c", "echo through-fd-3 >&3; ls /proc/self/fd"], cid), rootfs_template
    )
    rd, wr = os.pipe()
    try:
        # the child gets the pipe as fd 3, the first fd after stdio, as --preserve-fds counts
        r = rt.cmd(
            "run",
            "--preserve-fds",
            "1",
            "--bundle",
            b,
            cid,
            pass_fds=(3,),
            preexec_fn=lambda: os.dup2(wr, 3),
        )
        os.close(wr)
        wr = -1
        assert r.returncode == 0, r.stderr
        assert os.read(rd, 100) == b"through-fd-3\n"
        fds = sorted(int(x) for x in r.stdout.split())
        assert fds[:4] == [0, 1, 2, 3] and fds[-1] <= 4  # 4 at most: ls's own directory fd
    finally:
        os.close(rd)
        if wr >= 0:
            os.close(wr)


def test_no_pivot(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    cid = rt.new_id()
    b = bundle(tmp_path, spec_for(["sh", "-c", "ls /; echo $$"], cid), rootfs_template)
    r = rt.cmd("run", "--no-pivot", "--bundle", b, cid)
    assert r.returncode == 0, r.stderr
    assert "bin" in r.stdout.split() and r.stdout.split()[-1] == "1"


def test_join_namespaces_by_path(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    first = rt.new_id()
    spec1 = spec_for(["sleep", "60"], first)
    spec1["hostname"] = "first"
    rt.cmd("run", "-d", "--bundle", bundle(tmp_path, spec1, rootfs_template), first, check=True)
    pid = json.loads(rt.cmd("state", first, check=True).stdout)["pid"]
    second = rt.new_id()
    spec2 = spec_for(["sh", "-c", "hostname; readlink /proc/self/ns/net"], second)
    spec2.pop("hostname", None)
    for ns in spec2["linux"]["namespaces"]:
        if ns["type"] in ("network", "uts"):
            ns["path"] = f"/proc/{pid}/ns/{'net' if ns['type'] == 'network' else 'uts'}"
    r = rt.cmd("run", "--bundle", bundle(tmp_path, spec2, rootfs_template), second)
    assert r.returncode == 0, r.stderr
    name, netns = r.stdout.split()
    assert name == "first"
    assert netns == os.readlink(f"/proc/{pid}/ns/net")
    rt.cmd("delete", "--force", first, check=True)


def test_exec_with_process_json_and_detach(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    cid = run_detached(rt, tmp_path, rootfs_template, ["sleep", "60"])
    proc: dict[str, Any] = {
        "args": ["sh", "-c", "id -u; id -g; pwd; echo $ONLY"],
        "env": ["ONLY=this", "PATH=/bin"],
        "cwd": "/tmp",
        "user": {"uid": 65534, "gid": 65534},
    }
    pfile = tmp_path / "process.json"
    pfile.write_text(json.dumps(proc))
    r = rt.cmd("exec", "--process", str(pfile), cid)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["65534", "65534", "/tmp", "this"]
    pidfile = tmp_path / "exec.pid"
    r = rt.cmd("exec", "-d", "--pid-file", str(pidfile), cid, "sleep", "30")
    assert r.returncode == 0, r.stderr
    epid = int(pidfile.read_text())
    assert epid in json.loads(rt.cmd("ps", "--format", "json", cid, check=True).stdout)
    rt.cmd("delete", "--force", cid, check=True)


def test_update_changes_limits(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    cid = run_detached(rt, tmp_path, rootfs_template, ["sleep", "60"])
    rt.cmd("update", "--pids-limit", "42", "--memory", "64M", cid, check=True)
    r = rt.cmd(
        "exec",
        cid,
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["42", str(64 * 1024 * 1024)]
    rt.cmd("delete", "--force", cid, check=True)


def test_list_spec_features(rt: Runtime, tmp_path: Path, rootfs_template: str) -> None:
    cid = rt.new_id()
    rt.cmd("create", "--bundle", bundle(tmp_path, spec_for(["true"], cid), rootfs_template), cid, check=True)
    listed = json.loads(rt.cmd("list", "--format", "json", check=True).stdout)
    assert [(c["id"], c["status"]) for c in listed] == [(cid, "created")]
    assert cid in rt.cmd("list", check=True).stdout
    rt.cmd("delete", cid, check=True)  # a created container is deleted without --force, as runc does

    spec_dir = tmp_path / "gen"
    spec_dir.mkdir()
    subprocess.run([rt.binary, "spec", "--bundle", str(spec_dir)], check=True)
    generated = json.loads((spec_dir / "config.json").read_text())
    assert generated["process"]["args"] == ["sh"] and generated["root"]["path"] == "rootfs"
    r = rt.cmd("spec", "--bundle", str(spec_dir))
    assert r.returncode == 1 and "exists" in r.stderr

    feats = json.loads(rt.cmd("features", check=True).stdout)
    assert "user" in feats["linux"]["namespaces"]
    assert "CAP_SYS_ADMIN" in feats["linux"]["capabilities"]
    assert feats["linux"]["seccomp"]["enabled"] is True
    assert feats["linux"]["cgroup"]["v1"] and feats["linux"]["cgroup"]["v2"]
