"""``RUN --mount``: what each mount of a RUN step is on the host, as HostConfig mounts of its
container, and what is left of them in the committed layer (nothing).

The ``--mount`` values are read again when the step runs, each value expanded with the stage's
variables (BuildKit's second pass); a relative target is under the stage's WORKDIR. Then, as
BuildKit's Dockerfile frontend and its mount manager have them:

- ``bind`` (the default): ``source`` (``/`` by default) of the build context, or of
  ``from=``'s stage or image, resolved inside it (a symlink cannot point out of it). Read-only
  unless ``rw``; ``rw`` writes land in a copy (the context) or in the never-started container
  that lends the image's files, and are discarded either way;
- ``cache``: a directory kept under the data root between builds (``cachemounts``), keyed by
  its ``id`` (the target by default), started from nothing, from ``mode``/``uid``/``gid``, or
  from ``from=``'s ``source``; ``sharing`` shared, private or locked;
- ``tmpfs``: a tmpfs of ``size`` bytes (``nosuid`` only, as BuildKit mounts it);
- ``secret`` and ``ssh``: the classic builder's API has no session to get them from, so a
  required one fails with BuildKit's words and an optional one mounts nothing.

Every mount is a bind or tmpfs of the container, so none of it is in the container's upper
directory. What the runtime had to make in the rootfs to mount on (the target and the parents
the image lacked) is removed from the upper directory after the run when it is still empty, as
BuildKit's MountStubsCleaner does (``remove_stubs``).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import subprocess
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wharf.build import cachemounts
from wharf.build import instructions as ins
from wharf.build.cachemounts import CacheUsage, cache_mounts_usage, prune_cache_mounts
from wharf.build.flags import Mount, parse_mount
from wharf.build.steps import BuildFailed, StageState
from wharf.errors import InvalidArgument

if TYPE_CHECKING:
    from wharf.build.executor import Builder

__all__ = ["CacheUsage", "Planned", "cache_mounts_usage", "expanded", "normalised", "prepare",
           "prune_cache_mounts", "remove_stubs", "source_key_parts", "target_of"]  # fmt: skip

_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Planned:
    """A RUN's mounts for its container: HostConfig ``Mounts`` and ``Tmpfs``, and every target
    (for ``remove_stubs``)."""

    mounts: dict[str, dict[str, Any]] = field(default_factory=dict)  # by target: a later one wins
    tmpfs: dict[str, str] = field(default_factory=dict)
    targets: list[str] = field(default_factory=list)

    def bind(self, target: str, source: str, readonly: bool) -> None:
        self.tmpfs.pop(target, None)
        self.mounts[target] = {"Type": "bind", "Source": source, "Target": target, "ReadOnly": readonly}
        self.targets.append(target)

    def host_config(self, host: dict[str, Any]) -> None:
        """Add the mounts to a container's HostConfig."""
        if self.mounts:
            host["Mounts"] = [*(host.get("Mounts") or []), *self.mounts.values()]
        if self.tmpfs:
            host["Tmpfs"] = {**(host.get("Tmpfs") or {}), **self.tmpfs}


def expanded(st: StageState, cmd: ins.Run) -> list[Mount]:
    """The step's mounts with the stage's variables expanded in every value."""
    try:
        return [parse_mount(spec, st.expand) for spec in cmd.mount_specs]
    except InvalidArgument as e:
        raise BuildFailed(str(e)) from None


def target_of(st: StageState, m: Mount) -> str:
    """Where the mount is in the container: a relative target is under the WORKDIR."""
    target = m.target
    if not posixpath.isabs(posixpath.normpath(target) if target else "."):
        target = posixpath.normpath(posixpath.join("/", st.section.get("WorkingDir") or "/", target))
    if posixpath.normpath(target) == "/":
        raise BuildFailed(f'invalid mount target "{target}"')
    return posixpath.normpath(target)


def cache_id(m: Mount) -> str:
    return m.id or posixpath.normpath(m.target or ".")


def normalised(st: StageState, m: Mount) -> str:
    """One mount as a canonical text (every field, defaults filled in): for the step's key."""
    fields = [
        f"type={m.type}",
        f"target={target_of(st, m) if m.type not in ('secret', 'ssh') else m.target}",
    ]
    if m.type == "cache":
        fields += [f"id={cache_id(m)}", f"sharing={m.sharing or 'shared'}"]
    elif m.id:
        fields.append(f"id={m.id}")
    fields += [f"from={m.from_}", f"source={m.source}", f"ro={str(m.readonly).lower()}"]
    if m.type == "tmpfs":
        fields.append(f"size={m.size}")
    if m.type in ("secret", "ssh"):
        fields.append(f"required={str(m.required).lower()}")
    if m.env is not None:
        fields.append(f"env={m.env}")
    for key in ("mode", "uid", "gid"):
        value = getattr(m, key)
        if value is not None:
            fields.append(f"{key}={value:o}" if key == "mode" else f"{key}={value}")
    return ",".join(fields)


