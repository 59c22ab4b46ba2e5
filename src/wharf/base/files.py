"""Atomic file replacement: a temporary file beside the target, written, optionally fsynced,
then renamed over it, so a reader (or a crash) sees the old content or the new, never a part.
And directories made with an exact mode."""

from __future__ import annotations

import errno
import os

from wharf.errors import NoSpace


def atomic_write(path: str, data: bytes | str, mode: int = 0o644, durable: bool = True) -> None:
    """Replace ``path`` with ``data``. ``durable`` fsyncs the file before the rename, so the
    name never points at data a power loss took; without it the write is only atomic. (A power
    loss may still undo the rename itself: the reader then finds the old content, whole.)"""
    tmp = f"{path}.tmp{os.getpid()}"
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)


def ensure_dir(path: str, mode: int) -> None:
    """``path`` exists as a directory with exactly ``mode``, whatever an earlier version or the
    umask left (an existing directory is tightened or loosened to it)."""
    os.makedirs(path, mode, exist_ok=True)
    if os.stat(path).st_mode & 0o7777 != mode:
        os.chmod(path, mode)


SQLITE_FULL = 13


def no_space(exc: BaseException) -> NoSpace | None:
    """``exc`` as a NoSpace in Docker's words when it is a write that found the disk full (an
    OSError ENOSPC, or SQLite's SQLITE_FULL), else None."""
    if isinstance(exc, NoSpace):
        return exc
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpace(
            f"{exc.filename}: no space left on device" if exc.filename else "no space left on device"
        )
    if getattr(exc, "sqlite_errorcode", None) == SQLITE_FULL:
        return NoSpace("write metadata: no space left on device")
    return None


def read_text(path: str) -> str:
    """A small file's text; "" when it cannot be read (gone, or never there)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
