"""Deep directory trees (hardening, item 3): a container, a tar or a leftover snapshot nesting
more directories than Python's recursion limit (~1,000), or a path longer than PATH_MAX (4,096
bytes), must not break the engine. Before the fix rm of such a container answered 500
(RecursionError), then 409 "removal ... already in progress" for ever; diff, commit, import,
load and cp answered 500; and after a restart the orphan sweep made images/json and every
create a 500.

Two shapes: 1,100 (or 1,200) levels of "d" (a 2-kB path, what `mkdir d; cd d` in a loop makes)
and 300 levels of a 20-character name (a 6-kB path: only fd-relative walks reach its end)."""

from __future__ import annotations

import http.client
import io
import json
import os
import resource
import subprocess
import tarfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.chains import make_chain, read_chain
from tests.daemon import Daemon, UnixHTTPConnection
from tests.integration.engine.conftest import docker

pytestmark = pytest.mark.root

DEEP_D = ("d", 1100)
LONG = "n" * 20
DEEP_LONG = (LONG, 300)  # 300 * 21 bytes: beyond PATH_MAX
# the reproduction: a 1,100-deep tree made inside the container
MKDIR_CD = "i=0; while [ $i -lt 1100 ]; do mkdir d; cd d; i=$((i+1)); done; echo deep > f"


def _wrap_loop(name: str, depth: int) -> str:
    """Shell that leaves /c/<name>*depth/f ("deep") without ever using a long path: the
    chain is built by moving the tree one directory deeper at a time (busybox's cd cannot go
    beyond PATH_MAX)."""
    return (
        f"cd / && mkdir c && echo deep > c/f && i=0 && while [ $i -lt {depth} ]; do"
        f" mkdir w && mv c w/{name} && mv w c || exit 1; i=$((i+1)); done"
    )


def _service_limits(d: Daemon) -> None:
    """The soft RLIMIT_NOFILE a daemon started from a login shell or a systemd unit without
    LimitNOFILE has (this machine's shells give 20,000): a walk holding one fd per level runs
    out of them before 1,100 levels."""
    assert d.proc is not None
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (1024, hard))


@pytest.fixture(scope="module")
def daemon(wharfd: Daemon) -> Iterator[Daemon]:
    """The module's wharfd, with a service's fd limit."""
    _service_limits(wharfd)
    yield wharfd


@pytest.fixture
def host_dir(tmp_path: Path) -> Iterator[Path]:
    """tmp_path, emptied with `rm -rf` even on failure (pytest's own cleanup recurses)."""
    try:
        yield tmp_path
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(tmp_path)], capture_output=True)


def _snapshots(d: Daemon) -> str:
    return f"{d.data_root}/images/snapshots/overlayfs/snapshots"


def _snapshot_dirs(d: Daemon) -> set[str]:
    return set(os.listdir(_snapshots(d)))


def _rm(d: Daemon, *names: str) -> None:
    for n in names:
        docker(d, "rm", "-f", n, check=False)


def _rmi(d: Daemon, *names: str) -> None:
    for n in names:
        docker(d, "rmi", "-f", n, check=False)