class _Sources:
    """The roots mounts read from: the context, and each ``from=`` image's files (lent by a
    never-started container for the step's duration)."""

    def __init__(self, b: Builder, stack: AsyncExitStack) -> None:
        self.b, self.stack = b, stack
        self.roots: dict[str, str] = {}

    async def root(self, ref: str) -> str:
        """The host directory of ``ref``'s files ("" for the context)."""
        from wharf.build.rootfs import image_fs

        if not ref:
            return self.b.opts.context_dir
        image_id = await self.b.stage_image(ref)
        if image_id not in self.roots:
            if not image_id:  # a FROM scratch stage: no files
                self.roots[image_id] = tempfile.mkdtemp(prefix="scratch-", dir=self.b.work_dir)
                self.stack.callback(_remove, self.roots[image_id])
            else:
                fs = await self.stack.enter_async_context(image_fs(self.b.engine, image_id))
                self.roots[image_id] = fs.root
        return self.roots[image_id]


async def prepare(b: Builder, st: StageState, mounts: list[Mount], stack: AsyncExitStack) -> Planned:
    """The host side of each mount, held until ``stack`` closes (caches released, images'
    files let go, copies removed)."""
    planned = Planned()
    sources = _Sources(b, stack)
    for m in mounts:
        if m.type in ("secret", "ssh"):
            _session_mount(m)
            continue
        target = target_of(st, m)
        if m.type == "tmpfs":
            opts = "exec,dev" + (f",size={m.size}" if m.size else "") + (",ro" if m.readonly else "")
            planned.mounts.pop(target, None)
            planned.tmpfs[target] = opts
            planned.targets.append(target)
        elif m.type == "cache":
            planned.bind(target, await _cache(b, m, sources, stack), m.readonly)
        else:
            planned.bind(target, await _bind(b, m, sources, stack), m.readonly)
    return planned


def _session_mount(m: Mount) -> None:
    """Secrets and SSH agents come from a client session, which the classic API has not."""
    if m.type == "secret":
        ident = m.source or m.id or posixpath.basename(m.target)
        if m.required:
            raise BuildFailed(f"secret {ident}: not found")
        return
    if m.source:
        raise BuildFailed("ssh does not support source")
    if m.required:
        raise BuildFailed(f'no SSH key "{m.id or "default"}" forwarded from the client')


def _not_found(source: str) -> BuildFailed:
    return BuildFailed(f'failed to compute cache key: "{posixpath.join("/", source)}": not found')


def resolve_in(root: str, source: str, create: bool = False) -> str | None:
    """Blocking: the host path of ``source`` inside ``root``, every symlink resolved in scope
    (None when it does not exist; made as directories with ``create``)."""
    from wharf.archive.scoped import ScopedFS

    with ScopedFS(root) as fs:
        try:
            with fs.resolve(source, follow=True, create_dirs=create) as node:
                if not node.exists:
                    if not create:
                        return None
                    os.mkdir(node.name, 0o755, dir_fd=node.dir_fd)
                path = node.path
        except OSError:  # missing on the way, not a directory, a loop of symlinks
            return None
    return root.rstrip("/") + path if path != "/" else root


async def _bind(b: Builder, m: Mount, sources: _Sources, stack: AsyncExitStack) -> str:
    from wharf.engine.runner import blocking

    root = await sources.root(m.from_)
    path = await blocking(resolve_in, root, m.source or "/")
    if path is None:
        raise _not_found(m.source)
    if m.readonly or m.from_:
        return path  # an image's files are a container's own layer: writes go with it
    copy = tempfile.mkdtemp(prefix="mount-", dir=b.work_dir)
    stack.callback(_remove, copy)
    await blocking(_copy, path, f"{copy}/src")
    return f"{copy}/src"


