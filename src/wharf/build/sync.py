"""Build contexts received into kept directories: a rebuild writes only the files that changed.

The classic API sends the whole context with every build. Unpacking it into a fresh directory
creates every file again (on this kind of host, creating thousands of inodes right after
deleting as many costs seconds), then deleting it costs as much. So wharfd keeps a few context
directories (``<data root>/builder/contexts/<n>``, at most ``KEEP``), one build at a time each
(an exclusive ``flock``), the one last used for the same tags and Dockerfile first; ``sync``
brings one to the tar's content, as BuildKit's file sync brings its copy of a local context:

- a regular file whose type, size, mode and mtime (whole seconds) are the tar's is kept and its
  bytes skipped, as BuildKit compares stat data; but a whole-second mtime cannot tell two
  versions written in the same second apart, so a file whose mtime is not older than the last
  sync (git's "racily clean" entries) has its bytes compared; any other is written to a
  temporary name and renamed over the old one;
- directories are made, symlinks made or replaced, hard links linked to their earlier entry;
- what the tar does not hold is removed afterwards.

Safety: the tar's names are cleaned and refused when they climb out (``'../x' is outside of
'/'``, as before); every directory on the way of an entry is checked with ``lstat`` to be a
real directory, never a symlink, so no entry is written through a link the context holds (its
own symlinks may point anywhere: they are kept as links and never followed). Nothing else
writes into a context directory while its lock is held.

The tar is read by a small parser of its 512-byte blocks (ustar, PAX ``x`` records, GNU long
names): Python's tarfile costs several times more per entry, and a context is mostly entries.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import posixpath
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass

from wharf.archive.compression import Readable
from wharf.base import trees
from wharf.base.files import read_text
from wharf.errors import InvalidArgument

KEEP = 4  # context directories kept
_BLOCK = 512


@dataclass
class Entry:
    name: str
    type: bytes
    mode: int
    size: int
    mtime: int
    linkname: str


class ContextDir:
    """A kept context directory, locked for one build (``release`` when it ends)."""

    def __init__(self, path: str, fd: int) -> None:
        self.path, self._fd = path, fd

    def release(self) -> None:
        os.close(self._fd)


def acquire(data_root: str, key: str) -> ContextDir:
    """Blocking: a free context directory, the one last used for ``key`` when it is free, else
    the least recently used; a new one while fewer than KEEP exist; else a new one past KEEP
    (removed by the next ``acquire`` that finds it free and surplus)."""
    root = os.path.join(data_root, "builder", "contexts")
    os.makedirs(root, exist_ok=True)
    names = sorted((n for n in os.listdir(root) if n.isdigit()), key=int)
    owners = {n: read_text(os.path.join(root, n, "key")) for n in names}
    order = sorted(names, key=lambda n: (owners[n] != key, _mtime(os.path.join(root, n, "key"))))
    for n in order:
        got = _try_lock(os.path.join(root, n))
        if got is not None:
            _write_key(os.path.join(root, n), key)
            return ContextDir(os.path.join(root, n, "files"), got)
    n = str(max((int(x) for x in names), default=-1) + 1)
    path = os.path.join(root, n)
    os.makedirs(os.path.join(path, "files"), exist_ok=True)
    got = _try_lock(path)
    if got is None:  # another daemon thread took the new number first: take the next
        return acquire(data_root, key)
    _write_key(path, key)
    return ContextDir(os.path.join(path, "files"), got)


def context_key(tags: list[str], dockerfile: str) -> str:
    return hashlib.sha256(json.dumps([sorted(tags), dockerfile]).encode()).hexdigest()


def _try_lock(path: str) -> int | None:
    try:
        fd = os.open(os.path.join(path, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:  # pruned meanwhile
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(os.path.join(path, "lock")).st_ino != os.fstat(fd).st_ino:
            raise FileNotFoundError  # pruned between the open and the lock: not this one
        os.makedirs(os.path.join(path, "files"), exist_ok=True)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    return fd


def _mtime(path: str) -> float:
    try:
        return -os.stat(path).st_mtime  # most recent first
    except OSError:
        return 0.0


def _write_key(path: str, key: str) -> None:
    with open(os.path.join(path, "key"), "w") as f:
        f.write(key)
    now = time.time()
    os.utime(os.path.join(path, "key"), (now, now))


# --- the tar


class _Reader:
    """The body in blocks: a buffer and a position (no copy of the rest on every read)."""

    def __init__(self, src: Readable, limit: int) -> None:
        self._src, self._buf, self._pos, self.total, self._limit = src, b"", 0, 0, limit

    def _fill(self, n: int) -> None:
        parts = [self._buf[self._pos :]]
        have = len(parts[0])
        while have < n:
            chunk = self._src.read(max(1 << 20, n - have))  # few crossings of the loop
            if not chunk:
                break
            self.total += len(chunk)
            if self.total > self._limit:
                from wharf.build.context import ContextTooLarge

                raise ContextTooLarge(f"the build context is larger than {self._limit} bytes")
            parts.append(chunk)
            have += len(chunk)
        self._buf, self._pos = b"".join(parts), 0

    def read(self, n: int) -> bytes:
        if len(self._buf) - self._pos < n:
            self._fill(n)
        out = self._buf[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def pad(self, size: int) -> None:
        """The padding after ``size`` bytes of data: may be missing at the very end (Go's
        archive/tar reads such a stream as whole; the docker CLI sends one with ``-f -``)."""
        self.read(-size % _BLOCK)

    def skip(self, n: int) -> None:
        while n > 0:
            got = self.read(min(n, 1 << 20))
            if not got:
                raise InvalidArgument("the build context is not a valid archive: unexpected end of data")
            n -= len(got)


def _num(field: bytes) -> int:
    if field and field[0] & 0x80:  # base-256
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    return int(text, 8) if text else 0


def _str(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    while data:
        length_text, _, rest = data.partition(b" ")
        length = int(length_text)
        record = rest[: length - len(length_text) - 2]
        key, _, value = record.partition(b"=")
        out[key.decode()] = value.decode("utf-8", "surrogateescape")
        data = data[length:]
    return out


def entries(r: _Reader) -> Iterator[Entry]:
    """The tar's entries (their data left to the caller to read or skip, padded to blocks)."""
    pax: dict[str, str] = {}
    long_name = long_link = ""
    while True:
        header = r.read(_BLOCK)
        if len(header) < _BLOCK:
            if header:
                raise InvalidArgument("the build context is not a valid archive: unexpected end of data")
            return  # ends after an entry's data, as Go's archive/tar allows
        if header == b"\0" * _BLOCK:
            return
        if _num(header[148:156]) != sum(header[:148]) + 256 + sum(header[156:]):
            raise InvalidArgument("the build context is not a valid archive: bad header checksum")
        kind = header[156:157]
        size = _num(header[124:136])
        if kind in (b"x", b"g", b"L", b"K"):
            data = r.read(size)
            r.pad(size)
            if kind == b"x":
                pax = _pax(data)
            elif kind == b"L":
                long_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
            elif kind == b"K":
                long_link = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
            continue
        name = _str(header[0:100])
        if header[257:262] == b"ustar" and header[345:500].strip(b"\0"):
            name = _str(header[345:500]) + "/" + name
        entry = Entry(
            name=pax.get("path") or long_name or name,
            type=kind,
            mode=_num(header[100:108]) & 0o7777,
            size=int(pax["size"]) if "size" in pax else size,
            mtime=int(float(pax["mtime"])) if "mtime" in pax else _num(header[136:148]),
            linkname=pax.get("linkpath") or long_link or _str(header[157:257]),
        )
        pax, long_name, long_link = {}, "", ""
        yield entry


