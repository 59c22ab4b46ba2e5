"""GET /containers/{id}/stats: one sample (two, half a second apart, for the CPU delta unless
``one-shot``) or a stream of one a second while the container exists (over
``backend.StatsBackend``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from wharf.api import backend
from wharf.api.server import Router, qbool
from wharf.engine.stats import empty_sample

NEVER = "0001-01-01T00:00:00Z"


async def container_stats(request: web.Request) -> web.StreamResponse:
    b = backend.stats(request)
    c = b.get(request.match_info["id"])
    stream = qbool(request, "stream", True)
    one_shot = qbool(request, "one-shot")
    if not c.state.running:
        return web.json_response(empty_sample(c))
    if not stream:
        cur = b.stats(c)
        if one_shot:
            cur["preread"] = NEVER
            cur["precpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
        else:
            await asyncio.sleep(0.5)
            first, cur = cur, b.stats(c)
            cur["preread"] = first["read"]
            cur["precpu_stats"] = first["cpu_stats"]
        return web.json_response(cur)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    pre: dict[str, Any] | None = None
    try:
        while True:
            if b.by_id(c.id) is None:
                break
            cur = b.stats(c) if c.state.running else empty_sample(c)
            cur["preread"] = pre["read"] if pre else NEVER
            cur["precpu_stats"] = pre["cpu_stats"] if pre else {"cpu_usage": {"total_usage": 0}}
            await resp.write(json.dumps(cur).encode() + b"\n")
            pre = cur
            await asyncio.sleep(1.0)
    except (ConnectionError, asyncio.CancelledError):
        pass
    return resp


def register(router: Router) -> None:
    router.add("GET", "/containers/{id}/stats")(container_stats)
