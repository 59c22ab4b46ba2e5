"""Typed one-way messages between the runtime (parent) and the processes it forks.

Three processes take part in `create` (see parent.py): the runtime itself, an intermediate child
that joins/creates namespaces, and the container's init that the intermediate forks (a process
cannot move itself into a new pid namespace, only its children). Each direction is its own pipe,
so each end has its own type with verb methods, and an end that a process does not use is closed
at once. A message is one line: ``<verb> <argument>\\n``. A closed pipe reads as end-of-file,
which the receiving end reports as the peer having died.
"""

from __future__ import annotations

import os

from wharf.errors import FailedPrecondition


class ChildDied(FailedPrecondition):
    """The process on the other end exited before saying what it had to say."""


class _End:
    __slots__ = ("fd", "_buf")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buf = b""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Sender(_End):
    def send(self, verb: str, arg: str = "") -> None:
        os.write(self.fd, f"{verb} {arg}".replace("\n", " ").encode() + b"\n")

    def error(self, message: str) -> None:
        """Report a failure; the receiving end raises it as its own error."""
        self.send("error", message)


class Receiver(_End):
    def recv(self) -> tuple[str, str]:
        while b"\n" not in self._buf:
            chunk = os.read(self.fd, 4096)
            if not chunk:
                raise ChildDied("container process exited during setup")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        verb, _, arg = line.decode().partition(" ")
        if verb == "error":
            raise FailedPrecondition(arg)
        return verb, arg

    def expect(self, verb: str) -> str:
        got, arg = self.recv()
        if got != verb:
            raise FailedPrecondition(f"runtime protocol: expected {verb!r}, got {got!r}")
        return arg


def pipe() -> tuple[Receiver, Sender]:
    r, w = os.pipe2(os.O_CLOEXEC)
    return Receiver(r), Sender(w)
