"""The container lifecycle: create, list, inspect, start, stop, restart, kill, pause, unpause,
wait, remove, rename, prune, update, top (over ``backend.ContainerBackend``)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from wharf.api import backend, bodies, versions
from wharf.api.server import Router, json_body, qbool, qfilters, qint
from wharf.engine.exits import wait_condition
from wharf.engine.request import CreateRequest, decoded
from wharf.errors import NotFound


async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=True, schema=bodies.CONTAINER_CREATE)
    req = CreateRequest.from_body(request.query.get("name"), body)
    cid, warnings = await backend.containers(request).create(req)
    return web.json_response({"Id": cid, "Warnings": warnings}, status=201)


async def list_(request: web.Request) -> web.StreamResponse:
    limit = qint(request, "limit", -1) or -1
    out = backend.containers(request).list_json(
        qbool(request, "all"), qfilters(request), limit, qbool(request, "size")
    )
    return web.Response(text=out, content_type="application/json")


async def inspect(request: web.Request) -> web.StreamResponse:
    view = backend.containers(request).inspect(request.match_info["id"], qbool(request, "size"))
    return web.json_response(versions.container_inspect(request, view))


async def start(request: web.Request) -> web.StreamResponse:
    await backend.containers(request).start(request.match_info["id"])
    return web.Response(status=204)


def _timeout(request: web.Request) -> int | None:
    return qint(request, "t", None)


async def stop(request: web.Request) -> web.StreamResponse:
    b = backend.containers(request)
    await b.stop(request.match_info["id"], _timeout(request), request.query.get("signal"))
    return web.Response(status=204)


async def restart(request: web.Request) -> web.StreamResponse:
    b = backend.containers(request)
    await b.restart(request.match_info["id"], _timeout(request), request.query.get("signal"))
    return web.Response(status=204)


async def kill(request: web.Request) -> web.StreamResponse:
    await backend.containers(request).kill(request.match_info["id"], request.query.get("signal") or "KILL")
    return web.Response(status=204)


async def pause(request: web.Request) -> web.StreamResponse:
    await backend.containers(request).pause(request.match_info["id"])
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.StreamResponse:
    await backend.containers(request).unpause(request.match_info["id"])
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    b = backend.containers(request)
    c = b.get(request.match_info["id"])
    condition = wait_condition(request.query.get("condition"))
    # headers go out at once: the CLI's `run` waits for them before it starts the container
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    waiter = asyncio.ensure_future(b.wait(c.id, condition))
    try:
        result = await waiter
    except asyncio.CancelledError:
        waiter.cancel()
        raise
    await resp.write(json.dumps(result).encode() + b"\n")
    await resp.write_eof()
    return resp


async def remove(request: web.Request) -> web.StreamResponse:
    b = backend.containers(request)
    await b.remove(request.match_info["id"], qbool(request, "force"), qbool(request, "v"))
    return web.Response(status=204)


async def remove_link(request: web.Request) -> web.StreamResponse:
    """DELETE /containers/{parent}/{alias}?link=1: a legacy link goes (dockerd's route takes any
    name with a slash; without link=1 such a name is no container)."""
    name = f"{request.match_info['id']}/{request.match_info['alias']}"
    if not qbool(request, "link"):
        raise NotFound(f"No such container: {name}")
    backend.containers(request).remove_link(name)
    return web.Response(status=204)


async def rename(request: web.Request) -> web.StreamResponse:
    await backend.containers(request).rename(request.match_info["id"], request.query.get("name", ""))
    return web.Response(status=204)


async def prune(request: web.Request) -> web.StreamResponse:
    return web.json_response(await backend.containers(request).prune(qfilters(request)))


async def update(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, schema=bodies.CONTAINER_UPDATE)
    b = backend.containers(request)
    c = b.get(request.match_info["id"])
    warnings = await b.update(c.id, decoded(body))
    return web.json_response({"Warnings": warnings})


async def top(request: web.Request) -> web.StreamResponse:
    b = backend.containers(request)
    c = b.get(request.match_info["id"])
    return web.json_response(await b.top(c, request.query.get("ps_args") or "-ef"))


def register(router: Router) -> None:
    r = router.add
    r("POST", "/containers/create")(create)
    r("GET", "/containers/json")(list_)
    r("POST", "/containers/prune")(prune)
    r("GET", "/containers/{id}/json")(inspect)
    r("POST", "/containers/{id}/start")(start)
    r("POST", "/containers/{id}/stop")(stop)
    r("POST", "/containers/{id}/restart")(restart)
    r("POST", "/containers/{id}/kill")(kill)
    r("POST", "/containers/{id}/pause")(pause)
    r("POST", "/containers/{id}/unpause")(unpause)
    r("POST", "/containers/{id}/wait")(wait)
    r("DELETE", "/containers/{id}")(remove)
    r("DELETE", "/containers/{id}/{alias}")(remove_link)
    r("POST", "/containers/{id}/rename")(rename)
    r("GET", "/containers/{id}/top")(top)
    r("POST", "/containers/{id}/update")(update)
