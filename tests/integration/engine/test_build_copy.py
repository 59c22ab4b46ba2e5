"""COPY and ADD through the docker CLI's classic builder (``DOCKER_BUILDKIT=0``) against wharfd:
``--from`` a stage by name and by index and an image (owners kept), a FROM scratch stage whose
files are its only layer, heredoc sources, ``ADD`` of a URL served on 127.0.0.1 (mode 0600,
Last-Modified, ``--checksum``, dockerd's HTTP error), ``--exclude``, ``--parents``, ``--chown``
with made directories, and directories on the way keeping their own modes."""

from __future__ import annotations

import email.utils
import functools
import hashlib
import http.server
import os
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.daemon import Daemon

CLIENT = "docker"
MTIME = 1_600_000_000  # the served file's Last-Modified


def _docker(d: Daemon, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(d.env(), DOCKER_BUILDKIT="0")
    r = subprocess.run([CLIENT, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and r.returncode:
        raise AssertionError(f"docker {' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


@pytest.fixture
def images(wharfd: Daemon) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        _docker(wharfd, "rmi", "-f", name)
    assert _docker(wharfd, "ps", "-aq").stdout == "", "a build left a container behind"


def _build(
    d: Daemon, ctx: Path, tag: str, images: list[str], dockerfile: str
) -> subprocess.CompletedProcess[str]:
    (ctx / "Dockerfile").write_text(dockerfile)
    images.append(tag)
    return _docker(d, "build", "-t", tag, str(ctx))


def _run(d: Daemon, tag: str, *cmd: str) -> str:
    return _docker(d, "run", "--rm", tag, *cmd, check=True).stdout


def test_copy_from_a_stage_by_name_and_index_and_from_an_image(
    wharfd: Daemon, tmp_path: Path, images: list[str]
) -> None:
    r = _build(wharfd, tmp_path, "copy-from:1", images, (
        "FROM busybox:latest AS build\n"
        "RUN mkdir -p /out/sub && echo built > /out/made && echo deep > /out/sub/x"
        " && chown 123:456 /out/made && chmod 640 /out/made\n"
        "FROM busybox:latest\n"
        "COPY --from=build /out/made /by-name\n"
        "COPY --from=0 /out/ /by-index/\n"
        "COPY --from=build --chown=7:8 /out/made /chowned\n"
        "COPY --from=busybox:latest /bin/busybox /opt/busybox\n"
    ))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    out = _run(wharfd, "copy-from:1", "stat", "-c", "%n %u:%g %a", "/by-name", "/by-index/made", "/chowned")
    assert out.splitlines() == ["/by-name 123:456 640", "/by-index/made 123:456 640", "/chowned 7:8 640"]
    assert _run(wharfd, "copy-from:1", "cat", "/by-name", "/by-index/sub/x") == "built\ndeep\n"
    assert _run(wharfd, "copy-from:1", "/opt/busybox", "echo", "from the image") == "from the image\n"


def test_copy_from_a_missing_stage_or_path_fails(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    dockerfile = "FROM busybox:latest AS build\nFROM busybox:latest\nCOPY --from=build /nowhere /x\n"
    r = _build(wharfd, tmp_path, "copy-from-bad:1", images, dockerfile)
    assert r.returncode == 1
    assert "stat /nowhere: file does not exist" in r.stdout + r.stderr
    r = _build(wharfd, tmp_path, "copy-from-bad:1", images, "FROM busybox:latest\nCOPY --from=nosuch / /x\n")
    assert r.returncode == 1
    assert "failed to resolve source image nosuch" in r.stdout + r.stderr


def test_from_scratch_has_the_copied_files_as_its_layer(
    wharfd: Daemon, tmp_path: Path, images: list[str]
) -> None:
    (tmp_path / "note").write_text("a note\n")
    r = _build(wharfd, tmp_path, "copy-scratch:1", images, (
        "FROM busybox:latest AS build\n"
        "FROM scratch\n"
        "COPY --from=build /bin/busybox /busybox\n"
        "COPY --chown=5:6 note /etc/deep/note\n"
        "COPY note /\n"
    ))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert _run(wharfd, "copy-scratch:1", "/busybox", "echo", "hi") == "hi\n"
    out = _run(wharfd, "copy-scratch:1", "/busybox", "stat", "-c", "%n %u:%g %a",
               "/busybox", "/etc", "/etc/deep", "/etc/deep/note", "/note")  # fmt: skip
    assert out.splitlines() == [
        "/busybox 0:0 755", "/etc 5:6 755", "/etc/deep 5:6 755", "/etc/deep/note 5:6 644", "/note 0:0 644",
    ]  # fmt: skip
    layers = _docker(wharfd, "inspect", "-f", "{{len .RootFS.Layers}}", "copy-scratch:1", check=True)
    assert layers.stdout.strip() == "3"
    hist = _docker(
        wharfd, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "copy-scratch:1", check=True
    )
    assert hist.stdout.splitlines()[1].startswith("/bin/sh -c #(nop) COPY --chown=5:6 file:")


def test_heredoc_sources(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    r = _build(wharfd, tmp_path, "copy-heredoc:1", images, (
        "FROM busybox:latest\n"
        "ARG WHO=world\n"
        "COPY <<EOF /greeting\n"
        "hello $WHO\n"
        "EOF\n"
        "COPY --chmod=755 <<'EOF' /run.sh\n"
        "#!/bin/sh\n"
        'echo "raw $WHO"\n'
        "EOF\n"
        "COPY <<one <<two /multi/\n"
        "first\n"
        "one\n"
        "second\n"
        "two\n"
    ))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    script = "cat /greeting /multi/one /multi/two; /run.sh; stat -c '%n %a %u:%g' /greeting /run.sh"
    assert _run(wharfd, "copy-heredoc:1", "sh", "-c", script).splitlines() == [
        "hello world", "first", "second", "raw ", "/greeting 644 0:0", "/run.sh 755 0:0",
    ]  # fmt: skip


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """(the base URL, the body of data.txt) of a file server on 127.0.0.1."""
    root = tmp_path / "www"
    root.mkdir()
    body = b"downloaded\n"
    (root / "data.txt").write_bytes(body)
    os.utime(root / "data.txt", (MTIME, MTIME))
    (root / "x.txt").write_text("in a tar\n")
    with tarfile.open(root / "a.tar.gz", "w:gz") as tar:
        tar.add(root / "x.txt", "x.txt")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", body
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_add_a_url(wharfd: Daemon, tmp_path: Path, images: list[str], served: tuple[str, bytes]) -> None:
    url, body = served
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    digest = hashlib.sha256(body).hexdigest()
    r = _build(wharfd, ctx, "add-url:1", images, (
        "FROM busybox:latest\n"
        f"ADD {url}/data.txt /dl/\n"
        f"ADD --checksum=sha256:{digest} {url}/data.txt /checked.txt\n"
        f"ADD --chmod=644 {url}/data.txt /readable\n"
        f"ADD {url}/a.tar.gz /tarball/\n"
    ))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    paths = ["/dl/data.txt", "/checked.txt", "/readable", "/tarball/a.tar.gz"]
    out = _run(wharfd, "add-url:1", "stat", "-c", "%n %a %u:%g %Y", *paths)
    lines = out.splitlines()
    assert lines[:3] == [
        f"/dl/data.txt 600 0:0 {MTIME}",
        f"/checked.txt 600 0:0 {MTIME}",
        f"/readable 644 0:0 {MTIME}",
    ]
    assert lines[3].startswith("/tarball/a.tar.gz 600 0:0 ")  # a URL is not unpacked
    assert _run(wharfd, "add-url:1", "cat", "/dl/data.txt") == body.decode()
    assert email.utils.formatdate(MTIME, usegmt=True)  # (what the server sent as Last-Modified)


def test_add_a_url_that_fails(
    wharfd: Daemon, tmp_path: Path, images: list[str], served: tuple[str, bytes]
) -> None:
    url, _ = served
    wrong = "sha256:" + "0" * 64
    r = _build(
        wharfd,
        tmp_path,
        "add-url-bad:1",
        images,
        f"FROM busybox:latest\nADD --checksum={wrong} {url}/data.txt /x\n",
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"digest mismatch for {url}/data.txt: sha256:" in r.stderr + r.stdout
    assert f"(expected: {wrong})" in r.stderr + r.stdout
    r = _build(wharfd, tmp_path, "add-url-bad:1", images, f"FROM busybox:latest\nADD {url}/nope.txt /x\n")
    assert r.returncode == 1
    assert f"failed to GET {url}/nope.txt with status 404 File not found" in r.stderr + r.stdout
    assert _docker(wharfd, "image", "inspect", "add-url-bad:1").returncode == 1


def test_exclude_parents_and_link(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    for name, body in {"src/a.txt": "a", "src/b.md": "b", "src/sub/c.txt": "c", "src/sub/d.md": "d",
                       "x/a.txt": "xa", "y/a.txt": "ya", "x/y/b.txt": "xyb"}.items():  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    r = _build(wharfd, tmp_path, "copy-flags:1", images, (
        "FROM busybox:latest\n"
        "COPY --exclude=*.md --exclude=sub/*.txt src /ex/\n"
        "COPY --parents x/a.txt y/a.txt /par/\n"
        "COPY --parents ./x/./y/*.txt /pivot/\n"
        "COPY --link src/a.txt /linked\n"
    ))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    out = _run(wharfd, "copy-flags:1", "find", "/ex", "/par", "/pivot", "/linked")
    assert sorted(out.split()) == sorted([
        "/ex", "/ex/a.txt", "/ex/sub", "/ex/sub/d.md",
        "/par", "/par/x", "/par/x/a.txt", "/par/y", "/par/y/a.txt",
        "/pivot", "/pivot/y", "/pivot/y/b.txt", "/linked",
    ])  # fmt: skip


def test_chown_by_name_owns_the_made_directories_and_keeps_existing_ones(
    wharfd: Daemon, tmp_path: Path, images: list[str]
) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir/f").write_text("f\n")
    r = _build(wharfd, tmp_path, "copy-chown:1", images, (
        "FROM busybox:latest\n"
        "RUN mkdir -m 1777 /shared\n"
        "COPY --chown=nobody:tty dir /made/deep/\n"
        "COPY dir/f /shared/\n"
    ))  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    out = _run(wharfd, "copy-chown:1", "stat", "-c", "%n %u:%g %a", "/made", "/made/deep", "/made/deep/f",
               "/shared", "/shared/f")  # fmt: skip
    assert out.splitlines() == [
        "/made 65534:5 755", "/made/deep 65534:5 755", "/made/deep/f 65534:5 644", "/shared 0:0 1777",
        "/shared/f 0:0 644",
    ]  # fmt: skip
