"""Directory trees of any depth: walked and removed without recursion, through directory fds.

Python 3.11's ``os.walk``, ``shutil.rmtree`` and ``shutil.copytree`` recurse once per level and
fail near 1,000 levels (RecursionError); anything that builds full path strings fails beyond
PATH_MAX (4,096 bytes). A container, a layer tar or a volume can nest far deeper than either
(``mkdir d; cd d`` in a loop). So every tree walk of wharf goes through this module:

- the walk is a loop over an explicit stack, so depth costs memory, not Python frames;
- each directory is opened relative to its parent's fd, by its name alone (``O_NOFOLLOW``: a
  symlink is an entry, never followed), so no path string reaches the kernel and trees deeper
  than PATH_MAX work;
- a ``DirStack`` keeps at most ``WINDOW`` directory fds of a walk open (the deepest ones; the
  top is always open): a directory whose fd was closed is opened again, when the walk climbs
  back to it, as ``..`` of its child, checked against the device and inode it had. So a walk
  needs a bounded number of fds whatever the depth (the daemon's soft RLIMIT_NOFILE is often
  1,024).

Only the standard library's ``os`` and ``errno`` are imported: the runtime's fast
path can use this module too.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

WINDOW = 32  # directory fds one DirStack keeps open, besides its top
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_TOP = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)  # an entry removed or replaced meanwhile


class DirStack:
    """A chain of open directories: the top (opened by the caller), then each next one an entry
    of the one before, as a walk goes down. ``fd()`` is always the deepest one's descriptor;
    ancestors beyond ``WINDOW`` are closed and opened again when ``pop`` climbs back to them.

    ``push(name, fd=..., reopen=...)`` takes a directory the caller opened some other way (a
    mount's source standing at that name): ``reopen`` opens it again when needed."""

    __slots__ = ("_fds", "_names", "_ids", "_reopen", "_lo", "_own_top")

    def __init__(self, top_fd: int, own: bool = True) -> None:
        st = os.fstat(top_fd)
        self._fds = [top_fd]
        self._names = [""]
        self._ids = [(st.st_dev, st.st_ino)]
        self._reopen: list[Callable[[], int] | None] = [None]
        self._lo = 1  # frames 1.._lo-1 are closed (-1); frame 0 and _lo.. are open
        self._own_top = own

    @property
    def depth(self) -> int:
        """How many directories below the top the stack stands."""
        return len(self._fds) - 1

    def fd(self) -> int:
        return self._fds[-1]

    def name(self) -> str:
        """The deepest directory's name in its parent ("" for the top)."""
        return self._names[-1]

    def names(self) -> list[str]:
        """The names from the top down to the deepest directory."""
        return self._names[1:]

    def push(self, name: str, fd: int | None = None, reopen: Callable[[], int] | None = None) -> int:
        """Go down into directory ``name`` of the deepest one (opened without following a
        symlink: OSError ELOOP or ENOTDIR if it is not a directory). Returns its fd."""
        if fd is None:
            fd = os.open(name, _DIR, dir_fd=self._fds[-1])
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        self._fds.append(fd)
        self._names.append(name)
        self._ids.append((st.st_dev, st.st_ino))
        self._reopen.append(reopen)
        if len(self._fds) - self._lo > WINDOW:
            os.close(self._fds[self._lo])
            self._fds[self._lo] = -1
            self._lo += 1
        return fd

    def pop(self, n: int = 1) -> None:
        """Climb ``n`` directories up (never above the top)."""
        n = min(n, self.depth)
        if n <= 0:
            return
        new_len = len(self._fds) - n
        child = -1
        if n == 1 and self._fds[-2] < 0 and self._reopen[-1] is None:
            child = self._fds[-1]  # its ".." is the parent to open again
        for i in range(len(self._fds) - 1, new_len - 1, -1):
            if self._fds[i] >= 0 and self._fds[i] != child:
                os.close(self._fds[i])
        del self._fds[new_len:], self._names[new_len:], self._ids[new_len:], self._reopen[new_len:]
        top = new_len - 1
        try:
            if self._fds[top] < 0:
                self._reopen_frame(top, child)
        finally:
            if child >= 0:
                os.close(child)

    def _reopen_frame(self, i: int, child: int) -> None:
        if child >= 0:
            fd = os.open("..", _DIR, dir_fd=child)
            if self._same(fd, i):
                self._fds[i], self._lo = fd, i
                return
            os.close(fd)
        # from the top, by name (a mount's source by its opener), each step checked
        fd = self._fds[0]
        for k in range(1, i + 1):
            opener = self._reopen[k]
            nfd = opener() if opener is not None else os.open(self._names[k], _DIR, dir_fd=fd)
            if k > 1:
                os.close(fd)
            if not self._same(nfd, k):
                os.close(nfd)
                moved = "directory moved while its tree was walked"
                raise OSError(errno.ESTALE, moved, "/".join(self._names[1 : k + 1]))
            fd = nfd
        self._fds[i], self._lo = fd, i

    def _same(self, fd: int, i: int) -> bool:
        st = os.fstat(fd)
        return (st.st_dev, st.st_ino) == self._ids[i]

    def close(self) -> None:
        for i, fd in enumerate(self._fds):
            if fd >= 0 and (i or self._own_top):
                os.close(fd)
        self._fds = [-1]
        del self._names[1:], self._ids[1:], self._reopen[1:]

    def __enter__(self) -> DirStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Dir:
    """One directory of a walk: ``fd`` (open while the caller holds this step; not to be
    closed), its path ``rel`` relative to the top ("" for the top itself), its subdirectories
    ``dirs`` (remove names to skip them) and its other entries ``files``, each sorted, and
    ``alongside``: the fd of the same directory in each of the walk's other trees, or -1 where
    that tree has no directory there."""

    fd: int
    rel: str
    dirs: list[str]
    files: list[str]
    alongside: list[int]

    def path(self, name: str) -> str:
        """The path of entry ``name`` relative to the top."""
        return f"{self.rel}/{name}" if self.rel else name


def scan(fd: int) -> tuple[list[str], list[str]]:
    """The entries of directory ``fd``: (subdirectories, everything else), sorted. Symlinks to
    directories are not directories."""
    dirs: list[str] = []
    files: list[str] = []
    with os.scandir(fd) as it:
        for e in it:
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except FileNotFoundError:
                continue
            (dirs if is_dir else files).append(e.name)
    dirs.sort()
    files.sort()
    return dirs, files


def _open_top(path: str, dir_fd: int | None) -> int | None:
    try:
        return os.open(path, _TOP, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in _GONE:
            return None
        raise


def walk(top: str, *, dir_fd: int | None = None, alongside: Sequence[str] = ()) -> Iterator[Dir]:
    """Every directory of the tree at ``top`` (relative to ``dir_fd`` if given), parents before
    children, siblings in name order, as ``os.walk`` top-down but to any depth. A missing
    ``top`` yields nothing; entries removed or replaced while the walk runs are skipped (it
    never follows a symlink below ``top``). ``alongside`` names other trees walked in step
    (an overlay's lower directories): each ``Dir`` carries their directory at the same path."""
    fd = _open_top(top, dir_fd)
    if fd is None:
        return
    stack = DirStack(fd)
    others: list[DirStack | None] = []
    try:
        for other in alongside:
            ofd = _open_top(other, None)
            others.append(DirStack(ofd) if ofd is not None else None)
        # others[i] stands at the deepest directory of the current path that tree has
        rels = [""]
        dirs, files = scan(fd)
        here = Dir(fd, "", dirs, files, [s.fd() if s is not None else -1 for s in others])
        yield here
        pending = [iter(here.dirs)]
        while pending:
            name = next(pending[-1], None)
            if name is None:
                pending.pop()
                rels.pop()
                if pending:
                    _climb(stack, others)
                continue
            try:
                stack.push(name)
            except OSError as e:
                if e.errno not in _GONE:
                    raise
                continue
            try:
                dirs, files = scan(stack.fd())
            except OSError as e:
                stack.pop()
                if e.errno not in _GONE:
                    raise
                continue
            fds = [_descend(s, stack.depth, name) for s in others]
            rel = f"{rels[-1]}/{name}" if rels[-1] else name
            here = Dir(stack.fd(), rel, dirs, files, fds)
            yield here
            rels.append(rel)
            pending.append(iter(here.dirs))
    finally:
        stack.close()
        for s in others:
            if s is not None:
                s.close()


def _descend(other: DirStack | None, depth: int, name: str) -> int:
    """Follow the walk one level down in another tree; its fd there, or -1."""
    if other is None or other.depth != depth - 1:
        return -1
    try:
        return other.push(name)
    except OSError as e:
        if e.errno not in _GONE:
            raise
        return -1


def _climb(stack: DirStack, others: list[DirStack | None]) -> None:
    for s in others:
        if s is not None and s.depth == stack.depth:
            s.pop()
    stack.pop()


def remove_tree(path: str, *, dir_fd: int | None = None, ignore_errors: bool = False) -> None:
    """Remove ``path`` (relative to ``dir_fd`` if given) and everything under it, to any depth,
    as ``shutil.rmtree`` (which recurses). A missing path is no error; a non-directory (a
    symlink too: never followed) is unlinked. With ``ignore_errors`` whatever cannot be removed
    stays and the rest goes; else the first failure raises OSError naming the full path."""
    parent, name = os.path.split(path.rstrip("/"))
    if name in ("", ".", ".."):
        raise ValueError(f"remove_tree: refusing to remove {path!r}")
    try:
        pfd = os.open(parent or ".", _TOP, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in _GONE:
            return
        raise
    stack = DirStack(pfd)
    try:
        _remove_under(stack, name, path, ignore_errors)
    finally:
        stack.close()


def _remove_under(stack: DirStack, name: str, path: str, ignore: bool) -> None:
    parent = os.path.split(path.rstrip("/"))[0]

    def failed(e: OSError, entry: str) -> None:
        if e.errno == errno.ENOENT or ignore:
            return
        where = "/".join(p for p in [parent, *stack.names(), entry] if p)
        raise OSError(e.errno, e.strerror, where) from None

    if not _enter_or_unlink(stack, name, failed):
        return
    pending = [_clear(stack.fd(), failed)]
    while pending:
        if pending[-1]:
            sub = pending[-1].pop()
            if _enter_or_unlink(stack, sub, failed):
                pending.append(_clear(stack.fd(), failed))
            continue
        pending.pop()
        sub = stack.name()
        try:
            stack.pop()
        except OSError as e:  # the parent cannot be found again (moved or removed meanwhile)
            failed(e, "")
            return
        try:
            os.rmdir(sub, dir_fd=stack.fd())
        except OSError as e:
            failed(e, sub)


def _enter_or_unlink(stack: DirStack, name: str, failed: Callable[[OSError, str], None]) -> bool:
    """Go down into directory ``name``; unlink it instead if it is not one. True if entered."""
    try:
        stack.push(name)
        return True
    except OSError as e:
        if e.errno not in (errno.ENOTDIR, errno.ELOOP):
            failed(e, name)
            return False
    try:
        os.unlink(name, dir_fd=stack.fd())
    except OSError as e:
        failed(e, name)
    return False


def _clear(fd: int, failed: Callable[[OSError, str], None]) -> list[str]:
    """Unlink every non-directory of ``fd``; returns its subdirectories."""
    subdirs: list[str] = []
    try:
        with os.scandir(fd) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
    except OSError as e:
        failed(e, "")
        return []
    for name, is_dir in entries:
        if is_dir:
            subdirs.append(name)
            continue
        try:
            os.unlink(name, dir_fd=fd)
        except IsADirectoryError:
            subdirs.append(name)
        except OSError as e:
            failed(e, name)
    return subdirs


def disk_usage(path: str) -> int:
    """The bytes of the files under ``path`` (a hardlinked file counted once)."""
    total, seen = 0, set()
    for d in walk(path):
        for name in d.files:
            try:
                st = os.stat(name, dir_fd=d.fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
