"""A container's files from outside: `cp` (the archive endpoints), `export` and `commit`.

The view `cp` works on is Docker's: the container's rootfs with its volumes, binds and the
/etc/{hosts,hostname,resolv.conf} files laid over it (tmpfs mounts are not part of it). A stopped
container's rootfs is mounted for the operation and taken down after; the container's lock is held
throughout so a start cannot race with it. All path handling is wharf.archive.scoped's: nothing a
container plants (symlinks to /, to /etc, `..`) makes the daemon read or write host files.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import IO, TYPE_CHECKING, Any

from wharf.archive import scoped
from wharf.archive.compression import Readable
from wharf.base.idmap import IDENTITY, IdMap
from wharf.errors import Conflict, InvalidArgument, NotFound

if TYPE_CHECKING:
    from wharf.engine.containers import Container
    from wharf.engine.core import Core

# what the runtime adds to every container's rootfs as mount points: not the container's changes
RUNTIME_PATHS = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev", "/proc", "/sys"})


def view_mounts(container_dir: str, c: Container) -> list[scoped.ViewMount]:
    from wharf.engine.specgen import ContainerFiles

    binds = ContainerFiles.under(container_dir).binds()
    out = [scoped.ViewMount(dest, src) for dest, src in binds if os.path.exists(src)]
    for m in c.mounts:
        if m["Type"] in ("volume", "bind") and m.get("Source"):
            out = [x for x in out if x.destination != m["Destination"]]
            out.append(scoped.ViewMount(m["Destination"], m["Source"], bool(m.get("RW", True))))
    return out


@asynccontextmanager
async def container_fs(core: Core, c: Container, volumes: bool = True) -> AsyncIterator[scoped.ScopedFS]:
    """The container's view, under its lock (see the module docstring); without ``volumes``,
    its rootfs alone (what `export` archives)."""
    from wharf.engine.runner import blocking
    from wharf.snapshots.mount import mount_all, unmount

    async with core.waiters.lock(c.id):
        if c.state.status.going or c.id not in core.store.by_id:
            raise Conflict(f"container {c.id} is marked for removal")
        rootfs = core.paths.rootfs_dir(c.id)
        mounted = False
        acquired: list[str] = []
        try:
            if not os.path.ismount(rootfs):
                mounts = await blocking(core.images.snapshots.mounts, c.snapshot_key)
                os.makedirs(rootfs, 0o700, exist_ok=True)
                await blocking(mount_all, mounts, rootfs)
                mounted = True
                for m in c.mounts if volumes else ():  # a stopped container's local-driver devices
                    if m["Type"] == "volume":
                        core.volumes.acquire_device(core.volumes.get(m["Name"]))
                        acquired.append(m["Name"])
            views = view_mounts(core.paths.container_dir(c.id), c) if volumes else []
            remap = core.cfg.remap
            ids = remap.ids if remap else IDENTITY  # the daemon's layers are shifted, --userns=host or not
            fs = await blocking(lambda: scoped.ScopedFS(rootfs, views, ids=ids))
            try:
                yield fs
            finally:
                fs.close()
        finally:
            for name in acquired:
                core.volumes.release_device(name)
            if mounted:
                await blocking(unmount, rootfs)


def _not_found(path: str, name: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {name}")


# what an OSError means when the path (or a directory on the way) is not there, or stopped
# being a directory or a file while we looked: a live container may swap it at any moment
_MISSING = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})


@contextmanager
def _found(path: str, name: str) -> Iterator[None]:
    """Docker's 404 for a missing ``path`` of container ``name``, however the system said it."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _MISSING:
            raise _not_found(path, name) from None
        raise


def _abs(path: str) -> str:
    """Docker's filepath.Join("/", path) that keeps a trailing "/" or "/."."""
    return scoped.preserve_trailing(posixpath.normpath("/" + path), path)


def stat_path(fs: scoped.ScopedFS, path: str, name: str) -> dict[str, Any]:
    with _found(path, name):
        st = scoped.path_stat(fs, _abs(path), follow=scoped.asserts_directory(path))
        if scoped.asserts_directory(path) and not st["mode"] & scoped.GO_DIR:
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        return st


def open_archive(fs: scoped.ScopedFS, path: str, name: str) -> tuple[scoped.Node, dict[str, Any]]:
    """What `docker cp CONTAINER:path` will read, resolved, and its stat (the answer's header),
    both before the answer starts: a path that is missing, or goes while we look, is a 404."""
    st = stat_path(fs, path, name)
    with _found(path, name):
        node = fs.resolve(_abs(path), follow=scoped.asserts_directory(path))
    if not node.exists:
        node.close()
        raise _not_found(path, name)
    return node, st


