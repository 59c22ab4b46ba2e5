"""Resolve a path inside a root directory the way the kernel would after a chroot.

``secure_join("/rootfs", "/etc/../../x")`` is ``/rootfs/x``: ``..`` stops at the root and
absolute symlinks restart from it, so a container's own symlinks can never make the runtime
(or later the daemon) touch a host path. Components that do not exist yet are joined as they
are. This is the lexical walk runc's old securejoin did: it answers a path *string*, and a
process that opens that string later follows whatever a live container (or another container
sharing a volume) swapped in meanwhile (CVE-2021-30465, CVE-2019-14271).

``open_in_root`` is the race-free form, for every path the runtime mounts on or the daemon
reads from a container: the same semantics (those of ``openat2(RESOLVE_IN_ROOT)``), walked one
component at a time from directory fds opened with ``O_NOFOLLOW``, each symlink read and
resolved again inside the root by the walk itself, ``..`` popped off the walk's own stack. It
answers an ``O_PATH`` fd: whatever is swapped after the walk, the fd names what was resolved.
``read_in_root`` reads a small regular file that way without ever blocking (a FIFO planted at
/etc/passwd is "not a regular file", not a daemon thread stuck in open(2)).
"""

from __future__ import annotations

import errno
import os
import stat

_MAX_LINKS = 255
_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC


def secure_join(root: str, unsafe: str) -> str:
    root = root.rstrip("/") or "/"
    parts = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root + "/" + "/".join([*resolved, part])
        try:
            target = os.readlink(candidate)
        except OSError:
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(40, "too many levels of symbolic links", candidate)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p] + parts
    return root.rstrip("/") + "/" + "/".join(resolved) if resolved else root


def _components(path: str) -> list[str]:
    """``path``'s components, last first (so ``pop()`` gives the next one)."""
    return [c for c in reversed(path.split("/")) if c not in ("", ".")]


def _make(fd: int, name: str, as_file: bool) -> None:
    try:
        if as_file:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open(name, flags, 0o644, dir_fd=fd))
        else:
            os.mkdir(name, 0o755, dir_fd=fd)
    except FileExistsError:  # made meanwhile: the walk looks at it again
        pass


def open_in_root(root_fd: int, unsafe: str, create: str = "") -> int:
    """An ``O_PATH`` fd of ``unsafe`` resolved inside the directory ``root_fd`` (see the module
    docstring); a final symlink is followed too. ``create``: "" makes nothing (a missing
    component raises FileNotFoundError); "dir" makes missing components directories (0755);
    "file" makes missing directories on the way and the last component an empty file (0644).
    A component swapped while it is looked at is looked at again (each retry counts as a link,
    so a racing container makes the walk fail with ELOOP, never leave the root)."""
    todo = _components(unsafe)
    stack = [os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root_fd)]
    links = 0
    try:
        while todo:
            comp = todo.pop()
            if comp == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            fd, last = stack[-1], not todo
            try:
                st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if not create:
                    raise
                _make(fd, comp, as_file=last and create == "file")
                st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
            if not stat.S_ISLNK(st.st_mode):
                flags = _PATH if last else _PATH | os.O_DIRECTORY
                try:
                    nfd = os.open(comp, flags, dir_fd=fd)
                except (NotADirectoryError, FileNotFoundError):
                    if not last and not stat.S_ISDIR(st.st_mode):
                        raise
                    nfd = -1  # swapped between the stat and the open
                if nfd >= 0 and not stat.S_ISLNK(os.fstat(nfd).st_mode):
                    if last:
                        return nfd
                    stack.append(nfd)
                    continue
                if nfd >= 0:
                    os.close(nfd)
            links += 1
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), unsafe)
            try:
                target = os.readlink(comp, dir_fd=fd)
            except OSError as e:  # no symlink any more: look again
                if e.errno not in (errno.ENOENT, errno.EINVAL):
                    raise
                todo.append(comp)
                continue
            if target.startswith("/"):
                while len(stack) > 1:
                    os.close(stack.pop())
            todo.extend(_components(target))
        return os.dup(stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def read_in_root(root: str, unsafe: str, limit: int) -> bytes | None:
    """At most ``limit`` bytes of the regular file ``unsafe`` resolved inside ``root``; None if
    it is missing or anything but a regular file. Never blocks on a FIFO or a device."""
    try:
        rfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            pfd = open_in_root(rfd, unsafe)
        finally:
            os.close(rfd)
        try:
            if not stat.S_ISREG(os.fstat(pfd).st_mode):
                return None
            fd = os.open(f"/proc/self/fd/{pfd}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        finally:
            os.close(pfd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            data = os.read(fd, min(left, 1 << 20))
            if not data:
                break
            chunks.append(data)
            left -= len(data)
        return b"".join(chunks)
    finally:
        os.close(fd)
