"""The interpreter that enters a container must not be a host file (CVE-2019-5736 class).

The process that joins a container's namespaces and calls execve there is this Python
interpreter. A container can reach that process's executable through /proc/self/exe (an
entrypoint ``#!/proc/self/exe`` makes the kernel run it inside the container) and, were it the
host's interpreter file, write to it once nothing runs it. The installed launcher
(shim/wharf-runtime.c) already runs the runtime from a sealed memfd copy; when the runtime was
started some other way (pip's console script, ``python -m``), :func:`ensure` re-executes it
from such a copy before any command that enters a container.
"""

from __future__ import annotations

import fcntl
import os
import sys

SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def running_sealed() -> bool:
    """Whether this process executes a sealed memfd (the launcher's copy or ours)."""
    try:
        fd = os.open("/proc/self/exe", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return (fcntl.fcntl(fd, fcntl.F_GET_SEALS) & SEALS) == SEALS
    except OSError:  # EINVAL: not a memfd
        return False
    finally:
        os.close(fd)


def sealed_copy(path: str, name: str = "wharf-runtime") -> int:
    """A memfd holding a copy of ``path``, sealed against write, grow, shrink and new seals."""
    mfd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        with open(path, "rb") as src:
            left = os.fstat(src.fileno()).st_size
            while left > 0:
                n = os.sendfile(mfd, src.fileno(), None, left)
                if n == 0:
                    raise OSError(f"{path} shrank while it was copied")
                left -= n
        fcntl.fcntl(mfd, fcntl.F_ADD_SEALS, SEALS)
    except BaseException:
        os.close(mfd)
        raise
    return mfd


def ensure() -> None:
    """Re-execute this command from a sealed copy of the interpreter unless it already runs
    from one. Returns only when it does."""
    if running_sealed():
        return
    mfd = sealed_copy("/proc/self/exe")
    argv = [sys.executable, *sys.orig_argv[1:]]
    os.execve(mfd, argv, os.environ)
