"""Hostile archives through every door a tar comes in by: `docker import`, `docker load` (the
layer of a `docker save` archive) and `docker cp` into a container. Members that climb out
(``../``, absolute names), a symlink to / or out of the tree followed by a member written
through it, hardlinks to host files, device nodes, setuid files, duplicated entries and
symlink loops: the host is untouched (no file created, none written, none linked), and wharfd
either extracts inside the image or container or answers with an error of Docker's kind (an
error status below 500, or an error in the stream), never a crash. (`docker build` has no
endpoint in wharfd yet: its context tar is the builder's to hold to the same rules.)"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import IMAGE, docker
from tests.security.test_deep_trees import _docker_archive, _http

pytestmark = pytest.mark.root

Member = tuple[tarfile.TarInfo, bytes]


def _file(name: str, data: bytes = b"pwned\n", mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, b""


def _dir(name: str) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    return info, b""


def _dev(name: str, kind: bytes, major: int, minor: int) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor, info.mode = kind, major, minor, 0o666
    return info, b""


UP = "../" * 12


# each case: the members, given the host's canary file (an existing host file) and a fresh name
# under the host's /tmp that must never appear
CASES: dict[str, Callable[[Path, str], list[Member]]] = {
    "dotdot": lambda canary, fresh: [_file(f"{UP}tmp/{fresh}"), _file(f"a/../../{UP}tmp/{canary.name}")],
    "absolute": lambda canary, fresh: [_file(f"/tmp/{fresh}"), _file(str(canary))],
    "symlink-to-root-then-write": lambda canary, fresh: [
        _link("esc", "/"), _file(f"esc/tmp/{fresh}"), _file(f"esc/tmp/{canary.name}"),
    ],
    "symlink-up-then-write": lambda canary, fresh: [
        _link("up", f"{UP}tmp"), _file(f"up/{fresh}"), _file(f"up/{canary.name}"),
    ],
    "hardlink-to-host-file": lambda canary, fresh: [
        _link("hl", str(canary), tarfile.LNKTYPE),
        _link("hl2", f"{UP}{str(canary).lstrip('/')}", tarfile.LNKTYPE),
    ],
    "hardlink-through-symlink": lambda canary, fresh: [
        _link("esc", "/"), _link("hl", f"esc/tmp/{canary.name}", tarfile.LNKTYPE), _file("hl"),
    ],
    "devices-and-setuid": lambda canary, fresh: [
        _dev("null2", tarfile.CHRTYPE, 1, 3), _dev("disk", tarfile.BLKTYPE, 8, 0),
        _file("suid", b"#!/bin/sh\nid\n", 0o4755),
    ],
    "duplicates": lambda canary, fresh: [
        _file("dup", b"one\n"), _file("dup", b"two\n"), _dir("d"), _file("d/in"), _file("d", b"file\n"),
        _link("s", "/"), _file("s", b"plain\n"), _file("s2"), _link("s2", "/"),
    ],
    "symlink-loop": lambda canary, fresh: [
        _link("loop1", "loop2"), _link("loop2", "loop1"), _file("loop1/x"),
    ],
}  # fmt: skip


def _tar(members: list[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


@pytest.fixture
def canary() -> Iterator[Path]:
    path = Path("/tmp") / f"wharf-tar-canary-{uuid.uuid4().hex[:10]}"
    path.write_text("host secret\n")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _host_untouched(canary: Path, fresh: str) -> None:
    st = canary.stat()
    assert canary.read_text() == "host secret\n" and st.st_nlink == 1, (canary, st)
    assert not Path("/tmp", fresh).exists(), fresh


def _stream_error(raw: bytes) -> str:
    """The error a JSON progress stream ended with ("" if none)."""
    for line in raw.decode(errors="replace").splitlines():
        if line.strip().startswith("{") and '"error"' in line:
            return str(json.loads(line).get("error"))
    return ""


def _check_answer(status: int, raw: bytes) -> str:
    """Docker's kind of answer: a success, a 4xx, or an error in a 200's stream; never a 500,
    never Python's words."""
    assert status < 500, (status, raw[:400])
    text = raw.decode(errors="replace")
    assert "Traceback" not in text and "Errno" not in text, text[:400]
    return _stream_error(raw) if status == 200 else text


