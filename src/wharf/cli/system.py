"""System commands: version, info, events, system df, system prune."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from typing import TYPE_CHECKING, Any

from wharf.cli import format as fmt
from wharf.cli.common import confirm, filters_arg, get_timestamp, print_deleted, print_reclaimed
from wharf.cli.images import print_deleted_images
from wharf.cli.main import API_VERSION, VERSION, parser
from wharf.client import APIError, Client, DaemonUnreachable

if TYPE_CHECKING:
    from wharf.engine.state import Status


def cmd_version(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-f", "--format", default="")
    o = p.parse_args(args)
    client_info = {
        "Version": VERSION,
        "APIVersion": API_VERSION,
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _arch(),
    }
    server: dict[str, Any] | None = None
    error = ""
    try:
        server = client.call("GET", "/version")
    except (DaemonUnreachable, APIError) as exc:
        error = str(exc)
    if o.format:
        # the docker CLI's template fields are Go names: .Server.APIVersion, not the JSON ApiVersion
        if server is not None:
            server = dict(server, APIVersion=server.get("ApiVersion"))
        print(fmt.render(o.format, {"Client": client_info, "Server": server}))
        return 1 if error else 0
    print("Client:")
    print(f" Version:           {VERSION}")
    print(f" API version:       {API_VERSION}")
    print(f" Python version:    {platform.python_version()}")
    print(f" OS/Arch:           linux/{_arch()}")
    if server is None:
        print()
        sys.stderr.write(error + "\n")
        return 1
    print()
    print("Server: wharf")
    print(" Engine:")
    print(f"  Version:          {server.get('Version', '')}")
    print(
        f"  API version:      {server.get('ApiVersion', '')}"
        f" (minimum version {server.get('MinAPIVersion', '')})"
    )
    print(f"  Go version:       {server.get('GoVersion', '')}")
    print(f"  Built:            {server.get('BuildTime', '')}")
    print(f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}")
    print(f"  Kernel:           {server.get('KernelVersion', '')}")
    return 0


def _arch() -> str:
    m = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def cmd_info(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-f", "--format", default="")
    o = p.parse_args(args)
    info = client.call("GET", "/info")
    if o.format:
        print(fmt.render(o.format, info))
        return 0
    lines = [
        "Server:",
        f" Containers: {info.get('Containers', 0)}",
        f"  Running: {info.get('ContainersRunning', 0)}",
        f"  Paused: {info.get('ContainersPaused', 0)}",
        f"  Stopped: {info.get('ContainersStopped', 0)}",
        f" Images: {info.get('Images', 0)}",
        f" Server Version: {info.get('ServerVersion', '')}",
        f" Storage Driver: {info.get('Driver', '')}",
        f" Logging Driver: {info.get('LoggingDriver', '')}",
        f" Cgroup Driver: {info.get('CgroupDriver', '')}",
        f" Cgroup Version: {info.get('CgroupVersion', '')}",
        " Plugins:",
    ]
    for kind, names in (info.get("Plugins") or {}).items():
        lines.append(f"  {kind}: {' '.join(names or [])}")
    lines += [
        f" Runtimes: {' '.join(sorted(info.get('Runtimes') or {}))}",
        f" Default Runtime: {info.get('DefaultRuntime', '')}",
        f" Security Options: {' '.join(info.get('SecurityOptions') or [])}",
        f" Kernel Version: {info.get('KernelVersion', '')}",
        f" Operating System: {info.get('OperatingSystem', '')}",
        f" OSType: {info.get('OSType', '')}",
        f" Architecture: {info.get('Architecture', '')}",
        f" CPUs: {info.get('NCPU', 0)}",
        f" Total Memory: {fmt.bytes_size(info.get('MemTotal') or 0)}",
        f" Name: {info.get('Name', '')}",
        f" ID: {info.get('ID', '')}",
        f" Docker Root Dir: {info.get('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(info.get('Debug'))).lower()}",
        " Insecure Registries:",
    ]
    for cidr in (info.get("RegistryConfig") or {}).get("InsecureRegistryCIDRs") or []:
        lines.append(f"  {cidr}")
    mirrors = (info.get("RegistryConfig") or {}).get("Mirrors") or []
    if mirrors:
        lines.append(" Registry Mirrors:")
        lines += [f"  {m}" for m in mirrors]
    lines.append(f" Live Restore Enabled: {str(bool(info.get('LiveRestoreEnabled'))).lower()}")
    print("\n".join(lines))
    return 0


def _event_line(ev: dict[str, Any]) -> str:
    nanos = int(ev.get("timeNano") or int(ev.get("time", 0)) * 10**9)
    secs, frac = divmod(nanos, 10**9)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(secs)) + f".{frac:09d}" + time.strftime("%z")
    stamp = stamp[:-2] + ":" + stamp[-2:]
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    line = f"{stamp} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
    if attrs:
        line += " (" + ", ".join(f"{k}={v}" for k, v in sorted(attrs.items())) + ")"
    return line


def cmd_events(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default="")
    p.add_argument("--since", default="")
    p.add_argument("--until", default="")
    o = p.parse_args(args)
    query = {
        "since": get_timestamp(o.since) or None,
        "until": get_timestamp(o.until) or None,
        "filters": filters_arg(o.filter),
    }
    for line in client.stream("GET", "/events", query).lines():
        if line.strip():
            ev = json.loads(line)
            print(fmt.render(o.format, ev) if o.format else _event_line(ev), flush=True)
    return 0


def _status(container: dict[str, Any]) -> Status:
    """A listed container's status (one the daemon does not name counts as created: no process)."""
    from wharf.engine.state import Status

    try:
        return Status(container.get("State") or "created")
    except ValueError:
        return Status.CREATED


def cmd_df(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("--format", default="")
    p.add_argument("-v", "--verbose", action="store_true")
    o = p.parse_args(args)
    df = client.call("GET", "/system/df")
    images = df.get("Images") or []
    containers = df.get("Containers") or []
    volumes = df.get("Volumes") or []
    cache = df.get("BuildCache") or []
    img_size = sum(i.get("Size") or 0 for i in images)
    used_images = {c.get("ImageID") for c in containers}
    img_active = sum(1 for i in images if i.get("Containers", 0) > 0 or i.get("Id") in used_images)
    img_reclaim = sum(
        (i.get("Size") or 0) - (i.get("SharedSize") or 0)
        if (i.get("SharedSize") or 0) > 0
        else (i.get("Size") or 0)
        for i in images
        if not (i.get("Containers", 0) > 0 or i.get("Id") in used_images)
    )
    ctr_size = sum(c.get("SizeRw") or 0 for c in containers)
    ctr_active = sum(1 for c in containers if _status(c).alive)
    ctr_reclaim = sum(c.get("SizeRw") or 0 for c in containers if not _status(c).has_process)
    vol_size = sum(((v.get("UsageData") or {}).get("Size") or 0) for v in volumes)
    vol_active = sum(1 for v in volumes if ((v.get("UsageData") or {}).get("RefCount") or 0) > 0)
    vol_reclaim = sum(
        ((v.get("UsageData") or {}).get("Size") or 0)
        for v in volumes
        if not ((v.get("UsageData") or {}).get("RefCount") or 0)
    )

    def pct(part: int, total: int) -> str:
        return f"{fmt.human_size(part)} ({int(part * 100 / total) if total else 0}%)"

    rows = [
        {"Type": "Images", "TotalCount": str(len(images)), "Active": str(img_active),
         "Size": fmt.human_size(img_size), "Reclaimable": pct(img_reclaim, img_size)},
        {"Type": "Containers", "TotalCount": str(len(containers)), "Active": str(ctr_active),
         "Size": fmt.human_size(ctr_size), "Reclaimable": pct(ctr_reclaim, ctr_size)},
        {"Type": "Local Volumes", "TotalCount": str(len(volumes)), "Active": str(vol_active),
         "Size": fmt.human_size(vol_size), "Reclaimable": pct(vol_reclaim, vol_size)},
        {"Type": "Build Cache", "TotalCount": str(len(cache)), "Active": "0",
         "Size": "0B", "Reclaimable": "0B"},
    ]  # fmt: skip
    template = o.format or "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
    headers = {
        "Type": "TYPE",
        "TotalCount": "TOTAL",
        "Active": "ACTIVE",
        "Size": "SIZE",
        "Reclaimable": "RECLAIMABLE",
    }
    print(fmt.format_rows(template, rows, headers))
    return 0


def cmd_system_prune(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--volumes", action="store_true")
    o = p.parse_args(args)
    items = ["all stopped containers", "all networks not used by at least one container"]
    if o.volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append(
        "all images without at least one container associated to them" if o.all else "all dangling images"
    )
    items.append("unused build cache")
    warning = "WARNING! This will remove:\n" + "\n".join(f"  - {i}" for i in items)
    if not confirm(warning, o.force):
        return 0
    filters = filters_arg(o.filter) or {}
    reclaimed = 0
    res = client.call("POST", "/containers/prune", {"filters": filters or None})
    print_deleted("Containers", res.get("ContainersDeleted") or [])
    reclaimed += res.get("SpaceReclaimed") or 0
    for path, key, title in (("/networks/prune", "NetworksDeleted", "Networks"),) + (
        (("/volumes/prune", "VolumesDeleted", "Volumes"),) if o.volumes else ()
    ):
        try:
            r = client.call("POST", path, {"filters": filters or None})
        except APIError as exc:
            if exc.status == 404:
                continue
            raise
        print_deleted(title, r.get(key) or [])
        reclaimed += r.get("SpaceReclaimed") or 0
    img_filters = dict(filters)
    img_filters["dangling"] = ["false" if o.all else "true"]
    r = client.call("POST", "/images/prune", {"filters": img_filters})
    print_deleted_images(r.get("ImagesDeleted") or [])
    reclaimed += r.get("SpaceReclaimed") or 0
    print_reclaimed(reclaimed)
    return 0
