"""Streams of the Engine API: bytes between a worker thread and the event loop, Docker's JSON
progress lines, the stdcopy framing a client gets, and the attach pump.

- ``stream_from_thread`` / ``ThreadReader``: a tar (export, cp, save) written by a thread goes
  out as the response; a request body (cp into a container, load, import) is read by one.
- ``stream_json``: a pull, push or import reports progress as one JSON object a line; an error
  after the status line went out is a line too, as dockerd sends it.
- ``framing``: a container with a terminal streams raw bytes; without one, API 1.42 and newer
  get stdcopy frames (8-byte header: stream, size) and ask for the multiplexed content type.
- ``pump_attach``: the client's hijacked connection to and from the shim's attach socket, until
  the output ends, the client leaves or types the detach keys (ctrl-p ctrl-q by default).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, TypeVar, cast

from aiohttp import web

from wharf.api.hijack import MULTIPLEXED, RAW, RawProtocol
from wharf.api.server import at_least
from wharf.base import keys as keys_mod
from wharf.engine import logs as logsmod
from wharf.engine import shim
from wharf.errors import InvalidArgument

T = TypeVar("T")
Emit = Callable[[dict[str, Any]], None]


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the default executor: blocking work (files, the image store) off the loop."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


# --- between a worker thread and the event loop


class ThreadWriter:
    """A file-like object a worker thread writes to; the bytes go out on the event loop. Once
    the client has gone (``cancelled``), writes fail so the worker stops."""

    def __init__(self, q: asyncio.Queue[bytes | None], loop: asyncio.AbstractEventLoop) -> None:
        self.q, self.loop = q, loop
        self.cancelled = False

    def write(self, b: bytes) -> int:
        if self.cancelled:
            raise BrokenPipeError("the client went away")
        asyncio.run_coroutine_threadsafe(self.q.put(bytes(b)), self.loop).result()
        return len(b)

    def flush(self) -> None:
        return None


class ThreadReader:
    """The request body, read from a worker thread."""

    def __init__(self, request: web.Request, loop: asyncio.AbstractEventLoop) -> None:
        self.request, self.loop = request, loop

    def read(self, n: int = -1) -> bytes:
        content = self.request.content
        coro = content.read(n if n > 0 else 1 << 20)
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()


def body_reader(request: web.Request) -> IO[bytes]:
    """The request body as a file a worker thread reads (streamed: no body size limit). The
    image archive's readers take an ``IO[bytes]`` and call ``read`` only."""
    return cast("IO[bytes]", ThreadReader(request, asyncio.get_running_loop()))


async def stream_from_thread(
    request: web.Request, produce: Callable[[Any], None], headers: dict[str, str]
) -> web.StreamResponse:
    """Run ``produce(out)`` in a worker thread, streaming what it writes as the response."""
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)
    resp = web.StreamResponse(headers=headers)
    await resp.prepare(request)

    writer = ThreadWriter(q, loop)

    def work() -> None:
        try:
            produce(writer)
        finally:
            asyncio.run_coroutine_threadsafe(q.put(None), loop).result()

    fut = loop.run_in_executor(None, work)
    try:
        while (chunk := await q.get()) is not None:
            await resp.write(chunk)
    except BaseException:
        writer.cancelled = True  # let a worker blocked on the full queue finish
        while await q.get() is not None:
            pass
        raise
    finally:
        try:
            await fut
        except ConnectionError:  # the client went away (reset, broken pipe, lost)
            pass
    await resp.write_eof()
    return resp


