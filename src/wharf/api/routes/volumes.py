"""/volumes: list, create, inspect, remove, prune (Docker's shapes and errors), over
``backend.VolumeBackend``."""

from __future__ import annotations

import os
import secrets
from typing import Any

from aiohttp import web

from wharf.api import backend, bodies
from wharf.api.backend import VolumeRecords
from wharf.api.server import Router, at_least, json_body, labels_match, qbool, qfilters
from wharf.base import trees
from wharf.errors import Conflict, InvalidArgument
from wharf.volumes.store import Volume

VOLUME_FILTERS = ("dangling", "driver", "label", "name", "all")


def view(v: Volume, volumes: VolumeRecords) -> dict[str, Any]:
    return {
        "CreatedAt": v.created,
        "Driver": v.driver,
        "Labels": v.labels,
        "Mountpoint": volumes.data_dir(v.name),
        "Name": v.name,
        "Options": v.options or None,
        "Scope": "local",
    }


def match(v: Volume, filters: dict[str, list[str]], in_use: bool) -> bool:
    for key in filters:
        if key not in VOLUME_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    if "name" in filters and not any(f in v.name for f in filters["name"]):
        return False
    if "driver" in filters and v.driver not in filters["driver"]:
        return False
    if "label" in filters and not labels_match(v.labels, filters["label"]):
        return False
    if "dangling" in filters:
        want = filters["dangling"][0].lower()
        if want not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={filters['dangling'][0]}'")
        if (want in ("true", "1")) == in_use:
            return False
    return True


async def list_volumes(request: web.Request) -> web.StreamResponse:
    b = backend.volumes(request)
    filters = qfilters(request)
    out = [view(v, b.volumes) for v in b.volumes.all() if match(v, filters, bool(b.volume_users(v.name)))]
    return web.json_response({"Volumes": out, "Warnings": None})


async def create(request: web.Request) -> web.StreamResponse:
    b = backend.volumes(request)
    body = await json_body(request, schema=bodies.VOLUME_CREATE)
    name = str(body.get("Name") or "")
    labels = dict(body.get("Labels") or {})
    if not name:  # dockerd: a volume asked for without a name is anonymous (prune takes it)
        labels["com.docker.volume.anonymous"] = ""
    v, made = b.volumes.create(
        name or secrets.token_hex(32),
        str(body.get("Driver") or "local"),
        body.get("DriverOpts") or None,
        labels or None,
        anonymous=not name,
    )
    if made:
        b.events.emit("volume", "create", v.name, {"driver": v.driver})
    return web.json_response(view(v, b.volumes), status=201)


async def inspect(request: web.Request) -> web.StreamResponse:
    volumes = backend.volumes(request).volumes
    return web.json_response(view(volumes.get(request.match_info["name"]), volumes))


async def remove(request: web.Request) -> web.StreamResponse:
    b = backend.volumes(request)
    name = request.match_info["name"]
    if b.volumes.find(name) is None:
        if qbool(request, "force"):
            return web.Response(status=204)
    v = b.volumes.get(name)
    users = b.volume_users(name)
    if users:
        raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
    b.volumes.remove(name)
    b.events.emit("volume", "destroy", v.name, {"driver": v.driver})
    return web.Response(status=204)


async def prune(request: web.Request) -> web.StreamResponse:
    """Unused volumes: every one before API 1.42; since 1.42 anonymous ones only unless
    ``all=true``, as dockerd."""
    b = backend.volumes(request)
    filters = qfilters(request)
    everything = (filters.pop("all", ["false"])[0]).lower() in ("true", "1") or not at_least(request, "1.42")
    removed, space = [], 0
    for v in b.volumes.all():
        if b.volume_users(v.name) or not match(v, filters, False):
            continue
        if not v.anonymous and not everything:
            continue
        space += disk_usage(b.volumes.data_dir(v.name))
        b.volumes.remove(v.name)
        b.events.emit("volume", "destroy", v.name, {"driver": v.driver})
        removed.append(v.name)
    return web.json_response({"VolumesDeleted": removed, "SpaceReclaimed": space})


def disk_usage(path: str) -> int:
    total = 0
    for d in trees.walk(path):
        for f in d.files:
            try:
                total += os.stat(f, dir_fd=d.fd, follow_symlinks=False).st_blocks * 512
            except OSError:
                pass
    return total


def register(router: Router) -> None:
    r = router.add
    r("GET", "/volumes")(list_volumes)
    r("POST", "/volumes/create")(create)
    r("POST", "/volumes/prune")(prune)
    r("GET", "/volumes/{name}")(inspect)
    r("DELETE", "/volumes/{name}")(remove)