def _copy(src: str, dest: str) -> None:
    proc = subprocess.run(["cp", "-a", "--reflink=auto", src, dest], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildFailed(f"failed to prepare mount: {proc.stderr.strip()}")


def _remove(path: str) -> None:
    from wharf.base import trees

    trees.remove_tree(path, ignore_errors=True)


async def _cache(b: Builder, m: Mount, sources: _Sources, stack: AsyncExitStack) -> str:
    """A lease of the cache's directory (the ``source`` under it, without ``from=``)."""
    from wharf.engine.runner import blocking

    data_root = b.engine.core.paths.data_root
    source = posixpath.normpath(posixpath.join("/", m.source))
    uid, gid = m.uid or 0, m.gid or 0
    remap = b.engine.core.cfg.remap  # the ids are the container's: a remapped root owns the cache
    host_uid, host_gid = remap.ids.host_ids(uid, gid) if remap else (uid, gid)
    if m.from_:
        root = await sources.root(m.from_)
        seed = await blocking(resolve_in, root, source)
        image_id = await b.stage_image(m.from_)
        spec = cachemounts.CacheSpec(cache_id(m), f"from:{image_id}:{source}", seed)
    elif source == "/" and (m.mode, m.uid, m.gid) != (None, None, None):
        mode = 0o755 if m.mode is None else m.mode
        base = f"dir:{mode:o}:{uid}:{gid}"
        spec = cachemounts.CacheSpec(cache_id(m), base, None, mode, host_uid, host_gid)
    else:
        spec = cachemounts.CacheSpec(cache_id(m), uid=host_uid, gid=host_gid)
    lease = await cachemounts.acquire(data_root, spec, m.sharing or "shared")
    stack.callback(lease.release)
    if m.from_ or source == "/":
        return lease.path
    path = await blocking(resolve_in, lease.path, source, True)
    if path is None:
        raise _not_found(m.source)
    return path


# --- what the mounts depend on, for the step's cache key ----------------------------------------


async def source_key_parts(b: Builder, st: StageState, cmd: ins.Run) -> list[str]:
    """What the step reads through its bind mounts: the image ID of each ``from=`` and a
    checksum of each context source (names, modes, contents). A cache mount's contents are no
    part of a step's key, as in BuildKit."""
    from wharf.engine.runner import blocking

    parts = []
    for m in expanded(st, cmd):
        if m.type not in ("bind", "cache") or (m.type == "cache" and not m.from_):
            continue
        if m.from_:
            parts.append(f"from:{m.from_}={await b.stage_image(m.from_)}")
            continue
        path = await blocking(resolve_in, b.opts.context_dir, m.source or "/")
        if path is None:
            raise _not_found(m.source)
        parts.append(f"context:{m.source}={await blocking(tree_checksum, path)}")
    return parts


def tree_checksum(path: str) -> str:
    """Blocking: the SHA-256 of a file or tree's names, modes, link targets and contents."""
    from wharf.base import trees

    h = hashlib.sha256()

    def entry(rel: str, name: str, dir_fd: int) -> None:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        h.update(f"{rel}\0{st.st_mode:o}\0".encode())
        if stat.S_ISLNK(st.st_mode):
            h.update(os.readlink(name, dir_fd=dir_fd).encode())
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            with os.fdopen(fd, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        h.update(b"\n")

    if not os.path.isdir(path) or os.path.islink(path):
        parent, name = os.path.split(path)
        pfd = os.open(parent or "/", _NOFOLLOW_DIR)
        try:
            entry("", name, pfd)
        finally:
            os.close(pfd)
        return h.hexdigest()
    for d in trees.walk(path):
        h.update(f"{d.rel}/\0".encode())
        for name in d.files:
            entry(d.path(name), name, d.fd)
    return h.hexdigest()


# --- the mount stubs ------------------------------------------------------------------------------


def remove_stubs(upper: str, lowers: list[str], targets: list[str]) -> None:
    """Blocking: remove from the overlay upper directory ``upper`` each target, and each of its
    parents, that no lower layer has and that is still an empty directory or an empty file: what
    the runtime made to mount on. The parent's times are kept (BuildKit does the same, for
    reproducible layers). Nothing is followed: a symlink on the way leaves the path alone."""
    paths: set[str] = set()
    for t in targets:
        p = posixpath.normpath(t)
        while p != "/":
            paths.add(p)
            p = posixpath.dirname(p)
    for p in sorted(paths, key=lambda p: (-p.count("/"), p)):
        if not _in_lowers(lowers, p):
            _remove_if_empty(upper, p)


def _parent_fd(root: str, path: str) -> tuple[int | None, str]:
    """An fd of ``path``'s parent directory under ``root``, no symlink followed; or None and
    what stood in the way: ``missing``, ``link``, ``whiteout`` or ``file``."""
    fd = os.open(root, _NOFOLLOW_DIR)
    for comp in path.strip("/").split("/")[:-1]:
        try:
            nfd = os.open(comp, _NOFOLLOW_DIR, dir_fd=fd)
        except OSError:
            why = _kind(fd, comp)
            os.close(fd)
            return None, why
        os.close(fd)
        fd = nfd
    return fd, ""


def _kind(dir_fd: int, name: str) -> str:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return "missing"
    if stat.S_ISLNK(st.st_mode):
        return "link"
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return "whiteout"
    return "dir" if stat.S_ISDIR(st.st_mode) else "file"


def _in_lowers(lowers: list[str], path: str) -> bool:
    """Whether the image had ``path``: the first lower layer (top first) that has it or hides it
    says (conservative: a symlink on the way says yes)."""
    for lower in lowers:
        fd, why = _parent_fd(lower, path)
        if fd is not None:
            try:
                why = _kind(fd, posixpath.basename(path))
            finally:
                os.close(fd)
            if why in ("dir", "file", "link"):
                return True
        if why == "link":
            return True
        if why in ("whiteout", "file"):
            return False  # removed, or a file stands where a directory would be
    return False


def _remove_if_empty(upper: str, path: str) -> None:
    fd, _ = _parent_fd(upper, path)
    if fd is None:
        return
    name = posixpath.basename(path)
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        parent = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            child = os.open(name, _NOFOLLOW_DIR, dir_fd=fd)
            try:
                empty = not os.listdir(child)
            finally:
                os.close(child)
            if empty:
                os.rmdir(name, dir_fd=fd)
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(name, dir_fd=fd)
        else:
            return
        os.utime(fd, ns=(parent.st_atime_ns, parent.st_mtime_ns))
    except OSError:
        pass
    finally:
        os.close(fd)
