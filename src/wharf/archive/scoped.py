"""A container's file tree as `cp`, `export` and `commit` see it, walked without ever leaving it.

The tree is a root directory (the container's mounted rootfs, or a snapshot's upper directory)
plus mounts laid over it at container paths (volumes, binds, the /etc/hosts-style files), as
Docker's daemon assembles it for `docker cp`. Nothing is mounted to build that view: the walk
switches to a mount's source when it reaches the mount's destination.

Safety (the class of CVE-2018-15664): every path is resolved here, one component at a time,
relative to directory file descriptors opened with ``O_NOFOLLOW``. A symlink met on the way is
read and its target resolved again from the view's own root (absolute targets) or from where it
sits (relative ones); ``..`` is resolved by popping the walk's own stack of directories, so it
stops at the root. This is the semantics of ``openat2(RESOLVE_IN_ROOT)``, with mounts. A
container that swaps a directory for a symlink while a copy runs makes the copy fail, never
escape: the swapped component is refused by ``O_NOFOLLOW`` when it is opened. Walks hold a
``trees.DirStack``: any depth (paths beyond PATH_MAX), a bounded number of open fds.

Tar streams written here carry numeric ownership only (no user or group names: looking names up
could load the container's NSS modules into the daemon), hardlinks as links, xattrs as PAX
``SCHILY.xattr`` records, and no sockets. Extraction goes through the same resolver and writes
with the layer applier's primitives (``O_EXCL|O_NOFOLLOW`` creates, fd-relative metadata).
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from wharf.archive import apply
from wharf.archive.compression import Readable
from wharf.base import trees
from wharf.base.idmap import IDENTITY, IdMap
from wharf.errors import InvalidArgument

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
MAX_SYMLINKS = 40
_CHUNK = 1 << 20
OVERLAY_PREFIX = "trusted.overlay."


@dataclass(frozen=True)
class ViewMount:
    """``source`` (a host directory or file, chosen by the daemon or the user) seen at
    ``destination`` (an absolute, clean container path)."""

    destination: str
    source: str
    rw: bool = True


@dataclass
class Node:
    """A resolved path: entry ``name`` of the directory ``dir_fd`` (``"."`` for a directory that
    is itself the end of the walk). ``path`` is the container path with every symlink resolved.
    The node owns ``dir_fd``; close it (or use the node as a context manager)."""

    dir_fd: int
    name: str
    path: str
    exists: bool = True

    def lstat(self) -> os.stat_result:
        return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)

    def close(self) -> None:
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def asserts_directory(path: str) -> bool:
    """A path ending in "/" or "/." names a directory (and follows a final symlink)."""
    return path.endswith(("/", "/."))


def preserve_trailing(cleaned: str, original: str) -> str:
    """``cleaned`` (a normalised ``original``) with the trailing "/." or "/" that ``original``
    had: Docker's PreserveTrailingDotOrSeparator."""
    if cleaned != "/" and original.endswith("/."):
        return cleaned + "/."
    if cleaned != "/" and original.endswith("/"):
        return cleaned + "/"
    return cleaned


def _join(parent: str, name: str) -> str:
    return "/" + name if parent in ("", "/") else f"{parent}/{name}"


