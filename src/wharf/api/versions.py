"""What changed in the Engine API's answers between the versions wharfd serves (1.24 to 1.47),
applied to the engine's answer by the request's version, as dockerd shapes its answers: the
engine returns the newest shape plus what older versions still showed, and this module trims.

The changes kept (``../shared/reference/docker-engine-api-version-history.md``):

- 1.42: ``KernelMemory``/``KernelMemoryTCP`` are left out of container inspect when unset.
- 1.44: ``VirtualSize`` is gone from ``GET /images/json`` and image inspect.
- 1.45: ``Container`` and ``ContainerConfig`` are gone from image inspect.
- (framing of streams without a terminal: ``streams.framing``; volume prune's anonymous-only
  rule: ``routes/volumes.py``; ``Config.MacAddress`` below 1.44: ``engine/create.py``)
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from wharf.api.server import at_least


def image_summary(request: web.Request, summary: dict[str, Any]) -> dict[str, Any]:
    if at_least(request, "1.44"):
        summary.pop("VirtualSize", None)
    return summary


def image_inspect(request: web.Request, view: dict[str, Any]) -> dict[str, Any]:
    if at_least(request, "1.44"):
        view.pop("VirtualSize", None)
    if at_least(request, "1.45"):
        view.pop("Container", None)
        view.pop("ContainerConfig", None)
    return view


def container_inspect(request: web.Request, view: dict[str, Any]) -> dict[str, Any]:
    hc = view.get("HostConfig") or {}
    if at_least(request, "1.42"):
        for key in ("KernelMemory", "KernelMemoryTCP"):
            if not hc.get(key):
                hc.pop(key, None)
    return view
