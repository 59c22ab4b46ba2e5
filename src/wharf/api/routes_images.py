"""Image endpoints of the Engine API, over wharf.images (store, ops, archive) and wharf.distribution."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from wharf.api.server import Router, ThreadReader, qbool, qfilters, stream_from_thread
from wharf.errors import InvalidArgument


def _engine(request: web.Request) -> Any:
    return request.app["engine"]


def _ops() -> Any:
    import importlib

    return importlib.import_module("wharf.images.ops")


async def _run(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _in_use(engine: Any) -> Callable[[str], list[tuple[str, bool]]]:
    """image id → [(container id, running)] of the containers made from it."""

    def users(image_id: str) -> list[tuple[str, bool]]:
        return [(c.id, c.state.running) for c in engine.containers.all() if c.image_id == image_id]

    return users


async def list_images(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    filters = qfilters(request)
    if qbool(request, "all"):
        filters.setdefault("all", ["true"])
    out = await _run(_ops().list_images, engine.images, filters)
    counts: dict[str, int] = {}
    for c in engine.containers.all():
        counts[c.image_id] = counts.get(c.image_id, 0) + 1
    for img in out:
        img["Containers"] = counts.get(img["Id"], 0) if qbool(request, "shared-size") else -1
    return web.json_response(out)


async def inspect(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    return web.json_response(await _run(_ops().inspect, engine.images, request.match_info["name"]))


async def history(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    return web.json_response(await _run(_ops().history, engine.images, request.match_info["name"]))


async def tag(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    repo = request.query.get("repo") or ""
    tag_ = request.query.get("tag") or ""
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    target = f"{repo}:{tag_}" if tag_ else repo
    await _run(_ops().tag, engine.images, request.match_info["name"], target)
    engine.events.emit("image", "tag", request.match_info["name"], {"name": target})
    return web.Response(status=201)


async def remove(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    name = request.match_info["name"]
    result = await _run(
        _ops().remove,
        engine.images,
        name,
        qbool(request, "force"),
        qbool(request, "noprune"),
        _in_use(engine),
    )
    for item in result:
        for action, ident in item.items():
            engine.events.emit(
                "image",
                action.lower().replace("untagged", "untag").replace("deleted", "delete"),
                ident,
                {"name": ident},
            )
    return web.json_response(result)


async def prune(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    filters = qfilters(request)
    dangling = filters.pop("dangling", ["true"])[0].lower() in ("true", "1")
    result = await _run(_ops().prune, engine.images, dangling, filters, _in_use(engine))
    return web.json_response(result)


async def _stream_json(
    request: web.Request, produce: Callable[[Callable[[dict[str, Any]], None]], Any]
) -> web.StreamResponse:
    """Run ``produce(emit)`` in a thread; every emitted dict is one line of Docker's JSON progress
    stream. An error after the headers went out is reported in the stream, as Docker does."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    q: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def emit(msg: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(q.put_nowait, msg)

    def work() -> None:
        try:
            produce(emit)
        except Exception as exc:  # into the stream: the status line is already sent
            emit({"errorDetail": {"message": str(exc)}, "error": str(exc)})
        finally:
            loop.call_soon_threadsafe(q.put_nowait, None)

    fut = loop.run_in_executor(None, work)
    try:
        while True:
            msg = await q.get()
            if msg is None:
                break
            await resp.write(json.dumps(msg).encode() + b"\r\n")
    finally:
        await fut
    await resp.write_eof()
    return resp


def _distribution() -> Any:
    import importlib

    return importlib.import_module("wharf.distribution")


