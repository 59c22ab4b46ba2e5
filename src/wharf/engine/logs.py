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
CHUNK = 256 << 10  # read at most this much between two turns of the event loop


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


async def _lines(f: IO[bytes], end: int | None = None) -> AsyncIterator[bytes]:
    """The complete lines of ``f`` from where it stands up to offset ``end`` (EOF if None),
    read ``CHUNK`` bytes at a time with the event loop let run between chunks: a log may grow
    faster than it is parsed, and reading on to an end that never comes held the loop (no other
    request served, the client's leaving unseen) and, with the lines kept, all the memory.
    ``f`` is left at the start of the incomplete last line, if any."""
    pos = f.tell()
    pending = b""
    while True:
        want = CHUNK if end is None else min(CHUNK, end - pos)
        data = f.read(want) if want > 0 else b""
        pos += len(data)
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            yield line
        if want <= 0 or len(data) < want:
            break
        await asyncio.sleep(0)
    f.seek(pos - len(pending))


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
    """What the log holds now (the live file up to its size when opened), then, if ``follow``,
    what comes. Without ``tail`` entries go out as they are read, none kept."""
    backlog: deque[Entry] | None = deque(maxlen=tail) if tail >= 0 else None
    current: IO[bytes] | None = None  # the live file, kept open: readable if the log is removed
    for name in _files(path):
        try:
            f = open(name, "rb")
        except FileNotFoundError:
            continue
        keep_open = name == path and follow and until is None
        try:
            size = os.fstat(f.fileno()).st_size
            async for line in _lines(f, size):
                e = _parse(line)
                if e is None or not _keep(e, since, until, streams):
                    continue
                if backlog is None:
                    yield e
                else:
                    backlog.append(e)
        finally:
            if keep_open:
                current = f
            else:
                f.close()
    for e in backlog or ():
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
    while True:
        done = stopped()
        if f is None:
            try:
                f = open(path, "rb")
            except FileNotFoundError:
                f = None
        if f is not None:
            rotated = _rotated(path, f)  # before the read: what was written before it is in f
            async for line in _lines(f):
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
