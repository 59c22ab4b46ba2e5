"""Layer apply: whiteouts, opaque dirs, links, devices, metadata, and a table of hostile tars."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest
import zstandard

from wharf.archive.apply import apply_layer
from wharf.archive.compression import HashingReader, decompressed
from wharf.errors import InvalidArgument
from wharf.oci.digest import sha256_digest

IS_ROOT = os.geteuid() == 0


def make_tar(entries: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e["name"])
            info.type = e.get("type", tarfile.REGTYPE)
            info.mode = e.get("mode", 0o644)
            info.uid, info.gid = e.get("uid", 0), e.get("gid", 0)
            info.mtime = e.get("mtime", 1_600_000_000)
            info.linkname = e.get("linkname", "")
            info.devmajor, info.devminor = e.get("dev", (0, 0))
            info.pax_headers = e.get("pax", {})
            data = e.get("data", b"")
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return buf.getvalue()


def apply(tar: bytes, root: Path, **kw: Any) -> None:
    root.mkdir(exist_ok=True)
    apply_layer(io.BytesIO(tar), str(root), **kw)


DIR = tarfile.DIRTYPE
SYM = tarfile.SYMTYPE
LNK = tarfile.LNKTYPE


def test_files_dirs_links_metadata(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply(
        make_tar(
            [
                {"name": "etc/", "type": DIR, "mode": 0o750, "mtime": 1_500_000_000},
                {"name": "etc/passwd", "data": b"root:x:0:0\n", "mode": 0o600, "uid": 7, "gid": 8},
                {"name": "etc/hard", "type": LNK, "linkname": "etc/passwd"},
                {"name": "bin/sh", "type": SYM, "linkname": "/bin/busybox"},
                {"name": "x", "data": b"x", "pax": {"SCHILY.xattr.user.k": "v"}},
                {"name": "fifo", "type": tarfile.FIFOTYPE},
            ]
        ),
        root,
    )
    assert (root / "etc/passwd").read_bytes() == b"root:x:0:0\n"
    st = os.stat(root / "etc/passwd")
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_mtime == 1_600_000_000
    assert os.stat(root / "etc/hard").st_ino == st.st_ino
    assert os.readlink(root / "bin/sh") == "/bin/busybox"
    assert stat.S_IMODE(os.stat(root / "etc").st_mode) == 0o750
    assert os.stat(root / "etc").st_mtime == 1_500_000_000
    assert stat.S_ISFIFO(os.lstat(root / "fifo").st_mode)
    if IS_ROOT:
        assert (st.st_uid, st.st_gid) == (7, 8)
    try:
        assert os.getxattr(root / "x", "user.k") == b"v"
    except OSError:
        pass  # filesystem without user xattrs


def test_whiteouts_remove_mode(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply(
        make_tar([{"name": "a/1", "data": b"1"}, {"name": "a/2"}, {"name": "b/c/d"}, {"name": "keep"}]), root
    )
    apply(
        make_tar([{"name": "a/.wh..wh..opq"}, {"name": "a/3"}, {"name": ".wh.b"}, {"name": "a/4"}]),
        root,
    )
    assert sorted(os.listdir(root)) == ["a", "keep"]
    assert sorted(os.listdir(root / "a")) == ["3", "4"]


@pytest.mark.root
def test_whiteouts_overlay_mode(tmp_path: Path) -> None:
    root = tmp_path / "upper"
    apply(make_tar([{"name": "a/.wh..wh..opq"}, {"name": ".wh.b"}, {"name": "a/3"}]), root, overlay=True)
    st = os.lstat(root / "b")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(root / "a", "trusted.overlay.opaque") == b"y"


@pytest.mark.root
def test_device_nodes_and_ownership(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply(make_tar([{"name": "dev/null", "type": tarfile.CHRTYPE, "dev": (1, 3), "mode": 0o666}]), root)
    st = os.lstat(root / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


def test_replace_dir_with_file_and_back(tmp_path: Path) -> None:
    root = tmp_path / "root"
    apply(make_tar([{"name": "p/q"}]), root)
    apply(make_tar([{"name": "p", "data": b"file"}]), root)
    assert (root / "p").read_bytes() == b"file"
    apply(make_tar([{"name": "p/", "type": DIR}, {"name": "p/r"}]), root)
    assert os.listdir(root / "p") == ["r"]


# name, entries, expected error (None = contained: applied, nothing outside)
HOSTILE: list[tuple[str, list[dict[str, Any]], str | None]] = [
    ("dotdot file", [{"name": "../evil", "data": b"x"}], "path escapes the root"),
    ("nested dotdot", [{"name": "a/../../evil", "data": b"x"}], "path escapes the root"),
    ("absolute path", [{"name": "/evil", "data": b"x"}], "absolute path refused"),
    (
        "write through symlink dir",
        [{"name": "link", "type": SYM, "linkname": "{outside}"}, {"name": "link/evil", "data": b"x"}],
        "is not a directory",
    ),
    (
        "write through relative symlink",
        [{"name": "up", "type": SYM, "linkname": "../.."}, {"name": "up/evil", "data": b"x"}],
        "is not a directory",
    ),
    (
        "symlink then overwrite file",
        [{"name": "f", "type": SYM, "linkname": "{outside}/evil"}, {"name": "f", "data": b"x"}],
        None,
    ),
    ("hardlink to outside", [{"name": "h", "type": LNK, "linkname": "../outside/victim"}], "path escapes"),
    ("hardlink absolute", [{"name": "h", "type": LNK, "linkname": "/etc/passwd"}], "absolute path refused"),
    (
        "hardlink via symlink parent",
        [
            {"name": "s", "type": SYM, "linkname": "{outside}"},
            {"name": "h", "type": LNK, "linkname": "s/victim"},
        ],
        "is not a directory",
    ),
    ("whiteout dotdot", [{"name": ".wh..."}], "invalid whiteout"),
    ("whiteout escaping", [{"name": "../.wh.victim"}], "path escapes"),
    ("device node", [{"name": "sda", "type": tarfile.BLKTYPE, "dev": (8, 0)}], None),
    (
        "overlay xattr",
        [{"name": "d/", "type": DIR, "pax": {"SCHILY.xattr.trusted.overlay.redirect": "/x"}}],
        None,
    ),
]


@pytest.mark.parametrize("overlay", [False, True], ids=["remove", "overlay"])
@pytest.mark.parametrize("name,entries,error", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_layers(
    tmp_path: Path, name: str, entries: list[dict[str, Any]], error: str | None, overlay: bool
) -> None:
    if overlay and not IS_ROOT:
        pytest.skip("overlay whiteouts need root")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"victim")
    before = sorted(os.listdir(outside))
    for e in entries:
        e.update({k: v.replace("{outside}", str(outside)) for k, v in e.items() if isinstance(v, str)})
    root = tmp_path / "root"
    if error is None:
        apply(make_tar(entries), root, overlay=overlay)
    else:
        with pytest.raises(InvalidArgument, match=error):
            apply(make_tar(entries), root, overlay=overlay)
    assert sorted(os.listdir(outside)) == before
    assert (outside / "victim").read_bytes() == b"victim"
    assert not (tmp_path / "evil").exists()
    if name == "overlay xattr":
        assert "trusted.overlay.redirect" not in os.listxattr(root / "d")


@pytest.mark.parametrize("codec", ["none", "gzip", "zstd"])
def test_decompress_and_diffid(tmp_path: Path, codec: str) -> None:
    tar = make_tar([{"name": f"f{i}", "data": os.urandom(1000)} for i in range(50)])
    blob = {"none": tar, "gzip": gzip.compress(tar), "zstd": zstandard.ZstdCompressor().compress(tar)}[codec]
    reader = HashingReader(decompressed(io.BytesIO(blob)))
    root = tmp_path / "root"
    root.mkdir()
    apply_layer(reader, str(root))
    reader.drain()
    assert reader.digest() == sha256_digest(tar)
    assert len(os.listdir(root)) == 50