@dataclass
class ScopedFS:
    """A root directory and the mounts over it (see the module docstring)."""

    root: str
    mounts: list[ViewMount] = field(default_factory=list)
    root_fd: int = -1
    ids: IdMap = IDENTITY  # userns-remap's: tars carry the ids the container sees, not the host's

    def __post_init__(self) -> None:
        self.root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._by_dest = {m.destination: m for m in self.mounts}

    def close(self) -> None:
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    def __enter__(self) -> ScopedFS:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def mount_at(self, path: str) -> ViewMount | None:
        return self._by_dest.get(path)

    @staticmethod
    def open_mount(m: ViewMount) -> tuple[int, str]:
        """A mount's source as (directory fd, name in it): (the directory, ".") for a directory,
        (its parent, its base name) for a file. The caller closes the fd."""
        if os.path.isdir(m.source):
            return os.open(m.source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), "."
        parent, base = os.path.split(m.source)
        return os.open(parent or "/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), base

    def names(self, fd: int, path: str) -> list[str]:
        """The entries of directory ``fd`` (container path ``path``) with the mounts made in it,
        sorted (a mount's destination need not exist underneath)."""
        found = set(os.listdir(fd))
        for m in self.mounts:
            parent, base = posixpath.split(m.destination)
            if parent == path and base:
                found.add(base)
        return sorted(found)

    def opener(self, m: ViewMount) -> Callable[[], int]:  # for a DirStack climbing back to m
        return lambda: self.open_mount(m)[0]

    def mount_of(self, path: str) -> ViewMount | None:
        """The innermost mount that holds ``path`` (or is at it), if any."""
        best: ViewMount | None = None
        for m in self.mounts:
            if path == m.destination or path.startswith(m.destination.rstrip("/") + "/"):
                if best is None or len(m.destination) > len(best.destination):
                    best = m
        return best

    def resolve(self, path: str, follow: bool = True, create_dirs: bool = False) -> Node:
        """Resolve the container path ``path`` inside the view. Symlinks in every component but
        the last are followed; the last too if ``follow``. A missing last component gives a node
        with ``exists=False``; a missing directory on the way raises FileNotFoundError, unless
        ``create_dirs`` (then it is made, 0755, as Docker's extraction makes parents)."""
        todo = [c for c in reversed(path.split("/")) if c not in ("", ".")]  # "" and "." dropped
        stack = trees.DirStack(self.root_fd, own=False)
        cpaths = ["/"]  # the container path of each directory of the stack
        links = 0
        try:
            while todo:
                comp = todo.pop()
                fd, cpath = stack.fd(), cpaths[-1]
                if comp == "..":
                    if stack.depth:
                        stack.pop()
                        cpaths.pop()
                    continue
                child = _join(cpath, comp)
                last = not todo
                m = self._by_dest.get(child)
                if m is not None:
                    mfd, name = self.open_mount(m)
                    if name == ".":
                        stack.push(comp, fd=mfd, reopen=self.opener(m))
                        cpaths.append(child)
                        continue
                    if not last:
                        os.close(mfd)
                        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), child)
                    return Node(mfd, name, child)
                try:
                    st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    if last:
                        return Node(os.dup(fd), comp, child, exists=False)
                    if not create_dirs:
                        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), child) from None
                    try:
                        os.mkdir(comp, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                    st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode) and (follow or not last):
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                    try:
                        target = os.readlink(comp, dir_fd=fd)
                    except OSError as e:  # no symlink any more (a live container): look again
                        if e.errno not in (errno.EINVAL, errno.ENOENT):
                            raise
                        todo.append(comp)
                        continue
                    if target.startswith("/"):
                        stack.pop(stack.depth)
                        del cpaths[1:]
                    todo.extend(c for c in reversed(target.split("/")) if c not in ("", "."))
                    continue
                if last:
                    return Node(os.dup(fd), comp, child)
                if not stat.S_ISDIR(st.st_mode):
                    raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), child)
                stack.push(comp)
                cpaths.append(child)
            return Node(os.dup(stack.fd()), ".", cpaths[-1])
        finally:
            stack.close()

    def real_path(self, path: str) -> str:
        """``path`` with every symlink resolved in scope, as far as it exists (Docker's
        FollowSymlinkInScope): the linkTarget of a path stat."""
        try:
            with self.resolve(path, follow=True) as node:
                return node.path
        except (FileNotFoundError, NotADirectoryError):
            return posixpath.normpath("/" + path)


# --- stat (the X-Docker-Container-Path-Stat header)

# Go's os.FileMode type bits: the Engine API carries modes in that encoding
GO_DIR, GO_SYMLINK, GO_DEVICE, GO_PIPE, GO_SOCKET = 1 << 31, 1 << 27, 1 << 26, 1 << 25, 1 << 24
GO_SETUID, GO_SETGID, GO_CHAR, GO_STICKY = 1 << 23, 1 << 22, 1 << 21, 1 << 20