def _deep_tar(names: list[str], data: bytes, rootfs: str | None = None, top: str = "") -> bytes:
    """A tar of (the busybox rootfs and) ``top``/names.../f holding ``data``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if rootfs is not None:
            for n in sorted(os.listdir(rootfs)):
                tar.add(os.path.join(rootfs, n), arcname=n)
        path = top
        for n in names:
            path = f"{path}/{n}" if path else n
            info = tarfile.TarInfo(path)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        info = tarfile.TarInfo(f"{path}/f")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _http(d: Daemon, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = UnixHTTPConnection(d.sock, timeout=300)
    try:
        headers = {"Content-Type": "application/x-tar"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp: http.client.HTTPResponse = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _archive_of(d: Daemon, cid: str, path: str) -> dict[str, tuple[bytes, bytes]]:
    """GET /containers/{id}/archive as {name: (type, content)}."""
    status, raw = _http(d, "GET", f"/containers/{cid}/archive?path={urllib.parse.quote(path)}")
    assert status == 200, raw[:300]
    out = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        for m in t:
            f = t.extractfile(m) if m.isfile() else None
            out[m.name] = (m.type, f.read() if f is not None else b"")
    return out


def _chain_in(members: dict[str, tuple[bytes, bytes]], top: str, names: list[str]) -> None:
    """The archive holds every directory of top/names... and the file at its end."""
    path = top
    for n in names:
        path = f"{path}/{n}"
        assert members[path][0] == tarfile.DIRTYPE, path[:80]
    assert members[f"{path}/f"] == (tarfile.REGTYPE, b"deep\n")


# --- rm


def test_rm_f_removes_a_running_container_with_a_deep_tree_and_frees_it(daemon: Daemon) -> None:
    before = _snapshot_dirs(daemon)
    try:
        docker(daemon, "run", "-d", "--name", "deep-rm", "busybox", "sh", "-c",
               f"{MKDIR_CD}; echo built; exec sleep 300")  # fmt: skip
        deadline = time.time() + 120
        while "built" not in docker(daemon, "logs", "deep-rm").stdout:
            assert time.time() < deadline, "the tree was not built in 120 s"
            time.sleep(0.5)
        made = _snapshot_dirs(daemon) - before
        assert len(made) == 1
        r = docker(daemon, "rm", "-f", "deep-rm", check=False)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "deep-rm"
        r = docker(daemon, "inspect", "deep-rm", check=False)
        assert r.returncode == 1 and "No such object: deep-rm" in r.stderr
        # the space is freed: the snapshot directory is gone, nothing was left aside
        assert _snapshot_dirs(daemon) == before
    finally:
        _rm(daemon, "deep-rm")


def test_a_failed_removal_leaves_the_container_dead_and_rm_can_be_retried(daemon: Daemon) -> None:
    """A file the engine cannot delete (immutable, set from the host) fails the removal with
    dockerd's words; the container is "dead", not "removing", and a second rm completes it."""
    before = _snapshot_dirs(daemon)
    stuck = ""
    try:
        docker(daemon, "run", "--name", "deep-stuck", "busybox", "sh", "-c", "echo x > /keep")
        cid = docker(daemon, "inspect", "-f", "{{.Id}}", "deep-stuck").stdout.strip()
        (snap,) = _snapshot_dirs(daemon) - before
        stuck = f"{_snapshots(daemon)}/{snap}/fs/keep"
        subprocess.run(["chattr", "+i", stuck], check=True)
        r = docker(daemon, "rm", "-f", "deep-stuck", check=False)
        assert r.returncode == 1
        assert f"unable to remove filesystem for {cid}" in r.stderr
        assert "operation not permitted" in r.stderr
        state = docker(daemon, "inspect", "-f", "{{.State.Status}} {{.State.Dead}}", "deep-stuck")
        assert state.stdout.split() == ["dead", "true"]
        # the aside copy of the snapshot still holds the immutable file
        (aside,) = (n for n in _snapshot_dirs(daemon) - before if n.startswith("rm-"))
        subprocess.run(["chattr", "-i", f"{_snapshots(daemon)}/{aside}/fs/keep"], check=True)
        stuck = ""
        r = docker(daemon, "rm", "deep-stuck", check=False)
        assert r.returncode == 0, r.stderr
        assert docker(daemon, "inspect", "deep-stuck", check=False).returncode == 1
        assert _snapshot_dirs(daemon) == before
    finally:
        for n in _snapshot_dirs(daemon) - before:
            subprocess.run(["chattr", "-R", "-i", f"{_snapshots(daemon)}/{n}"], capture_output=True)
        _rm(daemon, "deep-stuck")


# --- diff and commit


