"""``RUN --mount=type=cache``'s persistent directories, kept between builds under the data root.

Each cache is named by its key: the mount's ``id`` (its target when not given) and what the
cache starts from, as BuildKit keys it (``id:<ref>``): nothing (an empty directory), the
directory ``mode``/``uid``/``gid`` asked for, or ``from=``'s image and ``source``. A key has one
or more instances, ``<data_root>/builder/cache-mounts/<digest of the key>/<n>/``, each holding
``data/`` (what the RUN container sees at the target), ``id`` (the id, for ``builder du``) and
``lock``, whose ``flock`` says who uses it:

- ``sharing=shared`` (the default): users hold a shared lock and see the same directory at the
  same time;
- ``sharing=locked``: a user holds the exclusive lock; the next one waits for it;
- ``sharing=private``: a user takes the exclusive lock of an instance nobody uses, or makes a new
  instance (kept for later builds, as BuildKit keeps it).

``prune`` removes an instance only when it can take the exclusive lock without waiting, then
renames it out of the key's directory before deleting it: a cache a running build has mounted is
never touched, and a user that opened the lock of an instance being pruned sees the lock file is
no longer the one at its path, and looks again. The locks are the kernel's, so this holds across
processes too; the mtime of ``lock`` is when the instance was last released.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import hashlib
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from typing import NamedTuple

from wharf.base import trees
from wharf.errors import FailedPrecondition

CACHE_DIR = "builder/cache-mounts"
_POLL = 0.05  # seconds between tries of a locked cache (BuildKit polls at 100ms)
_STALE = 3600.0  # a half-made instance older than this was left by a crash


class CacheUsage(NamedTuple):
    """One instance of a cache mount, for ``builder du``: ``last_used`` in seconds since the
    epoch, ``in_use`` when a build has it mounted now."""

    id: str
    size: int
    last_used: float
    in_use: bool


@dataclass(frozen=True)
class CacheSpec:
    """What a cache is made of. ``base`` is the key's part beyond the id ("" for an empty
    directory); ``seed`` a host directory whose contents a new instance starts with; ``mode``,
    ``uid``, ``gid`` (host ids) those of a new instance's ``data``."""

    id: str
    base: str = ""
    seed: str | None = None
    mode: int = 0o755
    uid: int = 0
    gid: int = 0

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.id}\0{self.base}".encode()).hexdigest()[:32]