def go_file_mode(mode: int) -> int:
    out = mode & 0o777
    kind = stat.S_IFMT(mode)
    out |= {
        stat.S_IFDIR: GO_DIR,
        stat.S_IFLNK: GO_SYMLINK,
        stat.S_IFBLK: GO_DEVICE,
        stat.S_IFCHR: GO_DEVICE | GO_CHAR,
        stat.S_IFIFO: GO_PIPE,
        stat.S_IFSOCK: GO_SOCKET,
    }.get(kind, 0)
    for bit, go in ((stat.S_ISUID, GO_SETUID), (stat.S_ISGID, GO_SETGID), (stat.S_ISVTX, GO_STICKY)):
        if mode & bit:
            out |= go
    return out


def path_stat(fs: ScopedFS, path: str, follow: bool = False) -> dict[str, Any]:
    """Docker's ContainerPathStat of ``path`` (the last component followed only if ``follow``).
    Raises FileNotFoundError if it does not exist."""
    with fs.resolve(path, follow=follow) as node:
        if not node.exists:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
        st = node.lstat()
        target = fs.real_path(node.path) if stat.S_ISLNK(st.st_mode) else ""
    clean = posixpath.normpath("/" + path)
    return {
        "name": posixpath.basename(clean) or "/",
        "size": st.st_size,
        "mode": go_file_mode(st.st_mode),
        "mtime": _rfc3339(st.st_mtime_ns),
        "linkTarget": target,
    }


def _rfc3339(ns: int) -> str:
    import datetime

    t = datetime.datetime.fromtimestamp(ns // 1_000_000_000, datetime.UTC)
    frac = ns % 1_000_000_000
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac:09d}".rstrip("0") if frac else "") + "Z"


# --- writing a tar of a subtree


