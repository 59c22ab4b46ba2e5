"""`docker exec`: create an instance in a running container, start it detached or over the
client's hijacked connection, resize its terminal, inspect it (over ``backend.ExecBackend``)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from wharf.api import backend, bodies
from wharf.api.hijack import Hijacked, hijack
from wharf.api.server import Router, json_body, qint
from wharf.api.streams import framing


async def exec_create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=True, schema=bodies.EXEC_CREATE)
    eid = backend.execs(request).create(request.match_info["id"], body)
    return web.json_response({"Id": eid}, status=201)


async def exec_start(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, schema=bodies.EXEC_START)
    b = backend.execs(request)
    e = b.get(request.match_info["id"])
    detach = bool(body.get("Detach"))
    tty = bool(body.get("Tty"))  # dockerd frames by the start's Tty, whatever the exec's
    if detach:
        asyncio.ensure_future(b.start(e.id, True, None, False))
        return web.Response(status=200)
    frames = framing(request, tty)
    conn = await hijack(request, frames.content_type)
    try:
        await b.start(e.id, False, conn, frames.multiplexed)
    except Exception as exc:  # the connection is ours now: say it there, on stdout as dockerd does
        await conn.write(frames.out("stdout", str(exc).encode() + b"\n"))
    finally:
        conn.close()
    return Hijacked()


async def exec_resize(request: web.Request) -> web.StreamResponse:
    h, w = qint(request, "h", 0) or 0, qint(request, "w", 0) or 0
    backend.execs(request).resize(request.match_info["id"], h, w)
    return web.Response(status=200)


async def exec_inspect(request: web.Request) -> web.StreamResponse:
    return web.json_response(backend.execs(request).inspect(request.match_info["id"]))


def register(router: Router) -> None:
    r = router.add
    r("POST", "/containers/{id}/exec")(exec_create)
    r("POST", "/exec/{id}/start")(exec_start)
    r("POST", "/exec/{id}/resize")(exec_resize)
    r("GET", "/exec/{id}/json")(exec_inspect)