class Lease:
    """An instance in use: ``path`` is its ``data`` directory; ``release`` lets it go."""

    def __init__(self, path: str, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        if self._fd < 0:
            return
        try:
            os.utime(self._fd)  # last used: now
        except OSError:
            pass
        os.close(self._fd)
        self._fd = -1


def cache_root(data_root: str) -> str:
    return f"{data_root}/{CACHE_DIR}"


async def acquire(data_root: str, spec: CacheSpec, sharing: str = "shared") -> Lease:
    """An instance of ``spec``'s cache for one RUN, locked as ``sharing`` says (made if need be;
    a ``locked`` one waits while another build holds it)."""
    from wharf.engine.runner import blocking

    key_dir = f"{cache_root(data_root)}/{spec.digest}"
    exclusive = sharing in ("locked", "private")
    looked_again = False
    while True:
        lease = _take_existing(key_dir, exclusive)
        if lease is not None:
            return lease
        if _instances(key_dir) and (sharing == "locked" or not looked_again):
            # locked: wait for the user; else look once more, past a usage probe's instant
            looked_again = True
            await asyncio.sleep(_POLL)
            continue
        lease = await blocking(_create, key_dir, spec, exclusive, sharing == "private")
        if lease is not None:
            return lease


def _instances(key_dir: str) -> list[str]:
    try:
        names = os.listdir(key_dir)
    except FileNotFoundError:
        return []
    return [f"{key_dir}/{n}" for n in sorted((n for n in names if n.isdigit()), key=int)]


def _lock(inst: str, exclusive: bool) -> int | None:
    """The fd of ``inst``'s lock, locked without waiting; None when someone holds it (or the
    instance was moved away meanwhile)."""
    try:
        fd = os.open(f"{inst}/lock", os.O_RDWR | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        if os.stat(f"{inst}/lock").st_ino == os.fstat(fd).st_ino and os.path.isdir(f"{inst}/data"):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _take_existing(key_dir: str, exclusive: bool) -> Lease | None:
    for inst in _instances(key_dir):
        fd = _lock(inst, exclusive)
        if fd is not None:
            return Lease(f"{inst}/data", fd)
    return None


def _create(key_dir: str, spec: CacheSpec, exclusive: bool, another: bool) -> Lease | None:
    """Blocking: a new instance, made aside and renamed to the next free number, its lock held
    from the start. None when the key's directory was pruned meanwhile, or when (not making
    ``another``: shared and locked caches have one instance) a concurrent build made one first:
    the caller then takes or waits for that one."""
    try:
        os.makedirs(key_dir, 0o700, exist_ok=True)
        tmp = f"{key_dir}/.new-{secrets.token_hex(8)}"
        os.mkdir(tmp, 0o700)
    except FileNotFoundError:
        return None
    fd = os.open(f"{tmp}/lock", os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with open(f"{tmp}/id", "w") as f:
            f.write(spec.id)
        _make_data(f"{tmp}/data", spec)
        if not exclusive:
            fcntl.flock(fd, fcntl.LOCK_SH)  # nobody else can know of it yet
        existing = _instances(key_dir)
        if existing and not another:  # made meanwhile by a concurrent build: that one is it
            os.close(fd)
            trees.remove_tree(tmp, ignore_errors=True)
            return None
        n = len(existing)
        while True:
            try:
                os.rename(tmp, f"{key_dir}/{n}")
                return Lease(f"{key_dir}/{n}/data", fd)
            except OSError as e:
                if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                if not another:
                    os.close(fd)
                    trees.remove_tree(tmp, ignore_errors=True)
                    return None
                n += 1
    except BaseException:
        os.close(fd)
        trees.remove_tree(tmp, ignore_errors=True)
        raise


def _make_data(path: str, spec: CacheSpec) -> None:
    if spec.seed is not None and os.path.isdir(spec.seed):
        proc = subprocess.run(
            ["cp", "-a", "--reflink=auto", spec.seed, path], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise FailedPrecondition(f"failed to populate cache mount {spec.id}: {proc.stderr.strip()}")
        return
    os.mkdir(path)
    os.chmod(path, spec.mode)
    if (spec.uid, spec.gid) != (os.getuid(), os.getgid()):
        os.chown(path, spec.uid, spec.gid)


# --- builder du / builder prune ------------------------------------------------------------------


def cache_mounts_usage(data_root: str) -> list[CacheUsage]:
    """Blocking: every instance of every cache mount, with its size."""
    out = []
    root = cache_root(data_root)
    for key in _listdir(root):
        for inst in _instances(f"{root}/{key}"):
            fd = _lock(inst, exclusive=True)
            in_use = fd is None
            if fd is not None:
                os.close(fd)
            try:
                last_used = os.stat(f"{inst}/lock").st_mtime
                with open(f"{inst}/id") as f:
                    ident = f.read()
            except OSError:
                continue  # pruned meanwhile
            out.append(CacheUsage(ident, trees.disk_usage(f"{inst}/data"), last_used, in_use))
    return out


def prune_cache_mounts(data_root: str, keep_used_since: float = 0.0) -> tuple[int, int]:
    """Blocking: remove the instances no build uses (only those last used before
    ``keep_used_since``, seconds since the epoch, when it is given); returns how many were
    removed and the bytes freed."""
    root = cache_root(data_root)
    count = freed = 0
    now = time.time()
    for key in _listdir(root):
        key_dir = f"{root}/{key}"
        if key.startswith(".trash-"):
            freed += trees.disk_usage(key_dir)
            trees.remove_tree(key_dir, ignore_errors=True)
            continue
        for inst in _instances(key_dir):
            fd = _lock(inst, exclusive=True)
            if fd is None:
                continue  # in use
            try:
                if keep_used_since and os.fstat(fd).st_mtime >= keep_used_since:
                    continue
                trash = f"{root}/.trash-{secrets.token_hex(8)}"
                os.rename(inst, trash)
            finally:
                os.close(fd)
            count += 1
            freed += trees.disk_usage(f"{trash}/data")
            trees.remove_tree(trash, ignore_errors=True)
        _sweep_half_made(key_dir, now)
        try:
            os.rmdir(key_dir)
        except OSError:
            pass  # not empty: instances in use (or being made)
    return count, freed


def _sweep_half_made(key_dir: str, now: float) -> None:
    for name in _listdir(key_dir):
        if name.startswith(".new-"):
            try:
                old = now - os.lstat(f"{key_dir}/{name}").st_mtime > _STALE
            except OSError:
                continue
            if old:
                trees.remove_tree(f"{key_dir}/{name}", ignore_errors=True)


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []
