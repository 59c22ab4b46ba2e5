"""A container's output and terminal: logs (its json-file log, replayed or followed), attach
(the client's hijacked connection pumped to and from the shim, ``api/streams.py``), resize
(over ``backend.AttachBackend``)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from wharf.api import backend
from wharf.api.backend import AttachBackend
from wharf.api.hijack import Hijacked, RawProtocol, hijack
from wharf.api.server import Router, qbool, qint
from wharf.api.streams import Attach, detach_keys, framing, pump_attach
from wharf.base.times import parse_time_arg
from wharf.engine import logs as logsmod
from wharf.engine import shim
from wharf.engine.containers import Container
from wharf.engine.state import Status, check_attach
from wharf.errors import Conflict, InvalidArgument


def _tail(request: web.Request) -> int:
    tail_s = request.query.get("tail", "all")
    try:
        return -1 if tail_s in ("all", "") else int(tail_s)
    except ValueError:
        return -1


async def logs(request: web.Request) -> web.StreamResponse:
    b = backend.attach(request)
    c = b.get(request.match_info["id"])
    want = set()
    if qbool(request, "stdout"):
        want.add("stdout")
    if qbool(request, "stderr"):
        want.add("stderr")
    if not want:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail = _tail(request)
    since = parse_time_arg(request.query.get("since"))
    until = parse_time_arg(request.query.get("until"))
    follow = qbool(request, "follow")
    stamps = qbool(request, "timestamps")
    how = framing(request, bool(c.config.get("Tty")))
    resp = web.StreamResponse(headers={"Content-Type": how.content_type})
    await resp.prepare(request)

    def stopped() -> bool:
        cur = b.by_id(c.id)
        return cur is None or not cur.state.running

    try:
        async for stream, t, data in logsmod.read(
            b.paths.log_path(c.id),
            streams=want,
            since=since,
            until=until,
            tail=tail,
            follow=follow and c.state.running,
            stopped=stopped,
        ):
            if stamps:
                data = t.encode() + b" " + data
            await resp.write(how.out(stream, data))
    except (ConnectionError, asyncio.CancelledError):
        return resp
    await resp.write_eof()
    return resp


async def _join_at_start(b: AttachBackend, c: Container, conn: RawProtocol, how: Attach) -> None:
    """A container not running yet: the pump starts when the container does (between the
    runtime's create and start, so no early byte is lost); until its start fails, the container
    goes or the client leaves."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def connect() -> None:
        connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(pump_attach(b.paths.shim_paths(c.id), conn, how, connected))
        task.add_done_callback(lambda _: None if done.done() else done.set_result(None))
        # the start goes on once the shim has this client: output written at once is not lost
        await asyncio.wait([connected, task], timeout=10, return_when=asyncio.FIRST_COMPLETED)

    def failed() -> None:
        if not done.done():
            done.set_result(None)

    b.add_pre_start(c.id, connect, failed)
    removed = b.removed_future(c.id)
    await asyncio.wait([done, conn.closed, removed], return_when=asyncio.FIRST_COMPLETED)


async def attach(request: web.Request) -> web.StreamResponse:
    b = backend.attach(request)
    c = b.get(request.match_info["id"])
    want = {s for s in ("stdout", "stderr") if qbool(request, s)}
    use_stdin = qbool(request, "stdin")
    stream = qbool(request, "stream")
    replay = qbool(request, "logs")
    keys = detach_keys(request.query.get("detachKeys"))
    check_attach(c.state, stream)
    tty = bool(c.config.get("Tty"))
    frames = framing(request, tty)
    conn = await hijack(request, frames.content_type)
    try:
        if replay:
            async for s, _, data in logsmod.read(
                b.paths.log_path(c.id), streams=want or {"stdout", "stderr"}
            ):
                await conn.write(frames.out(s, data))
        if stream:
            how = Attach(tty, frozenset(want), use_stdin, frames.multiplexed, keys)
            if c.state.status is Status.RUNNING:
                await pump_attach(b.paths.shim_paths(c.id), conn, how)
            else:
                await _join_at_start(b, c, conn, how)
    finally:
        conn.close()
    return Hijacked()


async def resize(request: web.Request) -> web.StreamResponse:
    b = backend.attach(request)
    c = b.get(request.match_info["id"])
    h = qint(request, "h", 0) or 0
    w = qint(request, "w", 0) or 0
    if not c.state.running:
        raise Conflict(f"Container {c.id} is not running")
    shim.send_ctl(b.paths.shim_paths(c.id), f"resize {h} {w}")
    return web.Response(status=200)


def register(router: Router) -> None:
    r = router.add
    r("GET", "/containers/{id}/logs")(logs)
    r("POST", "/containers/{id}/attach")(attach)
    r("POST", "/containers/{id}/resize")(resize)
