"""Apply a layer tar to a directory, safely.

Two whiteout modes, one per snapshotter:

- ``overlay``: the target is the empty upper directory of a new overlay snapshot. A whiteout
  ``.wh.<name>`` becomes a 0/0 character device ``<name>`` and ``.wh..wh..opq`` becomes the
  ``trusted.overlay.opaque=y`` xattr on its directory: the kernel applies them at mount time.
  Layers unpacked this way do not depend on each other's contents, so they can be unpacked
  concurrently (a hardlink to a file of a lower layer is copied up from ``lowers``).
- ``remove``: the target is a full copy of the parent (native snapshotter). A whiteout removes the
  path; an opaque marker removes every child this layer did not itself write.

Safety: every entry name is made relative and checked not to leave the root (``../``, absolute
names are refused with InvalidArgument). Paths are walked one component at a time with
``O_NOFOLLOW`` directory fds, so no symlink (in the layer or below it) is ever followed while
writing: a parent that is a symlink is refused, and hardlink targets must resolve inside the root.
Nothing is written outside ``root``. Ownership and device nodes need root and are skipped
otherwise; ``trusted.overlay.*`` xattrs from the tar are dropped (they would steer the overlay).
Directory metadata (mode, owner, mtime) is applied last, deepest first.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from wharf.archive.compression import Readable
from wharf.base import trees
from wharf.base.idmap import IDENTITY, IdMap
from wharf.errors import InvalidArgument

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class ApplyStats:
    entries: int = 0
    bytes: int = 0


@dataclass
class Applier:
    root_fd: int
    overlay: bool
    lowers: Sequence[str]
    is_root: bool = field(default_factory=lambda: os.geteuid() == 0)
    written: set[str] = field(default_factory=set)
    dirs: list[tarfile.TarInfo] = field(default_factory=list)
    stats: ApplyStats = field(default_factory=ApplyStats)


def clean_name(name: str) -> str:
    """The entry's path relative to the root, or InvalidArgument if it would leave it."""
    if name.startswith("/"):
        raise InvalidArgument(f"layer entry {name!r}: absolute path refused")
    cleaned = posixpath.normpath(name)
    if cleaned == ".." or cleaned.startswith("../"):
        raise InvalidArgument(f"layer entry {name!r}: path escapes the root")
    return "" if cleaned == "." else cleaned


def apply_layer(
    stream: Readable,
    root: str,
    *,
    overlay: bool = False,
    lowers: Sequence[str] = (),
    ids: IdMap = IDENTITY,
) -> ApplyStats:
    """Apply the uncompressed tar ``stream`` to ``root`` (see the module docstring); ``ids``:
    userns-remap's maps, each entry owned by the host ids of the tar's."""
    root_fd = os.open(root, _DIR_FLAGS)
    state = Applier(root_fd, overlay, lowers)
    try:
        with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tar:  # type: ignore[call-overload]
            for member in tar:
                member.uid, member.gid = ids.host_ids(member.uid, member.gid)
                _apply_entry(state, tar, member)
                state.stats.entries += 1
        for info in sorted(state.dirs, key=lambda i: -i.name.count("/")):
            _finish_dir(state, info)
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid layer tar: {e}") from None
    finally:
        os.close(root_fd)
    return state.stats


def open_dir(base_fd: int, rel: str, create: bool, what: str = "") -> int:
    """Open directory ``rel`` under ``base_fd`` without following any symlink."""
    fd = os.dup(base_fd)
    for comp in rel.split("/") if rel else ():
        try:
            nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                os.close(fd)
                raise
            os.mkdir(comp, 0o755, dir_fd=fd)
            nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                raise InvalidArgument(f"layer entry {what!r}: parent {rel!r} is not a directory") from None
            raise
        os.close(fd)
        fd = nfd
    return fd