# --- syncing a directory to it


def sync(body: Readable, dest: str, limit: int) -> int:
    """Blocking: make ``dest`` hold exactly the tar ``body``'s files; returns its entries."""
    from wharf.build.context import decompressed

    r = _Reader(decompressed(body), limit)
    stamp = os.path.join(os.path.dirname(dest), "synced")
    # mtimes from here on may hide a change: the client read those files about when the last
    # sync began (it streams the tar as it reads), maybe in the second they changed again
    racy = int(_number(read_text(stamp))) - 2
    with open(stamp, "w") as f:
        f.write(repr(time.time()))
    seen: set[str] = set()
    dirs: set[str] = {""}
    count = 0
    try:
        for e in entries(r):
            rel = _clean(e.name)
            consumed = False
            if rel:
                _parents(dest, rel, dirs, seen)
                consumed = _apply(dest, rel, e, r, dirs, racy)
                seen.add(rel)
            if not consumed:
                r.skip(e.size)
                r.pad(e.size)
            count += 1
    except OSError as exc:
        raise InvalidArgument(f"the build context is not a valid archive: {exc}") from None
    _remove_others(dest, seen)
    return count


def _clean(name: str) -> str:
    rel = posixpath.normpath(name)
    if rel == ".." or rel.startswith("../"):
        raise InvalidArgument(f"{name!r} is outside of '/'")
    return posixpath.normpath("/" + name).lstrip("/")