@pytest.mark.parametrize("shape", [DEEP_D, DEEP_LONG], ids=["1100xd", "300x20"])
def test_diff_and_commit_of_a_deep_tree(daemon: Daemon, shape: tuple[str, int]) -> None:
    name, depth = shape
    names = [name] * depth
    c, img = f"deep-diff-{depth}", f"deep-commit:{depth}"
    made = ""
    try:
        script = MKDIR_CD if shape == DEEP_D else _wrap_loop(name, depth)
        docker(daemon, "run", "--name", c, "busybox", "sh", "-c", script, timeout=300)
        top = "/d" if shape == DEEP_D else "/c"
        inner = names[1:] if shape == DEEP_D else names
        r = docker(daemon, "diff", c, check=False)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        expected, path = [f"A {top}"], top
        for n in inner:
            path = f"{path}/{n}"
            expected.append(f"A {path}")
        expected.append(f"A {path}/f")
        assert sorted(expected) == [x for x in lines if x == f"A {top}" or x.startswith(f"A {top}/")]
        r = docker(daemon, "commit", c, img, check=False)
        assert r.returncode == 0, r.stderr
        made = docker(daemon, "create", img, "true").stdout.strip()
        _chain_in(_archive_of(daemon, made, top), top.lstrip("/"), inner)
        if shape == DEEP_D:
            r = docker(daemon, "run", "--rm", img, "cat", f"{path}/f")
            assert r.stdout == "deep\n"
    finally:
        _rm(daemon, c, *([made] if made else []))
        _rmi(daemon, img)


# --- import and load


@pytest.mark.parametrize("shape", [("d", 1200), DEEP_LONG], ids=["1200xd", "300x20"])
def test_import_of_a_deep_tar_runs(
    daemon: Daemon, rootfs_template: str, host_dir: Path, shape: tuple[str, int]
) -> None:
    name, depth = shape
    names = [name] * depth
    img = f"deep-import:{depth}"
    made = ""
    try:
        tar = host_dir / "rootfs.tar"
        tar.write_bytes(_deep_tar(names, b"deep\n", rootfs=rootfs_template, top="deep"))
        r = docker(daemon, "import", str(tar), img, check=False, timeout=300)
        assert r.returncode == 0, r.stderr
        made = docker(daemon, "create", img, "true").stdout.strip()
        _chain_in(_archive_of(daemon, made, "/deep"), "deep", names)
        if shape[1] * (len(name) + 1) < 4000:
            r = docker(daemon, "run", "--rm", img, "cat", "/deep/" + "/".join(names) + "/f")
            assert r.stdout == "deep\n"
    finally:
        _rm(daemon, *([made] if made else []))
        _rmi(daemon, img)


