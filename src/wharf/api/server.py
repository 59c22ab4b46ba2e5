"""The Docker Engine API server's edge (aiohttp): versions, errors, request parsing, the router.

Every route is served unversioned and under ``/v1.NN/`` for NN in MIN..MAX, as dockerd does; a
newer or older version is refused with Docker's message. Errors: wharf's error classes become
Docker's HTTP statuses (``api/errors.py``, one function) and ``{"message": ...}`` bodies here,
in the middleware; anything else a handler raises is a bug, answered 500. The routes are
``api/routes/*``, each over its role of ``api/backend.py``; ``api/app.py`` assembles them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from wharf import errors
from wharf.api.errors import status_of
from wharf.api.schema import Node, loads
from wharf.base import trace
from wharf.base.files import no_space
from wharf.base.gojson import json_kind

log = logging.getLogger("wharf.api")

API_VERSION = "1.47"
MIN_API_VERSION = "1.24"
MAX_BODY = 32 << 20
SERVER = "wharf/0.1.0 (linux)"  # the Server header of every answer (api/fastping.py too)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# the version the client asked for (its /v1.NN/ prefix), or API_VERSION when it named none
REQUEST_VERSION: web.RequestKey[str] = web.RequestKey("api_version", str)


def at_least(request: web.Request, version: str) -> bool:
    """The request speaks API ``version`` or newer (the route's behaviour changed there)."""
    return _version_tuple(request[REQUEST_VERSION]) >= _version_tuple(version)


def error_response(status: int, message: str) -> web.Response:
    if status == 304:
        return web.Response(status=304)
    # exactly "application/json" (no charset): the docker CLI decodes error bodies only then
    body = json.dumps({"message": message}).encode()
    return web.Response(body=body, status=status, content_type="application/json")


def _version_tuple(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (0,)


@web.middleware
async def traced(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Each request's arrival and answer on the WHARF_TRACE timeline (in front of
    ``middleware``, and only when tracing is on: no cost per request otherwise)."""
    what = f"{request.method} {request.path}"
    trace.mark("wharfd", "request", what)
    resp = await handler(request)
    trace.mark("wharfd", "response", f"{what} {resp.status}")
    return resp


def middlewares() -> list[Any]:
    return [traced, middleware] if trace.enabled() else [middleware]


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    version = request.match_info.get("version")
    if version is not None:
        v = version[1:]
        if _version_tuple(v) > _version_tuple(API_VERSION):
            return error_response(
                400, f"client version {v} is too new. Maximum supported API version is {API_VERSION}"
            )
        if _version_tuple(v) < _version_tuple(MIN_API_VERSION):
            return error_response(
                400,
                f"client version {v} is too old. Minimum supported API version is {MIN_API_VERSION},"
                " please upgrade your client to a newer version",
            )
        request[REQUEST_VERSION] = v
    else:
        request[REQUEST_VERSION] = API_VERSION
    try:
        resp = await handler(request)
    except errors.WharfError as exc:
        status = status_of(exc)
        if status == 500:
            log.warning("%s %s: %s", request.method, request.path, exc)
        return error_response(status, str(exc))
    except web.HTTPException:
        raise
    except ConnectionError:
        # the client left while its answer was streaming: nothing to tell it; the answer that
        # cannot be sent ends quietly in aiohttp (a failed prepare is a closed connection)
        log.debug("%s %s: the client went away", request.method, request.path)
        return web.Response(status=499)
    except Exception as exc:  # a bug: the daemon keeps serving, the client learns what broke
        full = no_space(exc)
        if full is not None:  # not a bug: the disk is full, in Docker's words (and status)
            log.warning("%s %s: %s", request.method, request.path, full)
            return error_response(status_of(full), str(full))
        log.exception("%s %s", request.method, request.path)
        return error_response(500, f"internal error: {type(exc).__name__}: {exc}")
    if not resp.prepared:
        resp.headers.setdefault("Api-Version", API_VERSION)
        resp.headers.setdefault("Docker-Experimental", "false")
        resp.headers.setdefault("Ostype", "linux")
        resp.headers.setdefault("Server", SERVER)
    return resp


async def json_body(
    request: web.Request, required: bool = False, schema: Node | None = None
) -> dict[str, Any]:
    """The request's JSON object, decoded by ``schema`` (see ``api/schema.py``) when given: a
    wrong type at any depth is Docker's 400 with Go's words. Bad JSON is a 400; an empty body is
    {} unless required."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise errors.TooLarge(
            f"request body too large: the limit for a JSON body is {MAX_BODY >> 20} MiB"
        ) from None
    if not raw.strip():
        if required:
            raise errors.InvalidArgument("invalid JSON: request body is empty")
        return {}
    body = loads(raw)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise errors.InvalidArgument(
            f"invalid JSON: json: cannot unmarshal {json_kind(body)} into Go value of type object"
        )
    if schema is not None:
        decoded: dict[str, Any] = schema.validate(body)
        return decoded
    return body


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    v = request.query.get(name)
    if v is None:
        return default
    return v.lower() not in ("", "0", "false", "no")


def qint(request: web.Request, name: str, default: int | None = None) -> int | None:
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        raise errors.InvalidArgument(f"invalid value for {name}: {v!r}: not an integer") from None


def labels_match(labels: dict[str, str], wanted: list[str]) -> bool:
    """Docker's ``label`` filter: every ``key`` present, every ``key=value`` equal."""
    for w in wanted:
        k, eq, v = w.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    return True


def qfilters(request: web.Request) -> dict[str, list[str]]:
    """Docker's filters parameter: {"key": ["v", ...]} or the legacy {"key": {"v": true}}."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):  # nested deeper than the parser goes: no filter either
        raise errors.InvalidArgument(f"invalid filter: {raw}") from None
    if not isinstance(obj, dict):
        raise errors.InvalidArgument(f"invalid filter: {raw}")
    out: dict[str, list[str]] = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out[k] = [x for x, on in v.items() if on]
        elif isinstance(v, list):
            out[k] = [str(x) for x in v]
        else:
            raise errors.InvalidArgument(f"invalid filter: {raw}")
    return out


class Router:
    """Collects (method, path, handler) and registers each both bare and version-prefixed."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, str, Handler]] = []

    def add(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes.append((method, path, fn))
            return fn

        return deco

    def install(self, app: web.Application) -> None:
        for method, path, fn in self.routes:
            app.router.add_route(method, path, fn)
            app.router.add_route(method, "/{version:v[0-9]+\\.[0-9]+}" + path, fn)
