"""A container's files: `docker cp` (HEAD, GET and PUT /containers/{id}/archive), export,
commit and diff (changes), over ``backend.ArchiveBackend``. Tars stream from and to worker
threads (``api/streams.py``) while the container's view stays mounted."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from aiohttp import web

from wharf.api import backend, bodies
from wharf.api.backend import ArchiveBackend
from wharf.api.server import Router, json_body, qbool
from wharf.api.streams import ThreadReader, in_thread, stream_from_thread
from wharf.engine import files
from wharf.engine.commit import CommitRequest
from wharf.engine.containers import Container
from wharf.engine.state import Status
from wharf.errors import Conflict, FailedPrecondition, InvalidArgument

TAR = "application/x-tar"


async def export(request: web.Request) -> web.StreamResponse:
    b = backend.archive(request)
    c = b.get(request.match_info["id"])
    async with b.container_fs(c, volumes=False) as fs:
        resp = await stream_from_thread(
            request, lambda out: files.export_rootfs(fs, out), {"Content-Type": TAR}
        )
    b.emit(c, "export")
    return resp


def _stat_header(st: dict[str, Any]) -> dict[str, str]:
    return {"X-Docker-Container-Path-Stat": base64.b64encode(json.dumps(st).encode()).decode()}


def _archive_target(request: web.Request) -> tuple[ArchiveBackend, str, Container, str]:
    """The backend, the container as named, the container, and the ?path= of an archive call."""
    b = backend.archive(request)
    name = request.match_info["id"]
    c = b.get(name)
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path must not be empty")
    return b, name, c, path


async def archive_head(request: web.Request) -> web.StreamResponse:
    b, name, c, path = _archive_target(request)
    async with b.container_fs(c) as fs:
        st = await in_thread(files.stat_path, fs, path, name)
    return web.Response(status=200, headers=_stat_header(st))


async def archive_get(request: web.Request) -> web.StreamResponse:
    b, name, c, path = _archive_target(request)
    async with b.container_fs(c) as fs:
        # resolved before the answer starts, so a missing path is still a 404
        node, st = await in_thread(files.open_archive, fs, path, name)
        try:
            headers = {"Content-Type": TAR, **_stat_header(st)}
            resp = await stream_from_thread(
                request, lambda out: files.archive_node(fs, node, path, out), headers
            )
        finally:
            node.close()
    b.emit(c, "archive-path")
    return resp


async def archive_put(request: web.Request) -> web.StreamResponse:
    b, name, c, path = _archive_target(request)
    no_overwrite = qbool(request, "noOverwriteDirNonDir")
    copy_ids = qbool(request, "copyUIDGID")
    reader = ThreadReader(request, asyncio.get_running_loop())
    async with b.container_fs(c) as fs:
        await in_thread(files.extract_to, c, fs, path, name, reader, copy_ids, no_overwrite)
    b.emit(c, "extract-to-dir")
    return web.Response(status=200)


async def commit(request: web.Request) -> web.StreamResponse:
    """POST /commit: the container's changes become a new image (paused meanwhile, by default)."""
    body = await json_body(request, schema=bodies.COMMIT)
    b = backend.archive(request)
    q = request.query
    c = b.get(q.get("container", ""))
    changes = [ch for v in q.getall("changes", []) for ch in v.split("\n") if ch.strip()]
    paused_here = False
    if qbool(request, "pause", True) and c.state.status is Status.RUNNING:
        try:
            await b.pause(c.id)
            paused_here = True
        except (Conflict, FailedPrecondition):  # it exited meanwhile: nothing to hold still
            pass
    try:
        req = CommitRequest(q.get("repo", ""), q.get("tag", ""), q.get("comment", ""), q.get("author", ""),
                            body, tuple(changes))  # fmt: skip
        image_id = await b.commit(c, req)
    finally:
        if paused_here:
            try:
                await b.unpause(c.id)
            except Conflict:  # its process had exited as it was frozen: the exit has been recorded
                pass
    b.emit(c, "commit")
    return web.json_response({"Id": image_id}, status=201)


async def changes(request: web.Request) -> web.StreamResponse:
    b = backend.archive(request)
    c = b.get(request.match_info["id"])
    result = await b.changes(c)
    return web.json_response(result or None)


def register(router: Router) -> None:
    r = router.add
    r("GET", "/containers/{id}/export")(export)
    r("GET", "/containers/{id}/changes")(changes)
    r("POST", "/commit")(commit)
    r("HEAD", "/containers/{id}/archive")(archive_head)
    r("GET", "/containers/{id}/archive")(archive_get)
    r("PUT", "/containers/{id}/archive")(archive_put)
