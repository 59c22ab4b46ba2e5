"""POST /build: Docker's classic builder (version 1) over wharf.build.

The request: the context as the body (a tar in any of Docker's compressions), the query's
``dockerfile``, ``t`` (repeated), ``buildargs`` and ``labels`` (JSON objects), ``target``,
``q``, ``nocache``, ``pull``, ``cachefrom``, ``networkmode``, ``extrahosts``, ``shmsize``,
``memory``/``memswap``/``cpu*``, ``remote`` (a URL to a context archive or to a Dockerfile,
fetched by the daemon). What fails
before the first step (a context that is not an archive, a Dockerfile that does not parse, a
bad tag) is an HTTP error, as dockerd answers it; once the steps run, progress is dockerd's
JSON stream: ``stream`` lines (``Step N/M : ...``, the steps' output, `` ---> <id>``), ``aux``
with the image ID, ``Successfully built``/``tagged``, and a failure as ``errorDetail``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from wharf.api.backend import BACKEND
from wharf.api.server import Router, qbool
from wharf.api.streams import body_reader, in_thread
from wharf.errors import InvalidArgument, WharfError

if TYPE_CHECKING:
    from wharf.build.executor import BuildOptions, Emit
    from wharf.engine.engine import Engine

CONTEXT_LIMIT = 8 << 30  # bytes unpacked; more is refused, not written until the disk is full
_RESOURCES = {"memory": "Memory", "memswap": "MemorySwap", "cpushares": "CpuShares",
              "cpusetcpus": "CpusetCpus", "cpuperiod": "CpuPeriod", "cpuquota": "CpuQuota",
              "shmsize": "ShmSize"}  # fmt: skip


def _json(raw: str, what: str, kind: type) -> Any:
    """A JSON query parameter, which must be of ``kind`` (Docker's words otherwise)."""
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid {what} value: {raw}") from None
    if not isinstance(value, kind):
        raise InvalidArgument(f"invalid {what} value: {raw}")
    return value


def _json_map(raw: str | None, what: str) -> dict[str, str]:
    if not raw:
        return {}
    return {str(k): str(v) for k, v in _json(raw, what, dict).items() if v is not None}


def _options(request: web.Request, dockerfile: str, ctx: str) -> BuildOptions:
    from wharf.build.executor import BuildOptions
    from wharf.oci.reference import parse_reference

    q = request.query
    tags = []
    for t in q.getall("t", []):
        try:
            tags.append((t, str(parse_reference(t))))
        except (InvalidArgument, ValueError):
            raise InvalidArgument(f"invalid reference format: {t}") from None
    host: dict[str, Any] = {}
    for key, field in _RESOURCES.items():
        if q.get(key) not in (None, "", "0"):
            host[field] = q[key] if field == "CpusetCpus" else int(q[key])
    # repeated (docker-py) or one comma-separated value (the CLI)
    extra = ",".join(q.getall("extrahosts", []))
    return BuildOptions(
        dockerfile=dockerfile, context_dir=ctx, tags=tags,
        build_args=_json_map(q.get("buildargs"), "buildargs"), labels=_json_map(q.get("labels"), "labels"),
        target=q.get("target") or "", quiet=qbool(request, "q"), network_mode=q.get("networkmode") or "",
        extra_hosts=[h for h in extra.split(",") if h], host_config=host,
        no_cache=qbool(request, "nocache"), pull=qbool(request, "pull"),
        cache_from=_json_list(q.get("cachefrom"), "cachefrom"),
    )  # fmt: skip


def _json_list(raw: str | None, what: str) -> list[str] | None:
    """``cachefrom``: a JSON array of image names (absent or empty: the local cache)."""
    if not raw:
        return None
    return [str(v) for v in _json(raw, what, list)] or None


async def build(request: web.Request) -> web.StreamResponse:
    from wharf.build import context, sync
    from wharf.build.parser import parse

    engine = cast("Engine", request.app[BACKEND])
    remote = request.query.get("remote") or ""
    work = tempfile.mkdtemp(prefix="build-", dir=engine.core.paths.data_root)
    held = None
    try:
        if remote:
            ctx = os.path.join(work, "context")
            os.mkdir(ctx)
            dockerfile = request.query.get("dockerfile") or ""
            await in_thread(context.fetch_remote, remote, work, ctx, dockerfile, CONTEXT_LIMIT)
        else:  # a kept context directory: a rebuild writes only the files that changed
            key = sync.context_key(request.query.getall("t", []), request.query.get("dockerfile") or "")
            held = await in_thread(sync.acquire, engine.core.paths.data_root, key)
            ctx = held.path
            await in_thread(sync.sync, body_reader(request), ctx, CONTEXT_LIMIT)
        name, text = await in_thread(context.read_dockerfile, ctx, request.query.get("dockerfile") or "")
        parse(text)  # a Dockerfile that does not parse is the request's error, not the stream's
        await in_thread(context.drop_ignored, ctx, name)
        opts = _options(request, text, ctx)
        opts.work_dir = work
        return await _stream(request, engine, opts)
    finally:
        if held is not None:
            held.release()
        await in_thread(shutil.rmtree, work, True)


async def _stream(request: web.Request, engine: Engine, opts: BuildOptions) -> web.StreamResponse:
    """The build, its progress streamed; a client that goes away (Ctrl-C) cancels it: every
    step's clean-up runs (its container removed, its mounts released) before this returns."""
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    lines: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
    writer = asyncio.ensure_future(_drain(resp, lines))
    job = asyncio.ensure_future(_build(engine, opts, lines.put_nowait))
    gone = asyncio.ensure_future(_client_gone(request))
    left = False
    try:
        await asyncio.wait({job, gone}, return_when=asyncio.FIRST_COMPLETED)
        left = gone.done()
        if not job.done():
            job.cancel()
        await asyncio.gather(job, return_exceptions=True)
    finally:
        gone.cancel()
        lines.put_nowait(None)
        await asyncio.gather(writer, return_exceptions=True)
    if left:
        return resp
    try:
        await resp.write_eof()
    except ConnectionError:
        pass
    return resp


async def _build(engine: Engine, opts: BuildOptions, emit: Emit) -> None:
    from wharf.build.executor import Builder
    from wharf.build.steps import BuildFailed

    try:
        image_id = await Builder(engine, opts, emit).build()
        await _finish(engine, opts, image_id, emit)
    except WharfError as exc:
        detail: dict[str, Any] = {"message": str(exc)}
        if isinstance(exc, BuildFailed) and exc.code:
            detail = {"code": exc.code, "message": str(exc)}
        emit({"errorDetail": detail, "error": str(exc)})
    except Exception as exc:  # a bug: said in the stream (the response has begun), and logged
        logging.getLogger("wharf.api").exception("POST /build")
        text = f"internal error in the builder: {exc}"
        emit({"errorDetail": {"message": text}, "error": text})


async def _client_gone(request: web.Request) -> None:
    """Returns when the client's connection closed (aiohttp does not cancel the handler)."""
    while True:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.2)


