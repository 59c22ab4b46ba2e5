"""/networks: list, inspect, create, remove, connect, disconnect, prune (Docker's shapes), over
``backend.NetworkBackend``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.api import backend, bodies
from wharf.api.server import Router, json_body, labels_match, qfilters
from wharf.errors import InvalidArgument

NETWORK_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


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
    views = [v for v in backend.networks(request).net.all_views() if match(v, filters)]
    return web.json_response(views)


async def inspect(request: web.Request) -> web.StreamResponse:
    return web.json_response(backend.networks(request).net.view(request.match_info["id"]))


async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=True, schema=bodies.NETWORK_CREATE)
    b = backend.networks(request)
    nid, warning = await b.net.create(body)
    n = b.net.networks[nid]
    b.events.emit("network", "create", nid, {"name": n.name, "type": n.driver})
    return web.json_response({"Id": nid, "Warning": warning}, status=201)


async def remove(request: web.Request) -> web.StreamResponse:
    b = backend.networks(request)
    n = await b.net.remove(request.match_info["id"])
    b.events.emit("network", "destroy", n.id, {"name": n.name, "type": n.driver})
    return web.Response(status=204)


async def connect(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=True, schema=bodies.NETWORK_CONNECT)
    await backend.networks(request).connect(
        str(body.get("Container") or ""), request.match_info["id"], body.get("EndpointConfig") or {}
    )
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=True, schema=bodies.NETWORK_DISCONNECT)
    await backend.networks(request).disconnect(
        str(body.get("Container") or ""), request.match_info["id"], bool(body.get("Force"))
    )
    return web.Response(status=200)


async def prune(request: web.Request) -> web.StreamResponse:
    filters = qfilters(request)
    labels = filters.get("label") or []
    removed = await backend.networks(request).net.prune(
        lambda n: bool(labels) and not labels_match(n.labels, labels)
    )
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