def archive_node(fs: scoped.ScopedFS, node: scoped.Node, path: str, out: IO[bytes]) -> None:
    """The tar of ``node`` (``open_archive``'s) that `docker cp CONTAINER:path` reads: the
    resource under its own base name (a directory's entries under it; "/." asks for the
    contents, "/" for the whole tree). What goes while the tar is written is left out."""
    absp = _abs(path)
    base = posixpath.basename(absp.rstrip("/")) if absp != "/" else ""
    if absp.endswith("/."):
        base = "."
    with node, scoped.open_tar(out) as tar:
        scoped.TarWriter(fs, tar).add(node, base)


def extract_to(
    c: Container,
    fs: scoped.ScopedFS,
    path: str,
    name: str,
    stream: Readable,
    copy_uid_gid: bool,
    no_overwrite_dir_non_dir: bool,
) -> None:
    """`docker cp SRC CONTAINER:path`: unpack the client's tar into the directory at ``path``
    (a symlink to a directory is followed), with Docker's checks and errors. The directory
    going while the tar is unpacked is a 404 too."""
    with _found(path, name):
        node = fs.resolve(_abs(path), follow=True)
        with node:
            if not node.exists:
                raise _not_found(path, name)
            if not stat.S_ISDIR(node.lstat().st_mode):
                raise InvalidArgument("extraction point is not a directory")
            dest = node.path
        m = fs.mount_of(dest)
        if m is not None and not m.rw:
            raise InvalidArgument("mounted volume is marked read-only")
        if m is None and c.host_config.get("ReadonlyRootfs"):
            raise InvalidArgument("container rootfs is marked read-only")
        owner: tuple[int, int] | None = None
        if copy_uid_gid and c.config.get("User"):
            from wharf.engine.specgen import resolve_user

            uid, gid, _ = resolve_user(fs.root, str(c.config["User"]))
            owner = (uid, gid)
        opts = scoped.ExtractOptions(no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, owner=owner)
        try:
            scoped.extract_tar(fs, dest, stream, opts)
        except OSError as e:  # a loop of the tar's own symlinks is the tar's fault (400), not a 404
            if e.errno != errno.ELOOP:
                raise
            raise InvalidArgument(f"{e.filename or path}: too many levels of symbolic links") from None


def export_rootfs(fs: scoped.ScopedFS, out: IO[bytes]) -> None:
    """`docker export`: the tree of ``fs`` (the rootfs, opened without volumes), every entry
    relative to /."""
    with fs.resolve("/") as node, scoped.open_tar(out) as tar:
        scoped.TarWriter(fs, tar).add(node, "")


# --- commit


def runtime_only(upper: str) -> set[str]:
    """Paths of the container's layer that only the runtime made (mount points for /etc/hosts
    and friends, /proc, /sys, /dev when the image lacks them, and directories holding nothing
    else): Docker keeps these in an init layer, so `diff` and `commit` leave them out."""
    fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    out: set[str] = set()

    def only(path: str) -> bool:
        parent_of = any(p.startswith(path + "/") for p in RUNTIME_PATHS)
        if path not in RUNTIME_PATHS and not parent_of:
            return False
        try:
            s = os.stat(path.lstrip("/"), dir_fd=fd, follow_symlinks=False)
        except OSError:
            return False
        if stat.S_ISREG(s.st_mode):
            ok = path in RUNTIME_PATHS and s.st_size == 0
        elif stat.S_ISDIR(s.st_mode):
            dfd = os.open(path.lstrip("/"), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            try:
                children = os.listdir(dfd)
            finally:
                os.close(dfd)
            ok = all([only(f"{path}/{n}") for n in children])
        else:
            ok = False
        if ok:
            out.add(path)
        return ok

    try:
        for top in {"/" + p.strip("/").split("/")[0] for p in RUNTIME_PATHS}:
            only(top)
    finally:
        os.close(fd)
    return out


def layer_of(upper: str, out: IO[bytes], ids: IdMap | None = None) -> None:
    """The container's layer as an OCI layer tar: its overlay upper directory, whiteouts as
    ``.wh.`` entries, without what only the runtime made; ``ids``: the daemon's remap (the
    tar carries the ids the container sees)."""
    skip = runtime_only(upper)
    with scoped.ScopedFS(upper, ids=ids or IDENTITY) as fs:
        with fs.resolve("/") as node, scoped.open_tar(out) as tar:
            scoped.TarWriter(fs, tar, whiteouts=True, skip=skip.__contains__).add(node, "")