async def _drain(resp: web.StreamResponse, lines: asyncio.Queue[dict[str, Any] | None]) -> None:
    while (msg := await lines.get()) is not None:
        try:
            await resp.write(json.dumps(msg).encode() + b"\r\n")
        except ConnectionError:  # the client went away: what is left is read and dropped
            while await lines.get() is not None:
                pass
            return


async def _finish(engine: Engine, opts: BuildOptions, image_id: str, emit: Emit) -> None:
    from wharf.engine.runner import blocking

    if not image_id:
        raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
    from wharf.images.store import DANGLING_PREFIX

    images = engine.images
    target = (await blocking(images.resolve, image_id)).target
    if not opts.tags and not await blocking(images.names_of, image_id):
        await blocking(images.set_image, DANGLING_PREFIX + target.digest, target)  # listed: <none>
    emit({"aux": {"ID": image_id}})
    short = image_id.removeprefix("sha256:")[:12]
    if opts.quiet:
        emit({"stream": image_id + "\n"})
    else:
        emit({"stream": f"Successfully built {short}\n"})
    for given, tag in opts.tags:
        await blocking(images.set_image, tag, target)
        engine.events.emit("image", "tag", image_id, {"name": tag})
        if not opts.quiet:
            shown = given if ":" in given.rpartition("/")[2] or "@" in given else f"{given}:latest"
            emit({"stream": f"Successfully tagged {shown}\n"})


async def prune(request: web.Request) -> web.StreamResponse:
    """POST /build/prune: the build cache forgotten (``all``, ``filters`` ``until``), its step
    images and cache mounts removed; Docker's answer: ``CachesDeleted`` and ``SpaceReclaimed``."""
    from wharf.api.server import qfilters
    from wharf.build import cache

    engine = cast("Engine", request.app[BACKEND])
    filters = qfilters(request)
    for key in filters:
        if key not in ("until", "unused-for", "type", "id", "description", "inuse", "shared", "private"):
            raise InvalidArgument(f"invalid filter '{key}'")
    until = (filters.get("until") or filters.get("unused-for") or [""])[0]
    since = _cutoff(until) if until else 0.0
    gone, freed = await in_thread(cache.prune, engine.images, since)
    freed += await in_thread(_prune_mounts, engine.core.paths.data_root, since)
    return web.json_response({"CachesDeleted": gone or None, "SpaceReclaimed": freed})


def _cutoff(until: str) -> float:
    """``until``: a Go duration back from now (what the CLI sends: ``24h``) or a timestamp."""
    import time

    from wharf.base.times import parse_time_arg
    from wharf.build.flags import FlagError, go_duration

    try:
        return time.time() - go_duration(until) / 1e9
    except FlagError:
        return parse_time_arg(until) or 0.0


def _prune_mounts(data_root: str, since: float) -> int:
    """The RUN --mount=type=cache directories' bytes freed (those last used before ``since``),
    and the kept context directories' (when all goes)."""
    from wharf.build import mounts, sync

    freed = mounts.prune_cache_mounts(data_root, since)[1]
    return freed + (sync.prune(data_root) if not since else 0)  # kept contexts: with the rest


def register(router: Router) -> None:
    router.add("POST", "/build")(build)
    router.add("POST", "/build/prune")(prune)