class _Padded:
    """A file read for exactly ``size`` bytes: a file that shrank while it was read is padded with
    zeros, one that grew is cut, so a live container cannot break the tar stream."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.left = size

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n < 0 else min(n, self.left)
        data = os.read(self.fd, n) or bytes(n)
        self.left -= len(data)
        return data


def _xattr_headers(target: int) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(target)
    except OSError:
        return out
    for name in names:
        if name.startswith(OVERLAY_PREFIX):
            continue
        try:
            value = os.getxattr(target, name)
        except OSError:
            continue
        out["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return out


@dataclass
class TarWriter:
    """Writes entries of a ScopedFS to a tar stream. ``whiteouts`` turns an overlay upper
    directory's whiteouts (0/0 char devices, opaque xattrs) into OCI ``.wh.`` entries (commit)."""

    fs: ScopedFS
    out: tarfile.TarFile
    whiteouts: bool = False
    skip: Callable[[str], bool] = lambda path: False
    links: dict[tuple[int, int], str] = field(default_factory=dict)

    def add(self, node: Node, arcname: str) -> None:
        """``node`` (and, for a directory, everything under it) as ``arcname``."""
        if arcname == "" and node.name == ".":  # the root itself: its children, as `docker export`
            top: int | None = os.open(".", _DIR, dir_fd=node.dir_fd)
        else:
            top = self._entry(node.dir_fd, node.name, node.path, arcname)
        if top is None:
            return
        dirs = trees.DirStack(top)  # the open directories, at most a window of them
        levels: list[tuple[str, str, Iterator[str]]] = [
            (node.path, arcname, iter(self.fs.names(top, node.path)))
        ]
        try:
            while levels:
                cpath, arc, names = levels[-1]
                name = next(names, None)
                if name is None:
                    levels.pop()
                    if levels:
                        dirs.pop()
                    continue
                child, child_arc = _join(cpath, name), f"{arc}/{name}" if arc else name
                if self.skip(child):
                    continue
                m = self.fs.mount_at(child)
                if m is not None:
                    sub = self._mount_entry(m, child, child_arc)
                    reopen = self.fs.opener(m)
                else:
                    sub = self._entry(dirs.fd(), name, child, child_arc)
                    reopen = None
                if sub is not None:
                    dirs.push(name, fd=sub, reopen=reopen)
                    levels.append((child, child_arc, iter(self.fs.names(sub, child))))
        finally:
            dirs.close()

    def _mount_entry(self, m: ViewMount, cpath: str, arc: str) -> int | None:
        fd, name = self.fs.open_mount(m)
        if name == ".":
            return self._entry(fd, name, cpath, arc, own=True)
        try:
            return self._entry(fd, name, cpath, arc)
        finally:
            os.close(fd)

    def _entry(self, dir_fd: int, name: str, cpath: str, arc: str, own: bool = False) -> int | None:
        """Write one entry; for a directory return its open fd (the caller walks and closes it)."""
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            if own:
                os.close(dir_fd)
            return None  # gone meanwhile: a live container
        info = tarfile.TarInfo(arc)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = self.fs.ids.in_tar(st.st_uid, st.st_gid)
        info.uname = info.gname = ""
        info.mtime = st.st_mtime
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFDIR:
            try:
                fd = dir_fd if own else os.open(name, _DIR, dir_fd=dir_fd)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    return None  # removed, or replaced by a symlink or a file, while we looked
                raise
            info.type = tarfile.DIRTYPE
            info.pax_headers = _xattr_headers(fd)
            self.out.addfile(info)
            if self.whiteouts and _opaque(fd):
                self.out.addfile(self._marker(f"{arc}/{apply.OPAQUE_WHITEOUT}", st))
            return fd
        if own:
            os.close(dir_fd)
        if kind == stat.S_IFREG:
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self.links:
                info.type, info.linkname = tarfile.LNKTYPE, self.links[key]
                self.out.addfile(info)
                return None
            try:
                fd = os.open(name, _FILE, dir_fd=dir_fd)
            except OSError as e:
                if e.errno in (errno.ELOOP, errno.ENOENT):
                    return None  # replaced by a symlink or removed while we looked
                raise
            try:
                fst = os.fstat(fd)
                if not stat.S_ISREG(fst.st_mode):
                    return None
                info.size = fst.st_size
                info.pax_headers = _xattr_headers(fd)
                os.set_blocking(fd, True)
                self.out.addfile(info, _Padded(fd, fst.st_size))
            finally:
                os.close(fd)
            if st.st_nlink > 1:
                self.links[key] = arc
        elif kind == stat.S_IFLNK:
            try:
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dir_fd)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.EINVAL):
                    return None  # removed or replaced while we looked
                raise
            self.out.addfile(info)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            if self.whiteouts and kind == stat.S_IFCHR and st.st_rdev == 0:
                parent, base = posixpath.split(arc)
                wh = f"{apply.WHITEOUT_PREFIX}{base}"
                self.out.addfile(self._marker(f"{parent}/{wh}" if parent else wh, st))
                return None
            info.type = tarfile.CHRTYPE if kind == stat.S_IFCHR else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.out.addfile(info)
        elif kind == stat.S_IFIFO:
            info.type = tarfile.FIFOTYPE
            self.out.addfile(info)
        return None  # sockets are not archived (as Docker)

    @staticmethod
    def _marker(name: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.mtime = st.st_mtime
        info.uname = info.gname = ""
        return info


def _opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, apply.OVERLAY_OPAQUE_XATTR) == b"y"
    except OSError:
        return False


def open_tar(out: IO[bytes]) -> tarfile.TarFile:
    return tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)


# --- extracting a tar into a directory of the view


@dataclass
class ExtractOptions:
    no_overwrite_dir_non_dir: bool = False
    owner: tuple[int, int] | None = None  # every entry owned by this uid/gid instead of the tar's
    chown: bool = True  # False: entries belong to whoever extracts (docker cp to the host)
    rename: Callable[[str], str] = lambda name: name  # maps entry names (and hardlink targets)


