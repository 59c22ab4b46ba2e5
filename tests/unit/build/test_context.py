"""build/context.py on real directories: a context tar in each of Docker's compressions, names
that climb out, symlinks, the size limit, the Dockerfile's lookup and dockerd's removal of the
.dockerignore and the Dockerfile."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from wharf.build import context
from wharf.errors import InvalidArgument


def _tar(entries: dict[str, bytes | str]) -> bytes:
    """A tar of files (bytes) and symlinks ("-> target")."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, body in entries.items():
            info = tarfile.TarInfo(name)
            if isinstance(body, str):
                info.type, info.linkname = tarfile.SYMTYPE, body.removeprefix("-> ")
                tar.addfile(info)
            else:
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


COMPRESSIONS: dict[str, Callable[[bytes], bytes]] = {
    "none": lambda b: b,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.mark.parametrize("kind", sorted(COMPRESSIONS))
def test_every_compression_unpacks(tmp_path: Path, kind: str) -> None:
    body = COMPRESSIONS[kind](_tar({"Dockerfile": b"FROM scratch\n", "src/a.txt": b"a"}))
    assert context.receive(io.BytesIO(body), str(tmp_path), 1 << 20) == 2
    assert (tmp_path / "src/a.txt").read_bytes() == b"a"
    assert context.read_dockerfile(str(tmp_path), "") == ("Dockerfile", "FROM scratch\n")


def test_a_tar_that_stops_after_its_last_data_is_whole_as_go_reads_it(tmp_path: Path) -> None:
    """The docker CLI's context with a Dockerfile from stdin ends right after the Dockerfile's
    bytes: no padding, no end-of-archive blocks. Cut inside an entry's data, it still fails."""
    whole = _tar({"f": b"hi\n", ".dockerfile.x": b"FROM scratch\n"})
    end = whole.index(b"FROM scratch\n") + len(b"FROM scratch\n")
    (tmp_path / "a").mkdir()
    assert context.receive(io.BytesIO(whole[:end]), str(tmp_path / "a"), 1 << 20) == 2
    assert (tmp_path / "a/.dockerfile.x").read_bytes() == b"FROM scratch\n"
    (tmp_path / "b").mkdir()
    with pytest.raises(InvalidArgument, match="unexpected end of data"):
        context.receive(io.BytesIO(whole[: end - 3]), str(tmp_path / "b"), 1 << 20)


def test_names_that_climb_out_are_refused(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    with pytest.raises(InvalidArgument, match=r"'\.\./evil' is outside of '/'"):
        context.receive(io.BytesIO(_tar({"../evil": b"x"})), str(tmp_path / "ctx"), 1 << 20)
    assert not (tmp_path / "evil").exists()


def test_a_symlink_out_is_kept_but_never_followed(tmp_path: Path) -> None:
    body = _tar({"Dockerfile": "-> /etc/passwd", "out": "-> /", "out/x": b"through the link"})
    context.receive(io.BytesIO(body), str(tmp_path), 1 << 20)
    # "out/x" is resolved in the context: the link to / is its root there, as under dockerd's chroot
    assert not Path("/x").exists() and (tmp_path / "x").read_bytes() == b"through the link"
    assert os.readlink(tmp_path / "Dockerfile") == "/etc/passwd"
    # the Dockerfile resolves inside the context, where /etc/passwd is not
    with pytest.raises(InvalidArgument, match="Cannot locate specified Dockerfile: Dockerfile"):
        context.read_dockerfile(str(tmp_path), "")


def test_the_size_limit(tmp_path: Path) -> None:
    body = gzip.compress(_tar({"big": b"\0" * (1 << 20)}))
    with pytest.raises(context.ContextTooLarge, match="larger than 65536 bytes"):
        context.receive(io.BytesIO(body), str(tmp_path), 1 << 16)


def test_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        context.receive(io.BytesIO(gzip.compress(b"FROM scratch\n")), str(tmp_path), 1 << 20)


def test_dockerfile_lookup(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/Dockerfile.dev").write_text("FROM busybox\n")
    (tmp_path / "empty").write_text("")
    assert context.read_dockerfile(str(tmp_path), "sub/Dockerfile.dev") == (
        "sub/Dockerfile.dev",
        "FROM busybox\n",
    )
    assert context.read_dockerfile(str(tmp_path), "./sub/../sub/Dockerfile.dev")[0] == "sub/Dockerfile.dev"
    with pytest.raises(InvalidArgument, match="^Cannot locate specified Dockerfile: Dockerfile$"):
        context.read_dockerfile(str(tmp_path), "")
    with pytest.raises(InvalidArgument, match=r"^the Dockerfile \(empty\) cannot be empty$"):
        context.read_dockerfile(str(tmp_path), "empty")


def test_dockerignore_removes_itself_and_the_dockerfile_only(tmp_path: Path) -> None:
    for name, text in {"Dockerfile": "FROM x\n", ".dockerignore": "Dockerfile\n.dockerignore\n*.log\n",
                       "keep.log": "the client filters the rest"}.items():  # fmt: skip
        (tmp_path / name).write_text(text)
    context.drop_ignored(str(tmp_path), "Dockerfile")
    assert sorted(os.listdir(tmp_path)) == ["keep.log"]
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    context.drop_ignored(str(tmp_path), "Dockerfile")  # no .dockerignore: nothing to do
    assert (tmp_path / "Dockerfile").exists()


def test_a_kept_context_directory_is_synced_to_each_tar(tmp_path: Path) -> None:
    """sync: unchanged files stay (same inode), changed and racy ones are rewritten, what the tar
    lacks goes, and no entry is written through a symlink of the context."""
    from wharf.build import sync

    ctx = tmp_path / "0" / "files"
    ctx.mkdir(parents=True)

    def tar(entries: dict[str, tuple[bytes, int]]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
            for name, (body, mtime) in entries.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(body), mtime, 0o644
                t.addfile(info, io.BytesIO(body))
        return buf.getvalue()

    old = 1_600_000_000
    assert sync.sync(io.BytesIO(tar({"a": (b"one", old), "d/b": (b"two", old)})), str(ctx), 1 << 20) == 2
    inode = (ctx / "a").stat().st_ino
    sync.sync(io.BytesIO(tar({"a": (b"one", old), "d/c": (b"three", old)})), str(ctx), 1 << 20)
    assert (ctx / "a").stat().st_ino == inode  # kept: not written again
    assert not (ctx / "d/b").exists() and (ctx / "d/c").read_bytes() == b"three"
    now = int(time.time())
    sync.sync(io.BytesIO(tar({"n": (b"AAA", now)})), str(ctx), 1 << 20)
    sync.sync(io.BytesIO(tar({"n": (b"BBB", now)})), str(ctx), 1 << 20)  # same size and second
    assert (ctx / "n").read_bytes() == b"BBB" and not (ctx / "a").exists()
    (tmp_path / "outside").mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        link = tarfile.TarInfo("link")
        link.type, link.linkname = tarfile.SYMTYPE, str(tmp_path / "outside")
        t.addfile(link)
        f = tarfile.TarInfo("link/evil")
        f.size = 1
        t.addfile(f, io.BytesIO(b"x"))
    sync.sync(io.BytesIO(buf.getvalue()), str(ctx), 1 << 20)
    assert os.listdir(tmp_path / "outside") == [] and (ctx / "link/evil").read_bytes() == b"x"
    with pytest.raises(InvalidArgument, match=r"'\.\./up' is outside of '/'"):
        sync.sync(io.BytesIO(_tar({"../up": b"x"})), str(ctx), 1 << 20)


def test_a_context_past_the_limit_is_refused_while_it_arrives(tmp_path: Path) -> None:
    from wharf.build import sync

    (tmp_path / "0").mkdir()
    body = _tar({"big": b"x" * 100_000})
    with pytest.raises(context.ContextTooLarge, match="larger than 50000 bytes"):
        sync.sync(io.BytesIO(body), str(tmp_path / "0"), 50_000)


def test_prune_removes_the_kept_context_directories_no_build_holds(tmp_path: Path) -> None:
    from wharf.build import sync

    held = sync.acquire(str(tmp_path), "a")
    free = sync.acquire(str(tmp_path), "b")
    (Path(free.path) / "f").write_bytes(b"x" * 1000)
    free.release()
    assert sync.prune(str(tmp_path)) >= 1000
    names = os.listdir(tmp_path / "builder" / "contexts")
    assert names == [os.path.basename(os.path.dirname(held.path))]  # the one in use stays
    held.release()
