"""Reading and writing cgroupfs files, with runc's error wording."""

from __future__ import annotations

import os

from wharf.errors import FailedPrecondition


def read(directory: str, name: str) -> str:
    with open(f"{directory}/{name}") as f:
        return f.read()


def write(directory: str, name: str, value: str) -> None:
    """One write(2) of ``value``: cgroupfs files take a value per write, not a stream."""
    path = f"{directory}/{name}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise FailedPrecondition(f"failed to write {value!r}: open {path}: {exc.strerror}") from None
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise FailedPrecondition(f"failed to write {value!r}: write {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def exists(directory: str, name: str) -> bool:
    return os.path.exists(f"{directory}/{name}")


def is_under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")