def extract_tar(fs: ScopedFS, dest: str, stream: Readable, opts: ExtractOptions) -> int:
    """Unpack the tar ``stream`` into the directory ``dest`` (a resolved container path) of
    ``fs``. Entries are resolved in scope, under ``dest``; names that climb out of ``dest``
    are refused. Returns the number of entries."""
    state = apply.Applier(fs.root_fd, overlay=False, lowers=(), is_root=os.geteuid() == 0 and opts.chown)
    dirs: list[tuple[str, tarfile.TarInfo]] = []
    count = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|", errorlevel=2) as tar:  # type: ignore[call-overload]
            for member in apply.members(tar):
                member.name = opts.rename(member.name)
                if member.islnk():
                    member.linkname = opts.rename(member.linkname)
                name = _entry_name(member.name, dest)
                if not name:
                    continue
                if opts.owner is not None:
                    member.uid, member.gid = opts.owner
                member.uid, member.gid = fs.ids.host_ids(member.uid, member.gid)  # the container's ids
                path = posixpath.join(dest, name)
                _extract_one(fs, tar, member, path, dest, state, opts)
                if member.isdir():
                    dirs.append((path, member))
                count += 1
    except tarfile.TarError as e:
        raise InvalidArgument(f"invalid tar archive: {e}") from None
    for path, member in sorted(dirs, key=lambda d: -d[0].count("/")):
        with fs.resolve(path, follow=False) as node:
            if not node.exists or fs.mount_at(node.path) is not None:
                continue
            try:
                fd = os.open(node.name, _DIR, dir_fd=node.dir_fd)
            except OSError:
                continue
            try:
                apply.set_meta_fd(state, member, fd)
            finally:
                os.close(fd)
    return count


def _entry_name(name: str, dest: str) -> str:
    cleaned = posixpath.normpath("/" + name.lstrip("/")).lstrip("/")
    rel = posixpath.normpath(name)
    if rel == ".." or rel.startswith("../"):
        raise InvalidArgument(f"{name!r} is outside of {dest!r}")
    return cleaned


def _extract_one(
    fs: ScopedFS,
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    path: str,
    dest: str,
    state: apply.Applier,
    opts: ExtractOptions,
) -> None:
    parent, base = posixpath.split(path)
    with fs.resolve(parent, follow=True, create_dirs=True) as pnode:
        if not pnode.exists:
            try:
                os.mkdir(pnode.name, 0o755, dir_fd=pnode.dir_fd)
            except FileExistsError:  # made meanwhile (a live container): opened as it is below
                pass
        pfd = os.open(pnode.name, _DIR, dir_fd=pnode.dir_fd)
        where = _join(pnode.path, base)
    try:
        m = fs.mount_of(where)
        if m is not None and not m.rw:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), where)
        at = fs.mount_at(where)
        if at is not None:
            if member.isdir() and os.path.isdir(at.source):
                return
            raise OSError(errno.EBUSY, f"unlinkat {where}: device or resource busy")
        try:
            is_dir: bool | None = stat.S_ISDIR(os.stat(base, dir_fd=pfd, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            is_dir = None
        if opts.no_overwrite_dir_non_dir and is_dir is not None and is_dir != member.isdir():
            if is_dir:
                raise InvalidArgument(
                    f"cannot overwrite directory {where!r} with non-directory {member.name!r}"
                )
            raise InvalidArgument(f"cannot overwrite non-directory {where!r} with directory {member.name!r}")
        if is_dir is not None:
            apply.replace_existing(pfd, base, keep_dir=member.isdir())
        if member.isdir():
            if not is_dir:
                os.mkdir(base, 0o700, dir_fd=pfd)
        elif member.islnk():
            _hardlink(fs, member, dest, pfd, base)
        else:
            apply.create_node(state, tar, member, pfd, base)
    finally:
        os.close(pfd)


def _hardlink(fs: ScopedFS, member: tarfile.TarInfo, dest: str, pfd: int, base: str) -> None:
    target = _entry_name(member.linkname, dest)
    if not target:
        raise InvalidArgument(f"invalid hardlink {member.name!r} -> {member.linkname!r}")
    try:
        node = fs.resolve(posixpath.join(dest, target), follow=False)
    except (FileNotFoundError, NotADirectoryError):  # the tar's target names no file
        node = Node(-1, "", "", exists=False)
    with node:
        if not node.exists:
            why = f"invalid hardlink {member.name!r} -> {member.linkname!r}"
            raise InvalidArgument(f"{why}: target not found")
        os.link(node.name, base, src_dir_fd=node.dir_fd, dst_dir_fd=pfd, follow_symlinks=False)
