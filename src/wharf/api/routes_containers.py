"""Container and exec endpoints of the Engine API."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from wharf.api import bodies
from wharf.api.hijack import MULTIPLEXED, RAW, Hijacked, RawProtocol, hijack
from wharf.api.server import Router, ThreadReader, json_body, qbool, qfilters, qint, stream_from_thread
from wharf.base.times import parse_time_arg
from wharf.engine import files, shim, stats
from wharf.engine import logs as logsmod
from wharf.engine.commit import CommitRequest
from wharf.engine.commit import commit as commit_image
from wharf.engine.engine import Engine
from wharf.engine.request import CreateRequest, decoded
from wharf.engine.state import Status, check_attach
from wharf.errors import Conflict, InvalidArgument

DETACH_DEFAULT = b"\x10\x11"  # ctrl-p ctrl-q


def E(request: web.Request) -> Engine:
    engine: Engine = request.app["engine"]
    return engine


def _multiplexed(request: web.Request, tty: bool) -> str:
    if tty:
        return RAW
    v = tuple(int(x) for x in request["api_version"].split("."))
    return MULTIPLEXED if v >= (1, 42) else RAW


async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=True, schema=bodies.CONTAINER_CREATE)
    req = CreateRequest.from_body(request.query.get("name"), body)
    cid, warnings = await E(request).create(req)
    return web.json_response({"Id": cid, "Warnings": warnings}, status=201)


async def list_(request: web.Request) -> web.StreamResponse:
    engine = E(request)
    limit = qint(request, "limit", -1) or -1
    out = engine.list(qbool(request, "all"), qfilters(request), limit, qbool(request, "size"))
    return web.json_response(out)


async def inspect(request: web.Request) -> web.StreamResponse:
    return web.json_response(E(request).inspect(request.match_info["id"], qbool(request, "size")))


async def start(request: web.Request) -> web.StreamResponse:
    await E(request).start(request.match_info["id"])
    return web.Response(status=204)


def _timeout(request: web.Request) -> int | None:
    return qint(request, "t", None)


async def stop(request: web.Request) -> web.StreamResponse:
    await E(request).stop(request.match_info["id"], _timeout(request), request.query.get("signal"))
    return web.Response(status=204)


async def restart(request: web.Request) -> web.StreamResponse:
    await E(request).restart(request.match_info["id"], _timeout(request), request.query.get("signal"))
    return web.Response(status=204)


async def kill(request: web.Request) -> web.StreamResponse:
    await E(request).kill(request.match_info["id"], request.query.get("signal") or "KILL")
    return web.Response(status=204)


async def pause(request: web.Request) -> web.StreamResponse:
    await E(request).pause(request.match_info["id"])
    return web.Response(status=204)


async def unpause(request: web.Request) -> web.StreamResponse:
    await E(request).unpause(request.match_info["id"])
    return web.Response(status=204)


async def wait(request: web.Request) -> web.StreamResponse:
    engine = E(request)
    c = engine.get(request.match_info["id"])
    condition = request.query.get("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise InvalidArgument(f"invalid condition: {condition}")
    # headers go out at once: the CLI's `run` waits for them before it starts the container
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    waiter = asyncio.ensure_future(engine.wait(c.id, condition))
    try:
        result = await waiter
    except asyncio.CancelledError:
        waiter.cancel()
        raise
    await resp.write(json.dumps(result).encode() + b"\n")
    await resp.write_eof()
    return resp


async def remove(request: web.Request) -> web.StreamResponse:
    await E(request).remove(request.match_info["id"], qbool(request, "force"), qbool(request, "v"))
    return web.Response(status=204)


async def rename(request: web.Request) -> web.StreamResponse:
    await E(request).rename(request.match_info["id"], request.query.get("name", ""))
    return web.Response(status=204)


async def prune(request: web.Request) -> web.StreamResponse:
    return web.json_response(await E(request).prune(qfilters(request)))


async def logs(request: web.Request) -> web.StreamResponse:
    engine = E(request)
    c = engine.get(request.match_info["id"])
    want = set()
    if qbool(request, "stdout"):
        want.add("stdout")
    if qbool(request, "stderr"):
        want.add("stderr")
    if not want:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail_s = request.query.get("tail", "all")
    try:
        tail = -1 if tail_s in ("all", "") else int(tail_s)
    except ValueError:
        tail = -1
    since = parse_time_arg(request.query.get("since"))
    until = parse_time_arg(request.query.get("until"))
    follow = qbool(request, "follow")
    stamps = qbool(request, "timestamps")
    tty = bool(c.config.get("Tty"))
    ctype = _multiplexed(request, tty)
    resp = web.StreamResponse(headers={"Content-Type": ctype})
    await resp.prepare(request)

    def stopped() -> bool:
        cur = engine.containers.by_id.get(c.id)
        return cur is None or not cur.state.running

    try:
        async for stream, t, data in logsmod.read(
            engine.paths.log_path(c.id),
            streams=want,
            since=since,
            until=until,
            tail=tail,
            follow=follow and c.state.running,
            stopped=stopped,
        ):
            if stamps:
                data = t.encode() + b" " + data
            await resp.write(data if ctype == RAW else logsmod.frame(stream, data))
    except (ConnectionResetError, asyncio.CancelledError):
        return resp
    await resp.write_eof()
    return resp


async def _pump_attach(
    engine: Engine,
    cid: str,
    conn: RawProtocol,
    tty: bool,
    want: set[str],
    use_stdin: bool,
    multiplexed: bool,
    detach_keys: bytes,
) -> None:
    """Connect to the shim's attach socket and copy both ways until the container's output ends
    or the client leaves or types the detach keys."""
    try:
        reader, writer = await shim.connect_attach(engine.paths.shim_paths(cid))
    except OSError:
        return

    async def from_shim() -> None:
        while True:
            try:
                head = await reader.readexactly(8)
                payload = await reader.readexactly(int.from_bytes(head[4:8], "big"))
            except (asyncio.IncompleteReadError, ConnectionResetError):
                return
            stream = "stderr" if head[0] == 2 else "stdout"
            if not tty and stream not in want:
                continue
            data = payload if (tty or not multiplexed) else logsmod.frame(stream, payload)
            if not await conn.write(data):
                return

    async def to_shim() -> None:
        pending = b""
        while True:
            data = await conn.reader.read(32768)
            if not data:
                try:
                    writer.write_eof()
                except OSError:
                    pass
                return
            if detach_keys and tty:
                buf = pending + data
                idx = buf.find(detach_keys)
                if idx >= 0:
                    if idx:
                        writer.write(buf[:idx])
                    raise _Detached()
                keep = 0
                for n in range(len(detach_keys) - 1, 0, -1):
                    if buf.endswith(detach_keys[:n]):
                        keep = n
                        break
                data, pending = buf[: len(buf) - keep], buf[len(buf) - keep :]
            writer.write(data)
            try:
                await writer.drain()
            except (ConnectionResetError, BrokenPipeError):
                return

    out_task = asyncio.ensure_future(from_shim())
    in_task = asyncio.ensure_future(to_shim()) if use_stdin else None
    closed = asyncio.ensure_future(asyncio.shield(conn.closed))
    try:
        waits: set[asyncio.Future[Any]] = {out_task, closed}
        if in_task is not None:
            waits.add(in_task)
        while True:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if out_task in done or closed in done:
                break
            if in_task is not None and in_task in done:
                if isinstance(in_task.exception(), _Detached):
                    break
                waits.discard(in_task)
    finally:
        for t in (out_task, in_task, closed):
            if t is not None:
                t.cancel()
        writer.close()


class _Detached(Exception):
    pass


def _detach_keys(spec: str | None) -> bytes:
    if spec is None:
        return DETACH_DEFAULT
    out = bytearray()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("ctrl-") and len(part) == 6:
            ch = part[5]
            if ch == "@":
                out.append(0)
            elif ch.isalpha():
                out.append(ord(ch.lower()) - ord("a") + 1)
            elif ch in "[\\]^_":
                out.append(ord(ch) - 64)
            else:
                raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
        elif len(part) == 1:
            out += part.encode()
        else:
            raise InvalidArgument(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


async def attach(request: web.Request) -> web.StreamResponse:
    engine = E(request)
    c = engine.get(request.match_info["id"])
    want = {s for s in ("stdout", "stderr") if qbool(request, s)}
    use_stdin = qbool(request, "stdin")
    stream = qbool(request, "stream")
    replay = qbool(request, "logs")
    keys = _detach_keys(request.query.get("detachKeys"))
    check_attach(c.state, stream)
    tty = bool(c.config.get("Tty"))
    ctype = _multiplexed(request, tty)
    conn = await hijack(request, ctype)
    try:
        if replay:
            async for s, _, data in logsmod.read(
                engine.paths.log_path(c.id), streams=want or {"stdout", "stderr"}
            ):
                await conn.write(data if ctype == RAW else logsmod.frame(s, data))
        if stream:
            multiplexed = ctype == MULTIPLEXED
            if c.state.status is Status.RUNNING:
                await _pump_attach(engine, c.id, conn, tty, want, use_stdin, multiplexed, keys)
            else:
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

                async def connect() -> None:
                    task = asyncio.ensure_future(
                        _pump_attach(engine, c.id, conn, tty, want, use_stdin, multiplexed, keys)
                    )
                    task.add_done_callback(lambda _: None if done.done() else done.set_result(None))

                def failed() -> None:
                    if not done.done():
                        done.set_result(None)

                engine.add_pre_start(c.id, connect, failed)
                removed = engine.removed_future(c.id)
                await asyncio.wait([done, conn.closed, removed], return_when=asyncio.FIRST_COMPLETED)
    finally:
        conn.close()
    return Hijacked()


async def resize(request: web.Request) -> web.StreamResponse:
    engine = E(request)
    c = engine.get(request.match_info["id"])
    h = qint(request, "h", 0) or 0
    w = qint(request, "w", 0) or 0
    if not c.state.running:
        raise Conflict(f"Container {c.id} is not running")
    shim.send_ctl(engine.paths.shim_paths(c.id), f"resize {h} {w}")
    return web.Response(status=200)


async def top(request: web.Request) -> web.StreamResponse:
    engine = E(request)
    c = engine.get(request.match_info["id"])
    ps_args = request.query.get("ps_args") or "-ef"
    result = await asyncio.get_running_loop().run_in_executor(
        None, stats.top, c, engine.cfg.cgroup_parent, ps_args
    )
    return web.json_response(result)


async def container_stats(request: web.Request) -> web.StreamResponse:
    engine = E(request)
    c = engine.get(request.match_info["id"])
    stream = qbool(request, "stream", True)
    one_shot = qbool(request, "one-shot")
    parent = engine.cfg.cgroup_parent
    if not c.state.running:
        return web.json_response(stats.empty_sample(c))
    if not stream:
        cur = stats.sample(c, parent)
        if one_shot:
            cur["preread"] = "0001-01-01T00:00:00Z"
            cur["precpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
        else:
            await asyncio.sleep(0.5)
            first, cur = cur, stats.sample(c, parent)
            cur["preread"] = first["read"]
            cur["precpu_stats"] = first["cpu_stats"]
        return web.json_response(cur)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    pre: dict[str, Any] | None = None
    try:
        while True:
            if c.id not in engine.containers.by_id:
                break
            cur = stats.sample(c, parent) if c.state.running else stats.empty_sample(c)
            cur["preread"] = pre["read"] if pre else "0001-01-01T00:00:00Z"
            cur["precpu_stats"] = pre["cpu_stats"] if pre else {"cpu_usage": {"total_usage": 0}}
            await resp.write(json.dumps(cur).encode() + b"\n")
            pre = cur
            await asyncio.sleep(1.0)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return resp


async def update(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, schema=bodies.CONTAINER_UPDATE)
    engine = E(request)
    c = engine.get(request.match_info["id"])
    warnings = await engine.update(c.id, decoded(body))
    return web.json_response({"Warnings": warnings})


async def export(request: web.Request) -> web.StreamResponse:
    engine = E(request)
    c = engine.get(request.match_info["id"])
    async with files.container_fs(engine.core, c, volumes=False) as fs:
        resp = await stream_from_thread(
            request, lambda out: files.export_rootfs(fs, out), {"Content-Type": "application/x-tar"}
        )
    engine.emit(c, "export")
    return resp


def _stat_header(st: dict[str, Any]) -> dict[str, str]:
    import base64

    return {"X-Docker-Container-Path-Stat": base64.b64encode(json.dumps(st).encode()).decode()}


def _archive_target(request: web.Request) -> tuple[Engine, str, Any, str]:
    """The engine, the container as named, the container, and the ?path= of an archive call."""
    engine = E(request)
    name = request.match_info["id"]
    c = engine.get(name)
    path = request.query.get("path", "")
    if not path:
        raise InvalidArgument("path must not be empty")
    return engine, name, c, path


async def archive_head(request: web.Request) -> web.StreamResponse:
    engine, name, c, path = _archive_target(request)
    async with files.container_fs(engine.core, c) as fs:
        st = await engine.blocking(files.stat_path, fs, path, name)
    return web.Response(status=200, headers=_stat_header(st))


async def archive_get(request: web.Request) -> web.StreamResponse:
    engine, name, c, path = _archive_target(request)
    async with files.container_fs(engine.core, c) as fs:
        st = await engine.blocking(files.stat_path, fs, path, name)
        headers = {"Content-Type": "application/x-tar", **_stat_header(st)}
        resp = await stream_from_thread(request, lambda out: files.archive_path(fs, path, out), headers)
    engine.emit(c, "archive-path")
    return resp


async def archive_put(request: web.Request) -> web.StreamResponse:
    engine, name, c, path = _archive_target(request)
    no_overwrite = qbool(request, "noOverwriteDirNonDir")
    copy_ids = qbool(request, "copyUIDGID")
    reader = ThreadReader(request, asyncio.get_running_loop())
    async with files.container_fs(engine.core, c) as fs:
        await engine.blocking(files.extract_to, c, fs, path, name, reader, copy_ids, no_overwrite)
    engine.emit(c, "extract-to-dir")
    return web.Response(status=200)


async def commit(request: web.Request) -> web.StreamResponse:
    """POST /commit: the container's changes become a new image (paused meanwhile, by default)."""
    body = await json_body(request, schema=bodies.COMMIT)
    engine = E(request)
    q = request.query
    c = engine.get(q.get("container", ""))
    changes = [ch for v in q.getall("changes", []) for ch in v.split("\n") if ch.strip()]
    paused_here = False
    if qbool(request, "pause", True) and c.state.status is Status.RUNNING:
        await engine.pause(c.id)
        paused_here = True
    try:
        req = CommitRequest(q.get("repo", ""), q.get("tag", ""), q.get("comment", ""), q.get("author", ""),
                            body, tuple(changes))  # fmt: skip
        image_id = await engine.blocking(commit_image, engine.images, c, req)
    finally:
        if paused_here:
            await engine.unpause(c.id)
    engine.emit(c, "commit")
    return web.json_response({"Id": image_id}, status=201)