async def create(request: web.Request) -> web.StreamResponse:
    """POST /images/create: pull (fromImage) or import (fromSrc)."""
    engine = _engine(request)
    from_image = request.query.get("fromImage")
    from_src = request.query.get("fromSrc")
    tag_ = request.query.get("tag") or ""
    if from_src is not None:
        if from_src != "-":
            raise InvalidArgument(
                "importing from a URL is not supported: send the tar in the body (fromSrc=-)"
            )
        repo = request.query.get("repo") or ""
        ref = f"{repo}:{tag_}" if repo and tag_ else repo
        body = ThreadReader(request, asyncio.get_running_loop())  # streamed: no body size limit
        changes = request.query.getall("changes", [])
        message = request.query.get("message") or ""

        def do_import(emit: Callable[[dict[str, Any]], None]) -> None:
            import importlib

            archive = importlib.import_module("wharf.images.archive")
            image_id = archive.import_rootfs(engine.images, body, ref or None, changes, message)
            emit({"status": image_id})

        return await _stream_json(request, do_import)
    if not from_image:
        raise InvalidArgument("fromImage or fromSrc is required")
    if tag_ and "@" not in from_image:
        name = f"{from_image}@{tag_}" if tag_.startswith("sha256:") else f"{from_image}:{tag_}"
    else:
        name = from_image
    auth = request.headers.get("X-Registry-Auth")

    def do_pull(emit: Callable[[dict[str, Any]], None]) -> None:
        dist = _distribution()
        dist.pull_image(engine.images, name, emit=emit, auth=auth, config=engine.cfg)

    resp = await _stream_json(request, do_pull)
    engine.events.emit("image", "pull", name, {"name": name})
    return resp


async def push(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    name = request.match_info["name"]
    tag_ = request.query.get("tag") or ""
    full = f"{name}:{tag_}" if tag_ else name
    auth = request.headers.get("X-Registry-Auth")

    def do_push(emit: Callable[[dict[str, Any]], None]) -> None:
        dist = _distribution()
        dist.push_image(engine.images, full, emit=emit, auth=auth, config=engine.cfg)

    resp = await _stream_json(request, do_push)
    engine.events.emit("image", "push", full, {"name": full})
    return resp


async def save(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    names = request.query.getall("names", [])
    if "name" in request.match_info:
        names = [request.match_info["name"]]
    if not names:
        raise InvalidArgument("no images to save")
    import importlib

    archive = importlib.import_module("wharf.images.archive")
    for n in names:
        await _run(engine.images.resolve, n)  # 404 before any byte is sent
    return await stream_from_thread(
        request, lambda out: archive.save(engine.images, names, out), {"Content-Type": "application/x-tar"}
    )


async def load(request: web.Request) -> web.StreamResponse:
    engine = _engine(request)
    import importlib

    archive = importlib.import_module("wharf.images.archive")
    body = ThreadReader(request, asyncio.get_running_loop())  # streamed: no body size limit
    loaded = await _run(archive.load, engine.images, body)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    for line in loaded:
        text = line if isinstance(line, str) else str(line)
        await resp.write(json.dumps({"stream": text + "\n"}).encode() + b"\r\n")
    await resp.write_eof()
    return resp


async def auth(request: web.Request) -> web.StreamResponse:
    """POST /auth: check credentials against the registry (the CLI then stores them itself)."""
    from wharf.api.server import json_body

    body = await json_body(request, required=True)
    server = body.get("serveraddress") or "https://index.docker.io/v1/"
    dist = _distribution()
    status = await _run(dist.login, server, body.get("username") or "", body.get("password") or "")
    return web.json_response({"Status": status, "IdentityToken": ""})


def register(router: Router) -> None:
    r = router.add
    r("POST", "/auth")(auth)
    r("GET", "/images/json")(list_images)
    r("POST", "/images/create")(create)
    r("POST", "/images/load")(load)
    r("GET", "/images/get")(save)
    r("POST", "/images/prune")(prune)
    r("GET", "/images/{name:.+}/json")(inspect)
    r("GET", "/images/{name:.+}/history")(history)
    r("GET", "/images/{name:.+}/get")(save)
    r("POST", "/images/{name:.+}/tag")(tag)
    r("POST", "/images/{name:.+}/push")(push)
    r("DELETE", "/images/{name:.+}")(remove)
