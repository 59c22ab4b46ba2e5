"""Looking at containers: ps, inspect, port, top, stats."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from wharf.cli import format as fmt
from wharf.cli.common import filters_arg, print_objects
from wharf.cli.main import die, parser, report
from wharf.client import APIError, Client

# ---------------------------------------------------------------- ps


def _ports(ports: list[dict[str, Any]]) -> str:
    out = []
    for p in sorted(ports or [], key=lambda x: (x.get("PrivatePort", 0), x.get("IP", ""))):
        proto = p.get("Type", "tcp")
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            out.append(f"{ip}:{p['PublicPort']}->{p['PrivatePort']}/{proto}")
        else:
            out.append(f"{p['PrivatePort']}/{proto}")
    return ", ".join(out)


def _ps_row(c: dict[str, Any], trunc: bool) -> dict[str, Any]:
    cmd = c.get("Command") or ""
    names = [n.lstrip("/") for n in c.get("Names") or []]
    if trunc:  # the docker CLI shows a link's name ("web/db") with --no-trunc only
        names = next(([n] for n in names if "/" not in n), names)
    size = ""
    if "SizeRw" in c:
        size = f"{fmt.human_size(c.get('SizeRw') or 0)} (virtual {fmt.human_size(c.get('SizeRootFs') or 0)})"
    image = c.get("Image") or ""
    if trunc and image.startswith("sha256:"):
        image = image[7:19]
    created = float(c.get("Created") or 0)
    return {
        "ID": c["Id"][:12] if trunc else c["Id"],
        "Image": image,
        "Command": json.dumps(fmt.truncate(cmd, 20) if trunc else cmd, ensure_ascii=False),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
        "RunningFor": fmt.ago(created),
        "Ports": _ports(c.get("Ports") or []),
        "State": c.get("State", ""),
        "Status": c.get("Status", ""),
        "Size": size,
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in (c.get("Labels") or {}).items()),
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or []),
        "Networks": ",".join((c.get("NetworkSettings") or {}).get("Networks") or {}),
    }


PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
}


def cmd_ps(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default="")
    p.add_argument("-n", "--last", type=int, default=-1)
    p.add_argument("-l", "--latest", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-s", "--size", action="store_true")
    o = p.parse_args(args)
    limit = 1 if o.latest else o.last
    query = {
        "all": "1" if o.all or limit > 0 else None,
        "limit": str(limit) if limit > 0 else None,
        "size": "1" if o.size else None,
        "filters": filters_arg(o.filter),
    }
    rows = [_ps_row(c, not o.no_trunc) for c in client.call("GET", "/containers/json", query) or []]
    if o.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    template = (
        o.format
        or "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    )
    if not o.format and o.size:
        template = template.replace("{{.Names}}", "{{.Names}}\t{{.Size}}")
    if template == "table":
        template = (
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
        )
    out = fmt.format_rows(template, rows, PS_HEADERS)
    if out:
        print(out)
    return 0


# ---------------------------------------------------------------- inspect / top / port


def cmd_inspect(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] NAME|ID [NAME|ID...]")
    p.add_argument("-f", "--format", default="")
    p.add_argument("-s", "--size", action="store_true")
    p.add_argument("--type", default="", choices=["", "container", "image", "network", "volume"])
    p.add_argument("names", nargs="+")
    o = p.parse_args(args)
    objs: list[Any] = []
    failed = False
    for name in o.names:
        obj = None
        kinds = [o.type] if o.type else ["container", "image", "network", "volume"]
        for kind in kinds:
            path = {
                "container": f"/containers/{name}/json",
                "image": f"/images/{name}/json",
                "network": f"/networks/{name}",
                "volume": f"/volumes/{name}",
            }[kind]
            try:
                obj = client.call("GET", path, {"size": "1"} if o.size and kind == "container" else None)
                break
            except APIError as exc:
                if exc.status != 404:
                    raise
        if obj is None:
            failed = True
            what = {"": "object", "container": "container", "image": "image"}.get(o.type, o.type)
            sys.stderr.write(f"Error: No such {what}: {name}\n")
            continue
        objs.append(obj)
    print_objects(objs, o.format)
    return 1 if failed else 0


def cmd_top(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} CONTAINER [ps OPTIONS]")
    p.add_argument("container")
    p.add_argument("ps_args", nargs="*")
    o, extra = p.parse_known_args(args)
    ps_args = " ".join([*o.ps_args, *extra])
    res = client.call("GET", f"/containers/{o.container}/top", {"ps_args": ps_args or None})
    rows = [list(res.get("Titles") or [])] + [list(r) for r in res.get("Processes") or []]
    print(fmt.table(rows))
    return 0


def cmd_port(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} CONTAINER [PRIVATE_PORT[/PROTO]]")
    p.add_argument("container")
    p.add_argument("port", nargs="?")
    o = p.parse_args(args)
    info = client.call("GET", f"/containers/{o.container}/json")
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if o.port:
        key = o.port if "/" in o.port else f"{o.port}/tcp"
        bindings = ports.get(key)
        if not bindings:
            die(f"Error: No public port '{key}' published for {o.container}")
        for b in bindings:
            print(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}")
        return 0
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        for b in ports[key] or []:
            ip = b.get("HostIp") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            print(f"{key} -> {ip}:{b.get('HostPort')}")
    return 0


# ---------------------------------------------------------------- stats


def stats_row(s: dict[str, Any], name: str, trunc: bool) -> dict[str, str]:
    cpu = s.get("cpu_stats") or {}
    pre = s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_pct = cpu_delta / sys_delta * online * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    mstats = mem.get("stats") or {}
    usage = mem.get("usage") or 0
    inactive = mstats.get("total_inactive_file", mstats.get("inactive_file", 0)) or 0
    usage = usage - inactive if inactive < usage else usage
    limit = mem.get("limit") or 0
    mem_pct = usage / limit * 100.0 if limit else 0.0
    rx = tx = 0
    for net in (s.get("networks") or {}).values():
        rx += net.get("rx_bytes", 0)
        tx += net.get("tx_bytes", 0)
    rd = wr = 0
    for e in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = (e.get("op") or "").lower()
        if op == "read":
            rd += e.get("value", 0)
        elif op == "write":
            wr += e.get("value", 0)
    cid = s.get("id") or ""
    running = bool(mem) or bool(cpu.get("cpu_usage", {}).get("total_usage"))
    dash = "--"
    return {
        "Container": name,
        "ID": cid[:12] if trunc else cid,
        "Name": (s.get("name") or "").lstrip("/") or dash,
        "CPUPerc": f"{cpu_pct:.2f}%" if running else dash,
        "MemUsage": f"{fmt.bytes_size(usage)} / {fmt.bytes_size(limit)}" if running else "-- / --",
        "MemPerc": f"{mem_pct:.2f}%" if running else dash,
        "NetIO": f"{fmt.human_size(rx)} / {fmt.human_size(tx)}" if running else "-- / --",
        "BlockIO": f"{fmt.human_size(rd)} / {fmt.human_size(wr)}" if running else "-- / --",
        "PIDs": str((s.get("pids_stats") or {}).get("current", 0)) if running else dash,
    }


STATS_HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}


def cmd_stats(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] [CONTAINER...]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--format", default="")
    p.add_argument("--no-stream", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("containers", nargs="*")
    o = p.parse_args(args)
    names = list(o.containers)
    if not names:
        names = [
            c["Id"] for c in client.call("GET", "/containers/json", {"all": "1" if o.all else None}) or []
        ]
    template = o.format or (
        "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}"
        "\t{{.PIDs}}"
    )
    samples: dict[str, dict[str, str]] = {}
    errors: list[APIError] = []

    def fetch(name: str) -> None:
        try:
            s = client.call("GET", f"/containers/{name}/stats", {"stream": "0"})
            samples[name] = stats_row(s, name, not o.no_trunc)
        except APIError as exc:
            errors.append(exc)

    while True:
        threads = [threading.Thread(target=fetch, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors and o.no_stream:
            for e in errors:
                report(e)
            return 1
        out = fmt.format_rows(template, [samples[n] for n in names if n in samples], STATS_HEADERS)
        if o.no_stream:
            if out:
                print(out)
            return 0
        sys.stdout.write("\033[2J\033[H" + out + "\n")
        sys.stdout.flush()
        errors.clear()
        time.sleep(0.5)
