"""A client command under a pseudo-terminal, as a user at a terminal runs it."""

from __future__ import annotations

import os
import pty
import select
import time


def spawn(argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    """(pid, master fd) of ``argv`` on a new pty; ``argv[0]`` is looked up in ``env``'s PATH."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(argv[0], argv, env)
    return pid, fd


def expect(fd: int, what: bytes, timeout: float = 20) -> bytes:
    """What the terminal shows until ``what`` appears (AssertionError after ``timeout``)."""
    buf = b""
    deadline = time.time() + timeout
    while what not in buf:
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError(f"did not see {what!r} in {buf!r}")
        if select.select([fd], [], [], left)[0]:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    return buf


def exit_code(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def end(pid: int, fd: int) -> None:
    """The process killed (if it is still there) and the terminal closed, whatever happened."""
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass
    os.close(fd)
