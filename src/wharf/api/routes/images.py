"""Image endpoints of the Engine API, over ``backend.ImageBackend``: the image store through
wharf.images (ops, archive) and wharf.distribution, imported when first used (a registry
client costs the daemon's start ~40 ms)."""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web

from wharf.api import backend, versions
from wharf.api.backend import ImageBackend
from wharf.api.server import Router, json_body, qbool, qfilters
from wharf.api.streams import Emit, body_reader, in_thread, stream_from_thread, stream_json
from wharf.errors import InvalidArgument, WharfError


def _in_use(b: ImageBackend) -> Callable[[str], list[tuple[str, bool]]]:
    """image id → [(container id, running)] of the containers made from it."""

    def users(image_id: str) -> list[tuple[str, bool]]:
        return [(c.id, c.state.running) for c in b.all_containers() if c.image_id == image_id]

    return users


async def list_images(request: web.Request) -> web.StreamResponse:
    from wharf.images import ops

    b = backend.images(request)
    filters = qfilters(request)
    if qbool(request, "all"):
        filters.setdefault("all", ["true"])
    out = await in_thread(ops.list_images, b.images, filters)
    counts: dict[str, int] = {}
    for c in b.all_containers():
        counts[c.image_id] = counts.get(c.image_id, 0) + 1
    for img in out:
        img["Containers"] = counts.get(img["Id"], 0) if qbool(request, "shared-size") else -1
    return web.json_response([versions.image_summary(request, img) for img in out])


async def inspect(request: web.Request) -> web.StreamResponse:
    from wharf.images import ops

    b = backend.images(request)
    view = await in_thread(ops.inspect, b.images, request.match_info["name"])
    return web.json_response(versions.image_inspect(request, view))


async def history(request: web.Request) -> web.StreamResponse:
    from wharf.images import ops

    b = backend.images(request)
    return web.json_response(await in_thread(ops.history, b.images, request.match_info["name"]))


async def tag(request: web.Request) -> web.StreamResponse:
    from wharf.images import ops

    b = backend.images(request)
    repo = request.query.get("repo") or ""
    tag_ = request.query.get("tag") or ""
    if not repo:
        raise InvalidArgument("repository name must have at least one component")
    target = f"{repo}:{tag_}" if tag_ else repo
    await in_thread(ops.tag, b.images, request.match_info["name"], target)
    b.events.emit("image", "tag", request.match_info["name"], {"name": target})
    return web.Response(status=201)


async def remove(request: web.Request) -> web.StreamResponse:
    from wharf.images import ops

    b = backend.images(request)
    name = request.match_info["name"]
    result = await in_thread(
        ops.remove, b.images, name, qbool(request, "force"), qbool(request, "noprune"), _in_use(b)
    )
    for item in result:
        for action, ident in item.items():
            b.events.emit(
                "image",
                action.lower().replace("untagged", "untag").replace("deleted", "delete"),
                ident,
                {"name": ident},
            )
    return web.json_response(result)


async def prune(request: web.Request) -> web.StreamResponse:
    from wharf.images import ops

    b = backend.images(request)
    filters = qfilters(request)
    dangling = filters.pop("dangling", ["true"])[0].lower() in ("true", "1")
    result = await in_thread(ops.prune, b.images, dangling, filters, _in_use(b))
    return web.json_response(result)


async def _import(request: web.Request, b: ImageBackend, from_src: str, tag_: str) -> web.StreamResponse:
    """POST /images/create?fromSrc=-: the body is a rootfs tar that becomes a one-layer image."""
    from wharf.images import archive

    if from_src != "-":
        raise InvalidArgument("importing from a URL is not supported: send the tar in the body (fromSrc=-)")
    repo = request.query.get("repo") or ""
    ref = f"{repo}:{tag_}" if repo and tag_ else repo
    body = body_reader(request)
    changes = request.query.getall("changes", [])
    message = request.query.get("message") or ""

    def do_import(emit: Emit) -> None:
        image_id = archive.import_rootfs(b.images, body, ref or None, changes, message)
        emit({"status": image_id})

    return await stream_json(request, do_import)


async def create(request: web.Request) -> web.StreamResponse:
    """POST /images/create: pull (fromImage) or import (fromSrc)."""
    b = backend.images(request)
    from_image = request.query.get("fromImage")
    from_src = request.query.get("fromSrc")
    tag_ = request.query.get("tag") or ""
    if from_src is not None:
        return await _import(request, b, from_src, tag_)
    if not from_image:
        raise InvalidArgument("fromImage or fromSrc is required")
    if tag_ and "@" not in from_image:
        name = f"{from_image}@{tag_}" if tag_.startswith("sha256:") else f"{from_image}:{tag_}"
    else:
        name = from_image
    auth = request.headers.get("X-Registry-Auth")

    def do_pull(emit: Emit) -> None:
        from wharf.distribution import pull_image

        pull_image(b.images, name, emit=emit, auth=auth, config=b.cfg)

    resp = await stream_json(request, do_pull)
    b.events.emit("image", "pull", name, {"name": name})
    return resp


async def push(request: web.Request) -> web.StreamResponse:
    b = backend.images(request)
    name = request.match_info["name"]
    tag_ = request.query.get("tag") or ""
    full = f"{name}:{tag_}" if tag_ else name
    auth = request.headers.get("X-Registry-Auth")

    def do_push(emit: Emit) -> None:
        from wharf.distribution import push_image

        push_image(b.images, full, emit=emit, auth=auth, config=b.cfg)

    resp = await stream_json(request, do_push)
    b.events.emit("image", "push", full, {"name": full})
    return resp


async def save(request: web.Request) -> web.StreamResponse:
    from wharf.images import archive

    b = backend.images(request)
    names = request.query.getall("names", [])
    if "name" in request.match_info:
        names = [request.match_info["name"]]
    if not names:
        raise InvalidArgument("no images to save")
    for n in names:
        await in_thread(b.images.resolve, n)  # 404 before any byte is sent
    return await stream_from_thread(
        request, lambda out: archive.save(b.images, names, out), {"Content-Type": "application/x-tar"}
    )


async def load(request: web.Request) -> web.StreamResponse:
    from wharf.images import archive

    b = backend.images(request)
    try:
        loaded, failed = await in_thread(archive.load, b.images, body_reader(request)), ""
    except WharfError as exc:  # dockerd answers 200 and says what went wrong in the stream
        loaded, failed = [], str(exc)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    for line in loaded:
        await resp.write(json.dumps({"stream": line + "\n"}).encode() + b"\r\n")
    if failed:
        await resp.write(
            json.dumps({"errorDetail": {"message": failed}, "error": failed}).encode() + b"\r\n"
        )
    await resp.write_eof()
    return resp


async def auth(request: web.Request) -> web.StreamResponse:
    """POST /auth: check credentials against the registry (the CLI then stores them itself)."""
    from wharf.distribution import login

    body = await json_body(request, required=True)
    server = body.get("serveraddress") or "https://index.docker.io/v1/"
    status = await in_thread(login, server, body.get("username") or "", body.get("password") or "")
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
