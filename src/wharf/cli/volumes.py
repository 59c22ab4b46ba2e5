"""Volume commands: volume create, ls, inspect, rm, prune."""

from __future__ import annotations

from typing import Any

from wharf.cli import format as fmt
from wharf.cli.common import confirm, filters_arg, inspect_each, key_values, print_deleted, print_reclaimed
from wharf.cli.main import UsageError, each, parser
from wharf.client import Client

VOLUME_HEADERS = {"Driver": "DRIVER", "Name": "VOLUME NAME", "Mountpoint": "MOUNTPOINT", "Scope": "SCOPE",
                  "Labels": "LABELS", "CreatedAt": "CREATED AT"}  # fmt: skip


def cmd_volume_create(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] [VOLUME]")
    p.add_argument("-d", "--driver", default="local")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("--name", default="")
    p.add_argument("volume", nargs="?")
    o = p.parse_args(args)
    if o.name and o.volume and o.name != o.volume:
        raise UsageError("conflicting options: either specify --name or provide positional arg, not both")
    body = {"Name": o.volume or o.name, "Driver": o.driver, "DriverOpts": key_values(o.opt, "option"),
            "Labels": key_values(o.label, "label")}  # fmt: skip
    res = client.call("POST", "/volumes/create", body=body)
    print(res["Name"])
    return 0


def cmd_volume_ls(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default="")
    p.add_argument("-q", "--quiet", action="store_true")
    o = p.parse_args(args)
    res = client.call("GET", "/volumes", {"filters": filters_arg(o.filter)}) or {}
    rows: list[dict[str, Any]] = []
    for v in sorted(res.get("Volumes") or [], key=lambda v: str(v.get("Name"))):
        labels = v.get("Labels") or {}
        rows.append({**v, "Labels": ",".join(f"{k}={val}" for k, val in sorted(labels.items()))})
    if o.quiet:
        for r in rows:
            print(r["Name"])
        return 0
    out = fmt.format_rows(o.format or "table {{.Driver}}\t{{.Name}}", rows, VOLUME_HEADERS)
    if out:
        print(out)
    return 0


def cmd_volume_inspect(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] VOLUME [VOLUME...]")
    p.add_argument("-f", "--format", default="")
    p.add_argument("names", nargs="+")
    o = p.parse_args(args)
    return inspect_each(client, o.names, "/volumes/{}", o.format, None)


def cmd_volume_rm(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] VOLUME [VOLUME...]")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("names", nargs="+")
    o = p.parse_args(args)
    return each(
        o.names, lambda n: client.call("DELETE", f"/volumes/{n}", {"force": "1" if o.force else None})
    )


def cmd_volume_prune(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("-f", "--force", action="store_true")
    o = p.parse_args(args)
    warning = (
        "WARNING! This will remove all local volumes not used by at least one container."
        if o.all
        else "WARNING! This will remove anonymous local volumes not used by at least one container."
    )
    if not confirm(warning, o.force):
        return 0
    filters = filters_arg(o.filter) or {}
    if o.all:
        filters["all"] = ["true"]
    res = client.call("POST", "/volumes/prune", {"filters": filters or None})
    print_deleted("Volumes", res.get("VolumesDeleted") or [])
    print_reclaimed(res.get("SpaceReclaimed") or 0)
    return 0