async def stream_json(request: web.Request, produce: Callable[[Emit], Any]) -> web.StreamResponse:
    """Run ``produce(emit)`` in a thread; every emitted dict is one line of Docker's JSON progress
    stream. An error after the headers went out is reported in the stream, as Docker does."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def emit(msg: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(q.put_nowait, msg)

    def work() -> None:
        try:
            produce(emit)
        except Exception as exc:  # into the stream: the status line is already sent
            emit({"errorDetail": {"message": str(exc)}, "error": str(exc)})
        finally:
            loop.call_soon_threadsafe(q.put_nowait, None)

    fut = loop.run_in_executor(None, work)
    try:
        while True:
            msg = await q.get()
            if msg is None:
                break
            await resp.write(json.dumps(msg).encode() + b"\r\n")
    finally:
        await fut
    await resp.write_eof()
    return resp


# --- a container's output and input


@dataclass(frozen=True)
class Framing:
    """How a container's output goes to the client: stdcopy frames (8-byte header: stream,
    size) whenever there is no terminal, in every API version, as dockerd sends them; what
    changed in 1.42 is only the content type that says so."""

    content_type: str
    multiplexed: bool

    def out(self, stream: str, data: bytes) -> bytes:
        return logsmod.frame(stream, data) if self.multiplexed else data


def framing(request: web.Request, tty: bool) -> Framing:
    if tty:
        return Framing(RAW, False)
    return Framing(MULTIPLEXED if at_least(request, "1.42") else RAW, True)


def detach_keys(spec: str | None) -> bytes:
    """Docker's ``detachKeys`` ("ctrl-p,ctrl-q", "a,ctrl-@") as the bytes the client types."""
    try:
        return keys_mod.parse(spec)
    except ValueError:
        raise InvalidArgument(f"Invalid detach keys ({spec}) provided") from None


class Detached(Exception):
    """The client typed the detach keys."""


async def _from_shim(
    reader: asyncio.StreamReader, conn: RawProtocol, tty: bool, want: frozenset[str], multiplexed: bool
) -> None:
    """The shim's frames (stream, size, payload) to the client: raw or re-framed."""
    while True:
        try:
            head = await reader.readexactly(8)
            payload = await reader.readexactly(int.from_bytes(head[4:8], "big"))
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        stream = "stderr" if head[0] == 2 else "stdout"
        if not tty and stream not in want:
            continue
        data = payload if (tty or not multiplexed) else logsmod.frame(stream, payload)
        if not await conn.write(data):
            return


async def _to_shim(conn: RawProtocol, writer: asyncio.StreamWriter, tty: bool, keys: bytes) -> None:
    """The client's input to the shim; with a terminal, up to the detach keys (raising Detached),
    holding back a prefix of them until the next bytes tell."""
    watch = keys_mod.Watch(keys if tty else b"")
    while True:
        data = await conn.reader.read(32768)
        if not data:
            try:
                writer.write_eof()
            except OSError:
                pass
            return
        data, detached = watch.feed(data)
        if detached:
            if data:
                writer.write(data)
            raise Detached()
        writer.write(data)
        try:
            await writer.drain()
        except ConnectionError:
            return


@dataclass(frozen=True)
class Attach:
    """What an attach asked: the container's terminal or not, which output streams, whether
    the client's input goes in, stdcopy frames or raw bytes, the detach keys."""

    tty: bool
    want: frozenset[str]
    use_stdin: bool
    multiplexed: bool
    keys: bytes


async def pump_attach(
    paths: shim.ShimPaths, conn: RawProtocol, how: Attach, connected: asyncio.Future[None] | None = None
) -> None:
    """Connect to the shim's attach socket and copy both ways until the container's output ends
    or the client leaves or types the detach keys. ``connected`` is resolved once the shim has
    this client (or the connection failed): a start waits for it, or a process that writes and
    exits at once is gone before its output has anyone to go to."""
    try:
        reader, writer = await shim.connect_attach(paths)
    except OSError:
        return
    finally:
        if connected is not None and not connected.done():
            connected.set_result(None)
    out_task = asyncio.ensure_future(_from_shim(reader, conn, how.tty, how.want, how.multiplexed))
    in_task = asyncio.ensure_future(_to_shim(conn, writer, how.tty, how.keys)) if how.use_stdin else None
    closed = asyncio.ensure_future(asyncio.shield(conn.closed))
    try:
        waits: set[asyncio.Future[Any]] = {out_task, closed}
        if in_task is not None:
            waits.add(in_task)
        while True:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if out_task in done or closed in done:
                break
            if in_task is not None and in_task in done:
                if isinstance(in_task.exception(), Detached):
                    break
                waits.discard(in_task)
    finally:
        for t in (out_task, in_task, closed):
            if t is not None:
                t.cancel()
        writer.close()
