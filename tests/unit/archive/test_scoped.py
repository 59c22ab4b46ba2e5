"""wharf.archive.scoped on real directories: resolution never leaves the root (symlinks to /,
to /etc, `..`, loops), mounts are crossed, tar out and back keeps modes, links and hardlinks,
hostile tars stay inside, and an overlay upper directory's whiteouts become OCI markers.
Also the docker-cp placement rules of wharf.cli.copy (pure logic)."""

from __future__ import annotations

import errno
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from wharf.archive import scoped
from wharf.cli.copy import Plan, prepare, rebase_name, split_arg, split_dir_entry
from wharf.errors import InvalidArgument


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("container passwd\n")
    (r / "d" / "sub").mkdir(parents=True)
    (r / "d" / "f").write_text("f\n")
    os.symlink("/", r / "escape")
    os.symlink("/etc", r / "etcl")
    os.symlink("../../../../..", r / "d" / "up")
    os.symlink("loop2", r / "loop1")
    os.symlink("loop1", r / "loop2")
    return r


def test_symlinks_and_dotdot_resolve_inside_the_root(root: Path) -> None:
    with scoped.ScopedFS(str(root)) as fs:
        for path in (
            "/escape/etc/passwd",
            "/etcl/passwd",
            "/d/up/etc/passwd",
            "/../../etc/passwd",
            "/d/../../etc/passwd",
        ):
            with fs.resolve(path) as node:
                assert node.path == "/etc/passwd", path
                fd = os.open(node.name, os.O_RDONLY, dir_fd=node.dir_fd)
                assert os.read(fd, 100) == b"container passwd\n"
                os.close(fd)
        assert fs.real_path("/etcl") == "/etc"
        assert fs.real_path("/escape") == "/"
        with pytest.raises(OSError) as e:
            fs.resolve("/loop1/x")
        assert e.value.errno == errno.ELOOP
        with fs.resolve("/d/missing") as node:
            assert not node.exists and node.path == "/d/missing"
        with pytest.raises(FileNotFoundError):
            fs.resolve("/nope/deeper")
        with pytest.raises(NotADirectoryError):
            fs.resolve("/d/f/x")


def test_path_stat_is_dockers(root: Path) -> None:
    with scoped.ScopedFS(str(root)) as fs:
        st = scoped.path_stat(fs, "/etcl")
        assert st["name"] == "etcl" and st["linkTarget"] == "/etc" and st["mode"] & (1 << 27)
        d = scoped.path_stat(fs, "/etcl", follow=True)
        assert d["mode"] & (1 << 31) and d["linkTarget"] == ""
        f = scoped.path_stat(fs, "/d/f")
        assert f["size"] == 2 and f["mode"] == 0o644 and f["mtime"].endswith("Z")
        with pytest.raises(FileNotFoundError):
            scoped.path_stat(fs, "/nope")
    assert scoped.go_file_mode(stat.S_IFDIR | 0o1777) == (1 << 31) | (1 << 20) | 0o777
    assert scoped.go_file_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755
    assert scoped.go_file_mode(stat.S_IFCHR | 0o666) == (1 << 26) | (1 << 21) | 0o666


def test_mounts_are_crossed_and_shadow_the_root(root: Path, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "in-volume").write_text("v\n")
    (root / "data").mkdir()
    (root / "data" / "hidden").write_text("under the mount\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    mounts = [scoped.ViewMount("/data", str(vol), rw=False), scoped.ViewMount("/etc/hosts", str(hosts))]
    with scoped.ScopedFS(str(root), mounts) as fs:
        with fs.resolve("/escape/data/in-volume") as node:
            assert node.path == "/data/in-volume" and node.exists
        with fs.resolve("/data/hidden") as node:
            assert not node.exists
        assert fs.mount_of("/data/x/y") == mounts[0] and fs.mount_of("/datax") is None
        out = io.BytesIO()
        with fs.resolve("/") as node, scoped.open_tar(out) as tar:
            scoped.TarWriter(fs, tar).add(node, "")
    out.seek(0)
    with tarfile.open(fileobj=out) as t:
        names = t.getnames()
        assert "data/in-volume" in names and "data/hidden" not in names
        hosts_member = t.extractfile("etc/hosts")
        assert hosts_member is not None and hosts_member.read() == b"127.0.0.1 localhost\n"


def _tree(base: Path) -> None:
    (base / "dir" / "empty").mkdir(parents=True)
    (base / "dir").chmod(0o750)
    (base / "dir" / "exec").write_bytes(b"#!/bin/sh\n")
    (base / "dir" / "exec").chmod(0o755)
    (base / "dir" / "secret").write_bytes(b"s" * 70000)
    (base / "dir" / "secret").chmod(0o604)
    os.link(base / "dir" / "secret", base / "dir" / "hard")
    os.symlink("secret", base / "dir" / "rel")
    os.symlink("/etc/passwd", base / "dir" / "abs")
    os.chown(base / "dir" / "exec", 1234, 5678)


def _describe(base: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            rel = str(p.relative_to(base))
            link = os.readlink(p) if p.is_symlink() else ""
            data = p.read_bytes() if stat.S_ISREG(st.st_mode) else b""
            out[rel] = (stat.filemode(st.st_mode), st.st_uid, st.st_gid, link, data, st.st_nlink)
    return out


def test_tar_round_trip_keeps_modes_links_and_hardlinks(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    _tree(src)
    buf = io.BytesIO()
    with scoped.ScopedFS(str(src)) as fs, fs.resolve("/dir") as node, scoped.open_tar(buf) as tar:
        scoped.TarWriter(fs, tar).add(node, "dir")
    buf.seek(0)
    with scoped.ScopedFS(str(dst)) as fs:
        assert scoped.extract_tar(fs, "/", buf, scoped.ExtractOptions()) == 7
    assert _describe(dst) == _describe(src)
    assert (dst / "dir" / "hard").stat().st_ino == (dst / "dir" / "secret").stat().st_ino
    # owner override (cp -a for a container with a user) and rename (docker cp's rebasing)
    buf.seek(0)
    other = tmp_path / "other"
    other.mkdir()
    with scoped.ScopedFS(str(other)) as fs:
        opts = scoped.ExtractOptions(owner=(42, 43), rename=Plan("", "dir", "renamed").rename)
        scoped.extract_tar(fs, "/", buf, opts)
    assert (other / "renamed" / "exec").stat().st_uid == 42
    assert (other / "renamed" / "hard").stat().st_ino == (other / "renamed" / "secret").stat().st_ino


def _hostile(*entries: tuple[str, str, str]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for kind, name, arg in entries:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, arg
                t.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, arg
                t.addfile(info)
            else:
                info.size = len(arg)
                t.addfile(info, io.BytesIO(arg.encode()))
    buf.seek(0)
    return buf


def test_hostile_tars_stay_inside(root: Path, tmp_path: Path) -> None:
    marker = tmp_path / "outside"
    marker.mkdir()
    with scoped.ScopedFS(str(root)) as fs:
        # a symlink to / then a file through it: lands in the view's root
        scoped.extract_tar(
            fs, "/d", _hostile(("sym", "a", str(marker)), ("file", "a/pwned", "x")), scoped.ExtractOptions()
        )
        assert not (marker / "pwned").exists()
        assert (root / str(marker).lstrip("/") / "pwned").read_text() == "x"
        # through the container's own symlink to /
        scoped.extract_tar(fs, "/escape", _hostile(("file", "tmp-pwned", "y")), scoped.ExtractOptions())
        assert (root / "tmp-pwned").read_text() == "y"
        for bad in (("file", "../../x", "z"), ("hard", "h", "../../../../etc/passwd")):
            with pytest.raises(InvalidArgument):
                scoped.extract_tar(fs, "/d", _hostile(bad), scoped.ExtractOptions())
        with pytest.raises(InvalidArgument, match="cannot overwrite directory"):
            scoped.extract_tar(
                fs, "/", _hostile(("file", "d", "z")), scoped.ExtractOptions(no_overwrite_dir_non_dir=True)
            )
        assert (root / "d").is_dir()
    # a read-only mount refuses entries
    with scoped.ScopedFS(str(root), [scoped.ViewMount("/d", str(marker), rw=False)]) as fs:
        with pytest.raises(OSError) as e:
            scoped.extract_tar(fs, "/", _hostile(("file", "d/x", "z")), scoped.ExtractOptions())
        assert e.value.errno == errno.EROFS and not (marker / "x").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts and trusted.* xattrs need root")
def test_whiteouts_become_oci_markers(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "opq").mkdir(parents=True)
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    (upper / "opq" / "kept").write_text("k")
    os.mknod(upper / "gone", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    buf = io.BytesIO()
    with scoped.ScopedFS(str(upper)) as fs, fs.resolve("/") as node, scoped.open_tar(buf) as tar:
        scoped.TarWriter(fs, tar, whiteouts=True).add(node, "")
    buf.seek(0)
    with tarfile.open(fileobj=buf) as t:
        members = {m.name: m for m in t.getmembers()}
    assert set(members) == {"opq", "opq/.wh..wh..opq", "opq/kept", ".wh.gone"}
    assert not any(k.startswith("SCHILY.xattr.trusted.overlay") for k in members["opq"].pax_headers)


@pytest.mark.parametrize(
    "arg,expected",
    [
        ("c1:/etc", ("c1", "/etc")),
        ("/abs:x", ("", "/abs:x")),
        ("./a:b", ("", "./a:b")),
        ("plain", ("", "plain")),
    ],
)
def test_split_arg(arg: str, expected: tuple[str, str]) -> None:
    assert split_arg(arg) == expected


def test_docker_cp_placement_rules() -> None:
    assert split_dir_entry("/a/b/.") == ("/a/b", ".")
    assert split_dir_entry("/a/b/") == ("/a", "b")
    # into an existing directory: as is
    assert prepare("/src/d", True, "", "/dst", True, True) == Plan("/dst")
    # a directory to a new name: renamed
    assert prepare("/src/d", True, "", "/dst/new", False, False) == Plan("/dst", "d", "new")
    # contents ("/.") of a directory to a new name
    assert prepare("/src/d/.", True, "", "/dst/new", False, False) == Plan("/dst", ".", "new")
    # a file over an existing file: renamed to it
    assert prepare("/src/f", False, "", "/dst/g", True, False) == Plan("/dst", "f", "g")
    with pytest.raises(Exception, match="cannot copy directory"):
        prepare("/src/d", True, "", "/dst/file", True, False)
    with pytest.raises(Exception, match="no such directory"):
        prepare("/src/f", False, "", "/dst/newdir/", False, False)
    assert Plan("", ".", "new").rename("./x/y") == "new/x/y"
    assert Plan("", "d", "new").rename("d/x") == "new/x" and Plan("", "d", "new").rename("dd/x") == "dd/x"
    assert rebase_name("/etcl", "/etc") == ("/etc", "etcl")
    assert rebase_name("/etcl/", "/etc") == ("/etc/", "etcl")