@pytest.fixture
def target(wharfd: Daemon) -> Iterator[str]:
    cid = docker(wharfd, "run", "-d", IMAGE, "sleep", "300").stdout.strip()
    try:
        yield cid
    finally:
        docker(wharfd, "rm", "-f", cid, check=False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_tar_through_import_load_and_cp(
    wharfd: Daemon, canary: Path, target: str, case: str
) -> None:
    fresh = f"wharf-tar-fresh-{uuid.uuid4().hex[:10]}"
    layer = _tar(CASES[case](canary, fresh))
    log_before = Path(wharfd.log).read_text().count("Traceback")
    images = []
    try:
        # docker import
        repo = f"hostile-import-{uuid.uuid4().hex[:8]}"
        status, raw = _http(wharfd, "POST", f"/images/create?fromSrc=-&repo={repo}&tag=latest", layer)
        if not _check_answer(status, raw):
            images.append(repo)
        _host_untouched(canary, fresh)
        # docker load (the tar as an image's layer)
        tag = f"hostile-load-{uuid.uuid4().hex[:8]}:latest"
        status, raw = _http(wharfd, "POST", "/images/load", _docker_archive(layer, tag))
        if not _check_answer(status, raw):
            images.append(tag)
        _host_untouched(canary, fresh)
        # docker cp - CONTAINER:/tmp (the API, then the CLI)
        status, raw = _http(
            wharfd, "PUT", f"/containers/{target}/archive?path={urllib.parse.quote('/tmp')}", layer
        )
        _check_answer(status, raw)
        assert status in (200, 400), (status, raw[:300])  # /tmp is there: a 404 would misname the fault
        _host_untouched(canary, fresh)
        r = subprocess.run(
            ["docker", "cp", "-", f"{target}:/"], env=wharfd.env(), input=layer, capture_output=True
        )
        assert b"Traceback" not in r.stderr and b"Errno" not in r.stderr, r.stderr
        _host_untouched(canary, fresh)
        for image in images:  # what was extracted runs, inside its own tree
            r = docker(wharfd, "run", "--rm", image, "true", check=False)
            assert "Traceback" not in r.stderr, r.stderr
        _host_untouched(canary, fresh)
    finally:
        for image in images:
            docker(wharfd, "rmi", "-f", image, check=False)
    assert Path(wharfd.log).read_text().count("Traceback") == log_before


def test_devices_and_setuid_are_kept_inside_and_useless_there(
    wharfd: Daemon, canary: Path, target: str
) -> None:
    """Device nodes and setuid bits of an imported layer are kept (an image may carry them), but
    the container cannot use a host block device through them (the device cgroup refuses it)."""
    repo = f"hostile-dev-{uuid.uuid4().hex[:8]}"
    members = _exported(wharfd, target) + CASES["devices-and-setuid"](canary, "unused")
    status, raw = _http(wharfd, "POST", f"/images/create?fromSrc=-&repo={repo}&tag=latest", _tar(members))
    assert status == 200 and not _stream_error(raw), raw[:300]
    try:
        r = docker(wharfd, "run", "--rm", repo, "sh", "-c",
                   "stat -c '%a %t,%T' /suid /disk; head -c1 /disk; echo rc=$?")  # fmt: skip
        lines = r.stdout.splitlines()
        assert lines[0] == "4755 0,0" and lines[1] == "666 8,0", r.stdout
        assert "rc=1" in r.stdout and "Operation not permitted" in r.stderr, (r.stdout, r.stderr)
    finally:
        docker(wharfd, "rmi", "-f", repo, check=False)
    assert os.stat(canary).st_nlink == 1


def _exported(wharfd: Daemon, cid: str) -> list[Member]:
    """The container's rootfs as members (`docker export`), to build an image around."""
    status, raw = _http(wharfd, "GET", f"/containers/{cid}/export")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        return [(m, t.extractfile(m).read() if m.isreg() else b"") for m in t]  # type: ignore[union-attr]
