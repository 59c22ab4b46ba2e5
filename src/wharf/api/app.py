"""The Engine API application: the middleware, the one backend and every route module's table.

``make_app(backend)`` is all wharfd (``daemon/main.py``) and the route tests call; the route
modules import ``api/server.py`` and ``api/backend.py``, never this module, so the imports run
one way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from wharf.api.backend import BACKEND, Backend
from wharf.api.routes import (
    archive,
    attach,
    build,
    containers,
    execs,
    images,
    networks,
    stats,
    swarm,
    system,
    volumes,
)
from wharf.api.server import MAX_BODY, Router, middlewares

if TYPE_CHECKING:
    from wharf.engine.engine import Engine

# registration order is the table's order (aiohttp tries resources as they were added)
ROUTE_MODULES = (system, containers, attach, stats, archive, execs, networks, volumes, images, build, swarm)


def make_app(backend: Backend) -> web.Application:
    app = web.Application(middlewares=middlewares(), client_max_size=MAX_BODY)
    app[BACKEND] = backend
    router = Router()
    for module in ROUTE_MODULES:
        module.register(router)
    router.install(app)
    return app


if TYPE_CHECKING:

    def _engine_is_a_backend(engine: Engine) -> Backend:
        """mypy's proof that the engine's facade plays every role of api/backend.py."""
        return engine