def _apply_entry(state: Applier, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    name = clean_name(member.name)
    if not name:
        return
    parent, base = posixpath.split(name)
    if base.startswith(WHITEOUT_PREFIX):
        _whiteout(state, parent, base)
        return
    state.written.add(name)
    pfd = open_dir(state.root_fd, parent, create=True, what=member.name)
    try:
        replace_existing(pfd, base, member.isdir())
        _create(state, tar, member, pfd, base)
    finally:
        os.close(pfd)


def replace_existing(pfd: int, base: str, keep_dir: bool) -> None:
    """Remove what is at ``base`` for a new entry (a directory stays when ``keep_dir``)."""
    try:
        st = os.lstat(base, dir_fd=pfd)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            trees.remove_tree(base, dir_fd=pfd)
    else:
        os.unlink(base, dir_fd=pfd)


def _remove_path(pfd: int, base: str) -> None:
    try:
        replace_existing(pfd, base, keep_dir=False)
    except FileNotFoundError:
        pass


def _whiteout(state: Applier, parent: str, base: str) -> None:
    pfd = open_dir(state.root_fd, parent, create=True, what=f"{parent}/{base}")
    try:
        if base == OPAQUE_WHITEOUT:
            _opaque(state, pfd, parent)
        elif not base.startswith(WHITEOUT_META_PREFIX):
            target = base[len(WHITEOUT_PREFIX) :]
            if target in ("", ".", ".."):
                raise InvalidArgument(f"layer entry {parent}/{base!r}: invalid whiteout")
            _remove_path(pfd, target)
            if state.overlay:
                os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
    finally:
        os.close(pfd)


def _opaque(state: Applier, pfd: int, parent: str) -> None:
    if state.overlay:
        os.setxattr(f"/proc/self/fd/{pfd}", OVERLAY_OPAQUE_XATTR, b"y")
        return
    prefix = f"{parent}/" if parent else ""
    for child in os.listdir(pfd):
        if prefix + child not in state.written:
            _remove_path(pfd, child)


def _create(state: Applier, tar: tarfile.TarFile, member: tarfile.TarInfo, pfd: int, base: str) -> None:
    if member.isdir():
        if not os.path.lexists(f"/proc/self/fd/{pfd}/{base}"):
            os.mkdir(base, 0o700, dir_fd=pfd)
        state.dirs.append(member)
    elif member.islnk():
        _hardlink(state, member, pfd, base)
    else:
        create_node(state, tar, member, pfd, base)


def create_node(state: Applier, tar: tarfile.TarFile, member: tarfile.TarInfo, pfd: int, base: str) -> None:
    """Create ``member`` (a file, symlink, device node or fifo) as ``base`` in directory ``pfd``,
    with its metadata: what layer apply and `cp` extraction share."""
    if member.isreg():
        write_file(state, tar, member, pfd, base)
    elif member.issym():
        os.symlink(member.linkname, base, dir_fd=pfd)
        set_meta(state, member, pfd, base, chmod=False)
    elif member.ischr() or member.isblk() or member.isfifo():
        make_node(state, member, pfd, base)
    else:
        raise InvalidArgument(f"layer entry {member.name!r}: unsupported type {member.type!r}")


def write_file(state: Applier, tar: tarfile.TarFile, member: tarfile.TarInfo, pfd: int, base: str) -> None:
    src = tar.extractfile(member)
    assert src is not None
    fd = os.open(
        base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd
    )
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            while chunk := src.read(_CHUNK):
                out.write(chunk)
                state.stats.bytes += len(chunk)
        set_meta_fd(state, member, fd)
    finally:
        os.close(fd)


def _hardlink(state: Applier, member: tarfile.TarInfo, pfd: int, base: str) -> None:
    target = clean_name(member.linkname)
    tparent, tbase = posixpath.split(target)
    if not tbase:
        raise InvalidArgument(f"layer entry {member.name!r}: hardlink to the root")
    try:
        tfd = open_dir(state.root_fd, tparent, create=False, what=member.name)
    except FileNotFoundError:
        tfd = -1
    try:
        if tfd < 0 or not os.path.lexists(f"/proc/self/fd/{tfd}/{tbase}"):
            if tfd >= 0:
                os.close(tfd)
            tfd = _copy_up(state, target, member.name)
        os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
    finally:
        if tfd >= 0:
            os.close(tfd)


def _copy_up(state: Applier, target: str, what: str) -> int:
    """For an overlay layer: bring a lower layer's file up so a hardlink can point at it."""
    tparent, tbase = posixpath.split(target)
    for lower in state.lowers:
        lower_fd = os.open(lower, _DIR_FLAGS)
        try:
            src_parent = open_dir(lower_fd, tparent, create=False, what=what)
        except (FileNotFoundError, InvalidArgument):
            continue
        finally:
            os.close(lower_fd)
        try:
            st = os.lstat(tbase, dir_fd=src_parent)
        except FileNotFoundError:
            os.close(src_parent)
            continue
        dst_parent = open_dir(state.root_fd, tparent, create=True, what=what)
        try:
            _copy_node(src_parent, dst_parent, tbase, st, what)
        finally:
            os.close(src_parent)
        return dst_parent
    raise InvalidArgument(f"layer entry {what!r}: hardlink target {target!r} not found")


def _copy_node(src_parent: int, dst_parent: int, name: str, st: os.stat_result, what: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise InvalidArgument(f"layer entry {what!r}: hardlink target is not a regular file")
    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_parent)
    dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dst_parent)
    try:
        while os.sendfile(dst, src, None, _CHUNK):
            pass
        if os.geteuid() == 0:
            os.fchown(dst, st.st_uid, st.st_gid)
        os.fchmod(dst, stat.S_IMODE(st.st_mode))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(src)
        os.close(dst)


