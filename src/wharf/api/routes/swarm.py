"""Swarm mode's endpoints, answered as dockerd answers them on a node that is in no swarm.

wharf has no swarm mode (its multi-host answer is Kubernetes through CRI). Clients learn that
the way they learn it from dockerd: ``/info`` says ``LocalNodeState: inactive``, and the swarm,
node, service, task, secret and config endpoints answer 503 with dockerd's words, so tools
that probe (docker-py's ``leave_swarm(force=True)``, ``docker node ls``) behave as they do on
a standalone Docker host. ``init`` and ``join``, which dockerd would carry out, are refused
with a 503 that says why.
"""

from __future__ import annotations

from aiohttp import web

from wharf.api.server import Router
from wharf.errors import Unavailable

NO_SWARM = "This node is not part of a swarm"
NO_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this'
    " node to swarm and try again."
)
UNSUPPORTED = "wharf does not run in swarm mode: this node cannot {} a swarm"

# the Swarm section of /info on a node outside a swarm
INFO = {
    "NodeID": "",
    "NodeAddr": "",
    "LocalNodeState": "inactive",
    "ControlAvailable": False,
    "Error": "",
    "RemoteManagers": None,
}


async def not_a_manager(request: web.Request) -> web.StreamResponse:
    raise Unavailable(NO_MANAGER)


async def not_in_a_swarm(request: web.Request) -> web.StreamResponse:
    raise Unavailable(NO_SWARM)


async def init(request: web.Request) -> web.StreamResponse:
    raise Unavailable(UNSUPPORTED.format("initialize"))


async def join(request: web.Request) -> web.StreamResponse:
    raise Unavailable(UNSUPPORTED.format("join"))


_MANAGER_ONLY = [
    ("GET", "/swarm"),
    ("POST", "/swarm/update"),
    ("GET", "/swarm/unlockkey"),
    ("GET", "/nodes"),
    ("GET", "/nodes/{id}"),
    ("DELETE", "/nodes/{id}"),
    ("POST", "/nodes/{id}/update"),
    ("GET", "/services"),
    ("POST", "/services/create"),
    ("GET", "/services/{id}"),
    ("DELETE", "/services/{id}"),
    ("POST", "/services/{id}/update"),
    ("GET", "/services/{id}/logs"),
    ("GET", "/tasks"),
    ("GET", "/tasks/{id}"),
    ("GET", "/tasks/{id}/logs"),
    ("GET", "/secrets"),
    ("POST", "/secrets/create"),
    ("GET", "/secrets/{id}"),
    ("DELETE", "/secrets/{id}"),
    ("POST", "/secrets/{id}/update"),
    ("GET", "/configs"),
    ("POST", "/configs/create"),
    ("GET", "/configs/{id}"),
    ("DELETE", "/configs/{id}"),
    ("POST", "/configs/{id}/update"),
]


def register(router: Router) -> None:
    for method, path in _MANAGER_ONLY:
        router.add(method, path)(not_a_manager)
    router.add("POST", "/swarm/leave")(not_in_a_swarm)
    router.add("POST", "/swarm/unlock")(not_in_a_swarm)
    router.add("POST", "/swarm/init")(init)
    router.add("POST", "/swarm/join")(join)