def _parents(dest: str, rel: str, dirs: set[str], seen: set[str]) -> None:
    """Every directory on the way to ``rel``: a real directory (made when missing), never a link."""
    parts = rel.split("/")[:-1]
    for i in range(len(parts)):
        d = "/".join(parts[: i + 1])
        if d in dirs:
            continue
        path = os.path.join(dest, d)
        try:
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode):
                _unlink(path, st)
                os.mkdir(path, 0o755)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
        dirs.add(d)
        seen.add(d)


def _unlink(path: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        trees.remove_tree(path)
    else:
        os.unlink(path)


def _apply(dest: str, rel: str, e: Entry, r: _Reader, dirs: set[str], racy: int) -> bool:
    """One entry; True when its data (a regular file's, and its padding) was read here."""
    path = os.path.join(dest, rel)
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    if e.type == b"5":
        if st is not None and not stat.S_ISDIR(st.st_mode):
            _unlink(path, st)
            st = None
        if st is None:
            os.mkdir(path, 0o755)
        if st is None or stat.S_IMODE(st.st_mode) != e.mode:
            os.chmod(path, e.mode)
        dirs.add(rel)
    elif e.type in (b"0", b"\0", b"7"):
        same = (
            st is not None and stat.S_ISREG(st.st_mode) and st.st_size == e.size
            and int(st.st_mtime) == e.mtime and stat.S_IMODE(st.st_mode) == e.mode
        )  # fmt: skip
        if same and e.mtime < racy:
            r.skip(e.size)
            r.pad(e.size)
            return True
        data = r.read(e.size) if same else b""
        if same and len(data) == e.size and _content(path) == data:  # racy: same stat, same bytes
            r.pad(e.size)
            return True
        tmp = path + ".wharf-sync"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, data)
            left = e.size - len(data)
            while left:
                chunk = r.read(min(left, 1 << 20))
                if not chunk:
                    raise InvalidArgument("the build context is not a valid archive: unexpected end of data")
                os.write(fd, chunk)
                left -= len(chunk)
            os.fchmod(fd, e.mode)
        finally:
            os.close(fd)
        os.utime(tmp, (e.mtime, e.mtime), follow_symlinks=False)
        if st is not None and stat.S_ISDIR(st.st_mode):
            _unlink(path, st)
        os.rename(tmp, path)
        r.pad(e.size)
        return True
    elif e.type == b"2":
        if st is not None and stat.S_ISLNK(st.st_mode) and os.readlink(path) == e.linkname:
            return False
        if st is not None:
            _unlink(path, st)
        os.symlink(e.linkname, path)
    elif e.type == b"1":
        target = _clean(e.linkname)
        if st is not None:
            _unlink(path, st)
        tst = os.lstat(os.path.join(dest, target)) if target else None
        if tst is None or not stat.S_ISREG(tst.st_mode):
            raise InvalidArgument(f"invalid hardlink {e.name!r} -> {e.linkname!r}: target not found")
        os.link(os.path.join(dest, target), path, follow_symlinks=False)
    # character and block devices and fifos of a context are not copied (no COPY could use them)
    return False


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


def _content(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _remove_others(dest: str, seen: set[str]) -> None:
    for dirpath, dirnames, filenames in os.walk(dest, topdown=False):
        rel_dir = os.path.relpath(dirpath, dest)
        rel_dir = "" if rel_dir == "." else rel_dir
        for name in filenames + dirnames:
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if rel not in seen:
                path = os.path.join(dirpath, name)
                try:
                    _unlink(path, os.lstat(path))
                except FileNotFoundError:
                    pass


def prune(data_root: str) -> int:
    """Blocking: ``builder prune``: the kept context directories no build holds, removed; the
    bytes freed."""
    root = os.path.join(data_root, "builder", "contexts")
    freed = 0
    for n in sorted(os.listdir(root)) if os.path.isdir(root) else ():
        path = os.path.join(root, n)
        fd = _try_lock(path) if n.isdigit() else None
        if fd is None:
            continue  # in use by a build
        try:
            freed += trees.disk_usage(path)
            trees.remove_tree(path, ignore_errors=True)
        finally:
            os.close(fd)
    return freed
