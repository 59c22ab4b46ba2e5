"""securejoin.open_in_root and read_in_root: a path resolved inside a root from fds (the
semantics of openat2(RESOLVE_IN_ROOT)), and small files read without ever blocking."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.runtime.securejoin import open_in_root, read_in_root


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("inside\n")
    (tmp_path / "passwd").write_text("outside\n")
    os.symlink("/", r / "escape")
    os.symlink("../../../..", r / "etc" / "up")
    os.symlink("/etc", r / "abs")
    yield r


def _real(root: Path, path: str, create: str = "") -> str:
    rfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = open_in_root(rfd, path, create)
    finally:
        os.close(rfd)
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def test_resolution_stays_inside(root: Path) -> None:
    inside = {
        "/etc/../../../etc/passwd": "/etc/passwd",
        "/escape/etc/passwd": "/etc/passwd",
        "etc/up/etc": "/etc",
        "/abs/passwd": "/etc/passwd",
        "/": "",
    }
    assert {path: _real(root, path) for path in inside} == {p: f"{root}{want}" for p, want in inside.items()}
    with pytest.raises(FileNotFoundError):
        _real(root, "/nope/x")


def test_missing_components_are_made_inside(root: Path) -> None:
    r = str(root)
    os.symlink("/made/through", root / "dangling")
    assert _real(root, "/dangling/deeper", "dir") == f"{r}/made/through/deeper"
    assert _real(root, "/escape/a/file", "file") == f"{r}/a/file"
    assert (root / "a" / "file").is_file() and (root / "made" / "through" / "deeper").is_dir()


def test_symlink_loop_is_eloop(root: Path) -> None:
    os.symlink("b", root / "a")
    os.symlink("a", root / "b")
    with pytest.raises(OSError, match="symbolic links"):
        _real(root, "/a/x")


def test_read_in_root_follows_nothing_out_and_never_blocks(root: Path) -> None:
    assert read_in_root(str(root), "/etc/passwd", 100) == b"inside\n"
    os.unlink(root / "etc" / "passwd")
    os.symlink(str(root.parent / "passwd"), root / "etc" / "passwd")  # a host path, absolute
    assert read_in_root(str(root), "/etc/passwd", 100) is None  # resolves to <root>/<host path>
    os.unlink(root / "etc" / "passwd")
    os.mkfifo(root / "etc" / "passwd")
    done = threading.Event()
    result: list[bytes | None] = []
    t = threading.Thread(
        target=lambda: (result.append(read_in_root(str(root), "/etc/passwd", 100)), done.set())
    )
    t.daemon = True
    t.start()
    assert done.wait(5), "read_in_root blocked on a FIFO"
    assert result == [None]