async def changes(request: web.Request) -> web.StreamResponse:
    engine = E(request)
    c = engine.get(request.match_info["id"])
    from wharf.engine.changes import changes as compute

    result = await asyncio.get_running_loop().run_in_executor(None, compute, engine.images.snapshots, c)
    return web.json_response(result or None)


# --- exec


def _execs(request: web.Request) -> Any:
    return E(request).execs


async def exec_create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=True, schema=bodies.EXEC_CREATE)
    eid = _execs(request).create(request.match_info["id"], body)
    return web.json_response({"Id": eid}, status=201)


async def exec_start(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, schema=bodies.EXEC_START)
    mgr = _execs(request)
    e = mgr.get(request.match_info["id"])
    detach = bool(body.get("Detach"))
    tty = bool(body.get("Tty", e.config.get("Tty")))
    if detach:
        asyncio.ensure_future(mgr.start(e.id, True, None, False))
        return web.Response(status=200)
    ctype = _multiplexed(request, tty)
    conn = await hijack(request, ctype)
    try:
        await mgr.start(e.id, False, conn, ctype == MULTIPLEXED)
    except Exception as exc:  # the connection is ours now: say it there
        await conn.write(str(exc).encode() + b"\n")
    finally:
        conn.close()
    return Hijacked()


async def exec_resize(request: web.Request) -> web.StreamResponse:
    _execs(request).resize(request.match_info["id"], qint(request, "h", 0) or 0, qint(request, "w", 0) or 0)
    return web.Response(status=200)


