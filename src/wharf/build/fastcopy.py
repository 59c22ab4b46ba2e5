"""COPY's sources written straight into the image's view, file by file, without a tar between.

``copying.put`` streams a tar of the sources into ``archive.scoped.extract_tar``: exact for
every case, but each entry is packed, parsed and resolved again from the root. For the common
case (files, directories and symlinks landing where no other kind of file is in the way) this
writes them directly: the landing directory is resolved in scope once; everything under it is
made with ``*at`` calls relative to directory descriptors opened ``O_NOFOLLOW`` (a symlink of
the image on the way is never followed: it makes this path give up), regular files copied
with ``copy_file_range``. Owners are mapped as the extraction maps them (``fs.ids``), modes
and mtimes as the tar would carry them, directories' metadata set after their contents.

Anything else (hard links, devices, ``--parents`` trees, a directory where a file is to land or
the other way round, an image symlink on the way) raises ``Unsupported``: the caller then
takes the tar path, which overwrites what this one wrote.
"""

from __future__ import annotations

import os
import posixpath
import stat
from typing import TYPE_CHECKING

from wharf.build.sources import DIR, FILE, Entry

if TYPE_CHECKING:
    from wharf.archive.scoped import ScopedFS
    from wharf.build.sources import Chmod, Source

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Unsupported(Exception):
    """Not a case for this path: take the tar path."""


def supported(plain: list[Source]) -> bool:
    for s in plain:
        if s.kind not in (FILE, DIR):
            return False
        for e in s.entries:
            kind = stat.S_IFMT(e.mode)
            if kind not in (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK) or e.inode is not None:
                return False
    return True


def put(fs: ScopedFS, plain: list[Source], base: str, to_dir: bool, owners: Owners) -> None:
    """Blocking: every source of ``plain`` written under ``base`` (see the module text)."""
    for s in plain:
        at = posixpath.join(base, posixpath.basename(s.name)) if to_dir and s.kind == FILE else base
        # a directory's contents land in ``at`` itself (made or there already); a file at its name
        parent, top = (at, "") if s.kind == DIR else posixpath.split(at.rstrip("/") or "/")
        with fs.resolve(parent or "/", follow=True) as node:
            if not node.exists:
                raise Unsupported(parent)
            pfd = os.open(node.name, _DIR, dir_fd=node.dir_fd)
        try:
            _tree(pfd, top, s.entries, owners)
        finally:
            os.close(pfd)


class Owners:
    """The uid/gid each entry lands with, and the mode (``--chmod``)."""

    def __init__(self, fs: ScopedFS, owner: tuple[int, int] | None, keep: bool, chmod: Chmod | None) -> None:
        self._fs, self._owner, self._keep, self._chmod = fs, owner, keep, chmod

    def ids(self, e: Entry) -> tuple[int, int]:
        ids = self._owner or ((e.uid, e.gid) if self._keep else (0, 0))
        return self._fs.ids.host_ids(*ids)

    def mode(self, e: Entry) -> int:
        kind = stat.S_IFMT(e.mode)
        if self._chmod is not None and kind != stat.S_IFLNK:
            return self._chmod.apply(e.mode, kind == stat.S_IFDIR)
        return stat.S_IMODE(e.mode)


def _tree(pfd: int, top: str, entries: list[Entry], owners: Owners) -> None:
    fds: dict[str, int] = {} if top else {"": os.dup(pfd)}
    dirs: list[tuple[int, Entry]] = []
    try:
        for e in entries:
            if e.rel:
                parent, name = posixpath.split(e.rel)
                dfd = fds.get(parent) if parent else fds.get("")
                if dfd is None:
                    raise Unsupported(e.rel)
            elif top:
                dfd, name = pfd, top
            else:  # the landing directory itself: its metadata is the source directory's
                dirs.append((fds[""], e))
                continue
            fd = _one(dfd, name, e, owners)
            if fd is not None:
                fds[e.rel] = fd
                dirs.append((fd, e))
        for fd, e in reversed(dirs):  # after their contents, as the extraction does
            os.fchown(fd, *owners.ids(e))
            os.fchmod(fd, owners.mode(e))
            os.utime(fd, ns=(int(e.mtime * 1e9),) * 2)
    finally:
        for fd in fds.values():
            os.close(fd)


def _one(dfd: int, name: str, e: Entry, owners: Owners) -> int | None:
    """One entry at ``name`` in ``dfd``; a directory's descriptor is returned (kept open)."""
    kind = stat.S_IFMT(e.mode)
    try:
        have = stat.S_IFMT(os.lstat(name, dir_fd=dfd).st_mode)
    except FileNotFoundError:
        have = 0
    if kind == stat.S_IFDIR:
        if have and have != stat.S_IFDIR:
            raise Unsupported(name)
        if not have:
            os.mkdir(name, 0o700, dir_fd=dfd)
        return os.open(name, _DIR, dir_fd=dfd)
    if have == stat.S_IFDIR:
        raise Unsupported(name)
    if have:
        os.unlink(name, dir_fd=dfd)
    uid, gid = owners.ids(e)
    if kind == stat.S_IFLNK:
        os.symlink(e.link, name, dir_fd=dfd)
        os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)
        os.utime(name, ns=(int(e.mtime * 1e9),) * 2, dir_fd=dfd, follow_symlinks=False)
        return None
    fd = os.open(name, _NEW, 0o600, dir_fd=dfd)
    try:
        if e.data is not None:
            os.write(fd, e.data)
        else:
            _copy(e.path, fd)
        os.fchown(fd, uid, gid)
        os.fchmod(fd, owners.mode(e))
        for key, value in e.xattrs.items():
            os.setxattr(fd, key.removeprefix("SCHILY.xattr."), value.encode("utf-8", "surrogateescape"))
        os.utime(fd, ns=(int(e.mtime * 1e9),) * 2)
    finally:
        os.close(fd)
    return None


def _copy(path: str, out: int) -> None:
    src = os.open(path, _READ)
    try:
        size = os.fstat(src).st_size
        offset = 0
        while offset < size:
            try:
                n = os.copy_file_range(src, out, size - offset)
            except OSError:  # across filesystems that cannot: read and write
                n = os.sendfile(out, src, None, size - offset)
            if n == 0:
                break
            offset += n
    finally:
        os.close(src)
