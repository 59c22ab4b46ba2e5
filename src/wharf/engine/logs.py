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
from typing import Any

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
    inode = None
    offset = 0
    for name in _files(path):
        try:
            with open(name, "rb") as f:
                for line in f:
                    if not line.endswith(b"\n"):
                        break
                    e = _parse(line)
                    if e is not None and _keep(e, since, until, streams):
                        backlog.append(e)
                if name == path:
                    offset = f.tell()
                    inode = os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            continue
    for e in backlog:
        yield e
    if not follow or (until is not None):
        return
    partial = b""
    while True:
        done = stopped()
        try:
            st = os.stat(path)
            if inode is not None and st.st_ino != inode:
                # rotated: finish the old file (now .1), then start the new one from 0
                old = f"{path}.1"
                async for e in _tail_from(old, offset, since, until, streams):
                    yield e
                inode, offset, partial = st.st_ino, 0, b""
            if inode is None:
                inode = st.st_ino
            if st.st_size > offset:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
                offset += len(data)
                data = partial + data
                lines = data.split(b"\n")
                partial = lines.pop()
                for line in lines:
                    e = _parse(line)
                    if e is not None and _keep(e, since, until, streams):
                        yield e
        except FileNotFoundError:
            pass
        if done:
            return
        await asyncio.sleep(POLL)


async def _tail_from(
    path: str, offset: int, since: float | None, until: float | None, streams: set[str]
) -> AsyncIterator[Entry]:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return
    for line in data.split(b"\n"):
        e = _parse(line) if line else None
        if e is not None and _keep(e, since, until, streams):
            yield e


def frame(stream: str, payload: bytes) -> bytes:
    """Docker's stdcopy frame: [stream, 0, 0, 0, big-endian uint32 size] + payload."""
    kind = 2 if stream == "stderr" else (0 if stream == "stdin" else 1)
    return bytes([kind, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload
