"""System endpoints: /_ping, /version, /info, /events, /system/df (over ``backend.SystemBackend``)."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import time
from typing import Any

from aiohttp import web

from wharf.api import backend
from wharf.api.routes import swarm
from wharf.api.routes.volumes import disk_usage, view
from wharf.api.server import API_VERSION, MIN_API_VERSION, Router, qfilters
from wharf.base.files import atomic_write
from wharf.base.times import parse_time_arg
from wharf.engine import events as ev
from wharf.engine.state import Status
from wharf.engine.views import container_summary

VERSION = "0.1.0"


def ping_headers() -> dict[str, str]:
    return {
        "Api-Version": API_VERSION,
        "Builder-Version": "1",
        "Docker-Experimental": "false",
        "Ostype": "linux",
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
        "Swarm": "inactive",
    }


async def ping(request: web.Request) -> web.StreamResponse:
    body = "" if request.method == "HEAD" else "OK"
    return web.Response(text=body, content_type="text/plain", headers=ping_headers())


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


async def version(request: web.Request) -> web.StreamResponse:
    uname = os.uname()
    details = {
        "ApiVersion": API_VERSION,
        "Arch": _arch(),
        "BuildTime": "",
        "GitCommit": "",
        "GoVersion": "python" + platform.python_version(),
        "KernelVersion": uname.release,
        "MinAPIVersion": MIN_API_VERSION,
        "Os": "linux",
    }
    return web.json_response(
        {
            "Platform": {"Name": "wharf"},
            "Components": [{"Name": "Engine", "Version": VERSION, "Details": details}],
            "Version": VERSION,
            **{k: v for k, v in details.items() if k != "BuildTime"},
        }
    )


def _meminfo_total() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


async def info(request: web.Request) -> web.StreamResponse:
    b = backend.system(request)
    from wharf.runtime import cgroups

    cs = b.all_containers()
    running = sum(1 for c in cs if c.state.status is Status.RUNNING)
    paused = sum(1 for c in cs if c.state.status is Status.PAUSED)
    try:
        n_images = len({r.id for r in b.images.list_images() if not r.build_step()})
    except Exception:
        n_images = 0
    mode = cgroups.mode()
    uname = os.uname()
    body: dict[str, Any] = {
        "ID": _daemon_id(b.cfg.data_root),
        "Containers": len(cs),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": len(cs) - running - paused,
        "Images": n_images,
        "Driver": "overlayfs",
        "DriverStatus": [["Backing Filesystem", "extfs"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Log": ["json-file"]},
        "MemoryLimit": True,
        "SwapLimit": os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": True,
        "Debug": b.cfg.log_level == "debug",
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": len(asyncio.all_tasks()),
        "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2" if mode == "unified" else "1",
        "NEventsListener": len(b.events.subscribers),
        "KernelVersion": uname.release,
        "OperatingSystem": _os_name(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": uname.machine,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"],
            "IndexConfigs": {},
            "Mirrors": b.cfg.registry_mirrors,
        },
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _meminfo_total(),
        "DockerRootDir": b.cfg.data_root,
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": uname.nodename,
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": VERSION,
        "Runtimes": {"wharf": {"path": b.cfg.runtime_path("wharf")}, "runc": {"path": "runc"}},
        "DefaultRuntime": b.cfg.default_runtime,
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "docker-init",
        "SecurityOptions": _security_options(b.cfg),
        "Swarm": dict(swarm.INFO),
        "Warnings": [] if b.cfg.seccomp_profile == "builtin" else [NOT_DEFAULT_SECCOMP],
    }
    return web.json_response(body)


NOT_DEFAULT_SECCOMP = "WARNING: daemon is not using the default seccomp profile"


def _security_options(cfg: backend.DaemonSettings) -> list[str]:
    """As dockerd lists them: the seccomp profile by its name or path, userns when remapped,
    no-new-privileges when it is every container's default."""
    options = [f"name=seccomp,profile={cfg.seccomp_profile}"]
    if cfg.remapped:
        options.append("name=userns")
    if cfg.no_new_privileges:
        options.append("name=no-new-privileges")
    return options


def _daemon_id(data_root: str) -> str:
    path = f"{data_root}/engine-id"
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        import uuid

        ident = str(uuid.uuid4()).upper()
        atomic_write(path, ident)
        return ident


async def events(request: web.Request) -> web.StreamResponse:
    b = backend.system(request)
    filters = qfilters(request)
    since = parse_time_arg(request.query.get("since"))
    until = parse_time_arg(request.query.get("until"))
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    q = b.events.subscribe()
    try:
        if since is not None:
            for e in list(b.events.history):
                t = e["timeNano"] / 1e9
                if t >= since and (until is None or t <= until) and ev.matches(e, filters):
                    await resp.write(json.dumps(e).encode() + b"\n")
        if until is not None and until <= time.time():
            return resp
        while True:
            timeout = None if until is None else max(0.0, until - time.time())
            try:
                e = await asyncio.wait_for(q.get(), timeout)
            except TimeoutError:
                break
            if ev.matches(e, filters):
                await resp.write(json.dumps(e).encode() + b"\n")
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        b.events.unsubscribe(q)
    return resp


async def system_df(request: web.Request) -> web.StreamResponse:
    b = backend.system(request)
    containers = []
    for c in b.all_containers():
        s = container_summary(c)
        s["SizeRw"] = 0
        s["SizeRootFs"] = 0
        containers.append(s)
    images: list[dict[str, Any]] = []
    try:
        from wharf.images import ops

        images = ops.list_images(b.images, {})
    except Exception:
        images = []
    volumes = []
    for v in b.volumes.all():
        item = view(v, b.volumes)
        item["UsageData"] = {
            "Size": disk_usage(b.volumes.data_dir(v.name)),
            "RefCount": len(b.volume_users(v.name)),
        }
        volumes.append(item)
    from wharf.api.streams import in_thread
    from wharf.build import cache

    try:  # as the images above: a backend without an image store (the API's unit tests) has none
        build_cache = await in_thread(cache.entries, b.images)
        build_cache += await in_thread(cache.mount_entries, b.cfg.data_root)
    except Exception:
        build_cache = []
    return web.json_response(
        {"LayersSize": 0, "Images": images, "Containers": containers, "Volumes": volumes,
         "BuildCache": build_cache}
    )  # fmt: skip


def register(router: Router) -> None:
    router.add("GET", "/_ping")(ping)
    router.add("HEAD", "/_ping")(ping)
    router.add("GET", "/version")(version)
    router.add("GET", "/info")(info)
    router.add("GET", "/events")(events)
    router.add("GET", "/system/df")(system_df)