def make_node(state: Applier, member: tarfile.TarInfo, pfd: int, base: str) -> None:
    if member.isfifo():
        os.mkfifo(base, 0o600, dir_fd=pfd)
    elif not state.is_root:
        return
    else:
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(base, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=pfd)
    set_meta(state, member, pfd, base, chmod=True)


def _xattrs(member: tarfile.TarInfo) -> list[tuple[str, bytes]]:
    out = []
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr.") :]
            if not name.startswith("trusted.overlay."):
                out.append((name, value.encode("utf-8", "surrogateescape")))
    return out


def _set_xattr(target: int | str, name: str, value: bytes) -> None:
    try:
        if isinstance(target, int):
            os.setxattr(target, name, value)
        else:
            os.setxattr(target, name, value, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EACCES):
            raise


def _ns(member: tarfile.TarInfo) -> tuple[int, int]:
    mtime = int(float(member.mtime) * 1_000_000_000)
    atime = member.pax_headers.get("atime")
    return (int(float(atime) * 1_000_000_000) if atime else mtime, mtime)


def set_meta_fd(state: Applier, member: tarfile.TarInfo, fd: int) -> None:
    if state.is_root:
        os.fchown(fd, member.uid, member.gid)
    os.fchmod(fd, member.mode & 0o7777)
    for name, value in _xattrs(member):
        _set_xattr(fd, name, value)
    os.utime(fd, ns=_ns(member))


def set_meta(state: Applier, member: tarfile.TarInfo, pfd: int, base: str, chmod: bool) -> None:
    if state.is_root:
        os.chown(base, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
    if chmod:
        os.chmod(base, member.mode & 0o7777, dir_fd=pfd)
    if not member.issym():
        for name, value in _xattrs(member):
            _set_xattr(f"/proc/self/fd/{pfd}/{base}", name, value)
    os.utime(base, ns=_ns(member), dir_fd=pfd, follow_symlinks=False)


def _finish_dir(state: Applier, member: tarfile.TarInfo) -> None:
    name = clean_name(member.name)
    try:
        fd = open_dir(state.root_fd, name, create=False, what=member.name)
    except (FileNotFoundError, InvalidArgument):
        return  # removed or replaced later in the same layer
    try:
        set_meta_fd(state, member, fd)
    finally:
        os.close(fd)


def members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The archive's entries, ending as Go's archive/tar ends: a stream that stops right after
    the last entry's data, with neither its padding nor the end-of-archive blocks, is whole (the
    docker CLI sends such a build context when the Dockerfile comes from stdin). A stream cut
    inside an entry's data still fails, when that data is read."""
    it = iter(tar)
    while True:
        try:
            yield next(it)
        except StopIteration:
            return
        except tarfile.ReadError as exc:
            if str(exc) == "unexpected end of data" and tar.offset > 0:
                return
            raise
