"""/networks: list, inspect, create, remove, connect, disconnect, prune (Docker's shapes)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.api import bodies
from wharf.api.server import Router, json_body, labels_match, qfilters
from wharf.errors import InvalidArgument
from wharf.network.manager import NetworkManager

NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def _net(request: web.Request) -> NetworkManager:
    mgr: NetworkManager = request.app["engine"].net
    return mgr


def match(view: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    for key in filters:
        if key not in NETWORK_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    predefined = view["Name"] in ("bridge", "host", "none")
    if "name" in filters and not any(f in view["Name"] for f in filters["name"]):
        return False
    if "id" in filters and not any(view["Id"].startswith(f) for f in filters["id"]):
        return False
    if "driver" in filters and view["Driver"] not in filters["driver"]:
        return False
    if "label" in filters and not labels_match(view.get("Labels") or {}, filters["label"]):
        return False
    if "type" in filters:
        kind = "builtin" if predefined else "custom"
        if kind not in filters["type"]:
            return False
    if "dangling" in filters:
        dangling = not predefined and not view["Containers"]
        if (filters["dangling"][0].lower() in ("true", "1")) != dangling:
            return False
    return True


async def list_networks(request: web.Request) -> web.StreamResponse:
    filters = qfilters(request)
    views = [v for v in _net(request).all_views() if match(v, filters)]
    return web.json_response(views)


async def inspect(request: web.Request) -> web.StreamResponse:
    return web.json_response(_net(request).view(request.match_info["id"]))


async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=True, schema=bodies.NETWORK_CREATE)
    mgr = _net(request)
    nid, warning = await mgr.create(body)
    n = mgr.networks[nid]
    request.app["engine"].events.emit("network", "create", nid, {"name": n.name, "type": n.driver})
    return web.json_response({"Id": nid, "Warning": warning}, status=201)


async def remove(request: web.Request) -> web.StreamResponse:
    engine = request.app["engine"]
    n = await _net(request).remove(request.match_info["id"])
    engine.events.emit("network", "destroy", n.id, {"name": n.name, "type": n.driver})
    return web.Response(status=204)


async def connect(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=True, schema=bodies.NETWORK_CONNECT)
    engine = request.app["engine"]
    await engine.connect(
        str(body.get("Container") or ""), request.match_info["id"], body.get("EndpointConfig") or {}
    )
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=True, schema=bodies.NETWORK_DISCONNECT)
    engine = request.app["engine"]
    await engine.disconnect(
        str(body.get("Container") or ""), request.match_info["id"], bool(body.get("Force"))
    )
    return web.Response(status=200)


async def prune(request: web.Request) -> web.StreamResponse:
    filters = qfilters(request)
    labels = filters.get("label") or []
    removed = await _net(request).prune(lambda n: bool(labels) and not labels_match(n.labels, labels))
    return web.json_response({"NetworksDeleted": removed})


def register(router: Router) -> None:
    r = router.add
    r("GET", "/networks")(list_networks)
    r("POST", "/networks/create")(create)
    r("POST", "/networks/prune")(prune)
    r("GET", "/networks/{id}")(inspect)
    r("DELETE", "/networks/{id}")(remove)
    r("POST", "/networks/{id}/connect")(connect)
    r("POST", "/networks/{id}/disconnect")(disconnect)