def _docker_archive(layer: bytes, tag: str) -> bytes:
    """A `docker save` archive of one image with one layer."""
    import hashlib

    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff]},
    }).encode()  # fmt: skip
    cfg_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cfg_name, "RepoTags": [tag], "Layers": ["layer/layer.tar"]}]).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in (("layer/layer.tar", layer), (cfg_name, config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize("shape", [("d", 1200), DEEP_LONG], ids=["1200xd", "300x20"])
def test_load_of_an_image_whose_layer_is_deep(
    daemon: Daemon, rootfs_template: str, host_dir: Path, shape: tuple[str, int]
) -> None:
    name, depth = shape
    names = [name] * depth
    img = f"deep-load:{depth}"
    made = ""
    try:
        archive = host_dir / "image.tar"
        layer = _deep_tar(names, b"deep\n", rootfs=rootfs_template, top="deep")
        archive.write_bytes(_docker_archive(layer, img))
        r = docker(daemon, "load", "-i", str(archive), check=False, timeout=300)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"Loaded image: {img}"
        made = docker(daemon, "create", img, "true").stdout.strip()
        _chain_in(_archive_of(daemon, made, "/deep"), "deep", names)
    finally:
        _rm(daemon, *([made] if made else []))
        _rmi(daemon, img)


# --- cp


def test_cp_in_and_out_of_a_deep_tree(daemon: Daemon, host_dir: Path) -> None:
    """The docker CLI's own side walks by full paths, so the tree stays under PATH_MAX here."""
    names = ["d"] * 1200
    src = host_dir / "src"
    src.mkdir()
    make_chain(str(src), names, b"deep\n")
    try:
        docker(daemon, "run", "-d", "--name", "deep-cp", "busybox", "sleep", "300")
        r = docker(daemon, "cp", str(src), "deep-cp:/in", check=False, timeout=300)
        assert r.returncode == 0, r.stderr
        r = docker(daemon, "exec", "deep-cp", "cat", "/in/" + "/".join(names) + "/f")
        assert r.stdout == "deep\n"
        r = docker(daemon, "cp", "deep-cp:/in", str(host_dir / "out"), check=False, timeout=300)
        assert r.returncode == 0, r.stderr
        assert read_chain(str(host_dir / "out"), names) == b"deep\n"
        # and out of a stopped container, whose rootfs the daemon mounts for the copy
        docker(daemon, "stop", "-t", "0", "deep-cp")
        r = docker(daemon, "cp", "deep-cp:/in", str(host_dir / "again"), check=False, timeout=300)
        assert r.returncode == 0, r.stderr
        assert read_chain(str(host_dir / "again"), names) == b"deep\n"
    finally:
        _rm(daemon, "deep-cp")


def test_cp_through_the_api_beyond_path_max(daemon: Daemon) -> None:
    names = [LONG] * 300
    try:
        cid = docker(daemon, "run", "-d", "--name", "deep-cp-long", "busybox", "sleep", "300").stdout.strip()
        status, body = _http(daemon, "PUT", f"/containers/{cid}/archive?path=/tmp",
                             _deep_tar(names, b"deep\n", top="in"))  # fmt: skip
        assert status == 200, body[:300]
        _chain_in(_archive_of(daemon, cid, "/tmp/in"), "in", names)
        # the stat header of a path that long
        path = "/tmp/in/" + "/".join(names) + "/f"
        status, _ = _http(daemon, "HEAD", f"/containers/{cid}/archive?path={urllib.parse.quote(path)}")
        assert status == 200
    finally:
        _rm(daemon, "deep-cp-long")


# --- orphan snapshots at daemon start


def test_restart_with_deep_orphan_snapshots(daemon: Daemon) -> None:
    """The sweep's orphans: directories of snapshots/ that no snapshot record names (a crash
    between a snapshot's directory and its row, and a removal cut short after its row went:
    rm-<id>-<ns>, renamed aside)."""
    root = _snapshots(daemon)
    orphans = ["987654", "rm-987655-1"]
    daemon.stop()
    try:
        for orphan, names in zip(orphans, (["d"] * 1100, [LONG] * 300), strict=True):
            os.makedirs(f"{root}/{orphan}/fs")
            os.mkdir(f"{root}/{orphan}/work")
            make_chain(f"{root}/{orphan}/fs", names, b"orphan\n")
        daemon.start()
        _service_limits(daemon)
        status, images = daemon.request("GET", "/images/json")
        assert status == 200, images
        assert any("busybox:latest" in (i["RepoTags"] or []) for i in images)
        status, body = daemon.request("POST", "/containers/create?name=deep-after", {"Image": "busybox"})
        assert status == 201, body
        assert not set(orphans) & _snapshot_dirs(daemon)
    finally:
        if daemon.proc is None:
            daemon.start()
            _service_limits(daemon)
        _rm(daemon, "deep-after")
        for orphan in orphans:
            subprocess.run(["rm", "-rf", f"{root}/{orphan}"], capture_output=True)


# --- wide

WIDE = 30_000


def test_a_wide_directory_through_diff_commit_cp_and_rm(daemon: Daemon, host_dir: Path) -> None:
    """30,000 files in one directory (many getdents batches, one level): every file is in the
    diff, the commit and the copy out, and rm frees the snapshot."""
    c, img = "wide", "wide-commit:1"
    before = _snapshot_dirs(daemon)
    made = ""
    try:
        docker(daemon, "run", "--name", c, "busybox", "sh", "-c",
               f"mkdir /w && cd /w && seq 1 {WIDE} | xargs touch", timeout=300)  # fmt: skip
        lines = docker(daemon, "diff", c).stdout.splitlines()
        assert sum(x.startswith("A /w/") for x in lines) == WIDE
        assert "A /w/1" in lines and f"A /w/{WIDE}" in lines
        docker(daemon, "commit", c, img, timeout=300)
        made = docker(daemon, "create", img, "true").stdout.strip()
        members = _archive_of(daemon, made, "/w")
        assert sum(n.startswith("w/") for n in members) == WIDE
        docker(daemon, "cp", f"{c}:/w", str(host_dir / "out"), timeout=300)
        assert len(os.listdir(host_dir / "out")) == WIDE
        _rm(daemon, c, made)
        made = ""
        _rmi(daemon, img)
        assert _snapshot_dirs(daemon) == before
    finally:
        _rm(daemon, c, *([made] if made else []))
        _rmi(daemon, img)
