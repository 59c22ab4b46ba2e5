"""Reading a container's json-file log (written by wharf-shim) as `docker logs` wants it.

A log is ``<id>-json.log`` plus rotated ``.1`` … ``.N`` (oldest has the largest number); each line
is ``{"log": text, "stream": "stdout"|"stderr", "time": RFC3339Nano}``. ``read`` yields
(stream, time string, bytes) oldest first after ``since`` and before ``until``, the last ``tail``
entries if asked; ``follow`` keeps reading as the file grows or rotates until ``stop()`` says so.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import IO, Any

from wharf.base.times import parse_rfc3339

Entry = tuple[str, str, bytes]
POLL = 0.05


def _files(path: str) -> list[str]:
    rotated = []
    i = 1
    while os.path.exists(f"{path}.{i}"):
        rotated.append(f"{path}.{i}")
        i += 1
    return [*reversed(rotated), path]


def _parse(line: bytes) -> tuple[str, str, bytes] | None:
    try:
        obj: dict[str, Any] = json.loads(line)
    except ValueError:
        return None
    return (
        obj.get("stream", "stdout"),
        obj.get("time", ""),
        obj.get("log", "").encode("utf-8", "surrogateescape"),
    )


def _keep(entry: Entry, since: float | None, until: float | None, streams: set[str]) -> bool:
    if entry[0] not in streams:
        return False
    if since is None and until is None:
        return True
    try:
        t = parse_rfc3339(entry[1])
    except ValueError:
        return True
    if since is not None and t < since:
        return False
    return not (until is not None and t > until)


async def read(
    path: str,
    *,
    streams: set[str],
    since: float | None = None,
    until: float | None = None,
    tail: int = -1,
    follow: bool = False,
    stopped: Callable[[], bool] = lambda: True,
) -> AsyncIterator[Entry]:
    backlog: deque[Entry] | list[Entry] = deque(maxlen=tail) if tail >= 0 else []
    current: IO[bytes] | None = None  # the live file, kept open: readable if the log is removed
    for name in _files(path):
        try:
            f = open(name, "rb")
        except FileNotFoundError:
            continue
        keep_open = name == path and follow and until is None
        try:
            for line in f:
                if not line.endswith(b"\n"):
                    f.seek(f.tell() - len(line))
                    break
                e = _parse(line)
                if e is not None and _keep(e, since, until, streams):
                    backlog.append(e)
        finally:
            if keep_open:
                current = f
            else:
                f.close()
    for e in backlog:
        yield e
    if not follow or until is not None:
        return
    try:
        async for e in _follow(path, current, since, until, streams, stopped):
            yield e
    finally:
        if current is not None:
            current.close()


async def _follow(
    path: str,
    f: IO[bytes] | None,
    since: float | None,
    until: float | None,
    streams: set[str],
    stopped: Callable[[], bool],
) -> AsyncIterator[Entry]:
    """New lines as they come, from the open file; a rotation finishes the old file (its fd)
    and goes on with the new one; the container's end (``stopped``) ends it after a last read."""
    partial = b""
    while True:
        done = stopped()
        if f is None:
            try:
                f = open(path, "rb")
                partial = b""
            except FileNotFoundError:
                f = None
        if f is not None:
            rotated = _rotated(path, f)  # before the read: what was written before it is in f
            data = partial + f.read()
            lines = data.split(b"\n")
            partial = lines.pop()
            for line in lines:
                e = _parse(line)
                if e is not None and _keep(e, since, until, streams):
                    yield e
            if rotated:
                f.close()
                f = None
                continue
        if done:
            if f is not None:
                f.close()
            return
        await asyncio.sleep(POLL)


def _rotated(path: str, f: IO[bytes]) -> bool:
    """``path`` names another file than ``f`` now (the shim rotated the log)."""
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return False  # removed with its container: what ``f`` holds is all there is


def frame(stream: str, payload: bytes) -> bytes:
    """Docker's stdcopy frame: [stream, 0, 0, 0, big-endian uint32 size] + payload."""
    kind = 2 if stream == "stderr" else (0 if stream == "stdin" else 1)
    return bytes([kind, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload
