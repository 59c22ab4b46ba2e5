"""Directory chains of any depth for the deep-tree tests: made and read through directory fds,
so no path the kernel is given is longer than one name (PATH_MAX never applies)."""

from __future__ import annotations

import os
from pathlib import Path

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def make_chain(base: str | Path, names: list[str], leaf: bytes | None = b"leaf") -> None:
    """``base``/names.../f holding ``leaf`` (no f if None)."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for n in names:
            os.mkdir(n, dir_fd=fd)
            nfd = os.open(n, _DIR, dir_fd=fd)
            os.close(fd)
            fd = nfd
        if leaf is not None:
            f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(f, leaf)
            os.close(f)
    finally:
        os.close(fd)


def read_chain(base: str | Path, names: list[str]) -> bytes:
    """What ``base``/names.../f holds (symlinks on the way are refused)."""
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for n in names:
            nfd = os.open(n, _DIR, dir_fd=fd)
            os.close(fd)
            fd = nfd
        f = os.open("f", os.O_RDONLY, dir_fd=fd)
        try:
            return os.read(f, 1 << 16)
        finally:
            os.close(f)
    finally:
        os.close(fd)