async def exec_inspect(request: web.Request) -> web.StreamResponse:
    return web.json_response(_execs(request).inspect(request.match_info["id"]))


def register(router: Router) -> None:
    r = router.add
    r("POST", "/containers/create")(create)
    r("GET", "/containers/json")(list_)
    r("POST", "/containers/prune")(prune)
    r("GET", "/containers/{id}/json")(inspect)
    r("POST", "/containers/{id}/start")(start)
    r("POST", "/containers/{id}/stop")(stop)
    r("POST", "/containers/{id}/restart")(restart)
    r("POST", "/containers/{id}/kill")(kill)
    r("POST", "/containers/{id}/pause")(pause)
    r("POST", "/containers/{id}/unpause")(unpause)
    r("POST", "/containers/{id}/wait")(wait)
    r("DELETE", "/containers/{id}")(remove)
    r("POST", "/containers/{id}/rename")(rename)
    r("GET", "/containers/{id}/logs")(logs)
    r("POST", "/containers/{id}/attach")(attach)
    r("POST", "/containers/{id}/resize")(resize)
    r("GET", "/containers/{id}/top")(top)
    r("GET", "/containers/{id}/stats")(container_stats)
    r("POST", "/containers/{id}/update")(update)
    r("GET", "/containers/{id}/export")(export)
    r("GET", "/containers/{id}/changes")(changes)
    r("POST", "/commit")(commit)
    r("HEAD", "/containers/{id}/archive")(archive_head)
    r("GET", "/containers/{id}/archive")(archive_get)
    r("PUT", "/containers/{id}/archive")(archive_put)
    r("POST", "/containers/{id}/exec")(exec_create)
    r("POST", "/exec/{id}/start")(exec_start)
    r("POST", "/exec/{id}/resize")(exec_resize)
    r("GET", "/exec/{id}/json")(exec_inspect)


__all__ = ["register"]
