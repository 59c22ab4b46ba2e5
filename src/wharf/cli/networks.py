"""Network commands: network create, ls, inspect, rm, connect, disconnect, prune."""

from __future__ import annotations

import sys
from typing import Any

from wharf.cli import format as fmt
from wharf.cli.common import confirm, filters_arg, inspect_each, key_values, print_deleted
from wharf.cli.main import UsageError, each, parser
from wharf.client import APIError, Client

NETWORK_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}


def _ipam_configs(subnets: list[str], ranges: list[str], gateways: list[str], aux: list[str]) -> list[Any]:
    """Docker's pairing of --subnet with the --ip-range/--gateway/--aux-address that fall in it."""
    import ipaddress

    if not subnets and (ranges or gateways or aux):
        raise UsageError("every ip-range or gateway must have a corresponding subnet")
    configs: list[dict[str, Any]] = [{"Subnet": s} for s in subnets]

    def owner(addr: str, what: str) -> dict[str, Any]:
        try:
            ip = ipaddress.ip_network(addr, strict=False)
        except ValueError:
            raise UsageError(f"invalid {what} {addr}") from None
        for cfg in configs:
            try:
                net = ipaddress.ip_network(cfg["Subnet"], strict=False)
            except ValueError:
                raise UsageError(f"invalid subnet {cfg['Subnet']}") from None
            if ip.version == net.version and ip.subnet_of(net):  # type: ignore[arg-type]
                return cfg
        raise UsageError(f"no matching subnet for {what} {addr}")

    for r in ranges:
        cfg = owner(r, "range")
        if "IPRange" in cfg:
            raise UsageError(f"cannot configure multiple ranges ({r}, {cfg['IPRange']}) on the same subnet")
        cfg["IPRange"] = r
    for g in gateways:
        cfg = owner(g, "gateway")
        if "Gateway" in cfg:
            raise UsageError(
                f"cannot configure multiple gateways ({g}, {cfg['Gateway']}) for the same subnet"
            )
        cfg["Gateway"] = g
    for item in aux:
        name, eq, addr = item.partition("=")
        if not eq:
            raise UsageError(f"invalid aux-address {item!r}")
        owner(addr, "aux-address").setdefault("AuxiliaryAddresses", {})[name] = addr
    return configs


def cmd_network_create(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] NETWORK")
    p.add_argument("--attachable", action="store_true")
    p.add_argument("--aux-address", action="append", default=[])
    p.add_argument("-d", "--driver", default="bridge")
    p.add_argument("--gateway", action="append", default=[])
    p.add_argument("--internal", action="store_true")
    p.add_argument("--ip-range", action="append", default=[])
    p.add_argument("--ipam-driver", default="default")
    p.add_argument("--ipam-opt", action="append", default=[])
    p.add_argument("--ipv6", action="store_true")
    p.add_argument("--label", action="append", default=[])
    p.add_argument("-o", "--opt", action="append", default=[])
    p.add_argument("--scope", default="")
    p.add_argument("--subnet", action="append", default=[])
    p.add_argument("name")
    o = p.parse_args(args)
    body: dict[str, Any] = {
        "Name": o.name,
        "Driver": o.driver,
        "Internal": o.internal,
        "Attachable": o.attachable,
        "EnableIPv6": o.ipv6,
        "IPAM": {
            "Driver": o.ipam_driver,
            "Config": _ipam_configs(o.subnet, o.ip_range, o.gateway, o.aux_address),
            "Options": key_values(o.ipam_opt, "ipam-opt"),
        },
        "Options": key_values(o.opt, "option"),
        "Labels": key_values(o.label, "label"),
    }
    if o.scope:
        body["Scope"] = o.scope
    res = client.call("POST", "/networks/create", body=body)
    if res.get("Warning"):
        sys.stderr.write(f"WARNING: {res['Warning']}\n")
    print(res["Id"])
    return 0


def _rows(nets: list[dict[str, Any]], trunc: bool) -> list[dict[str, Any]]:
    rows = []
    for n in sorted(nets, key=lambda n: str(n.get("Name"))):
        labels = n.get("Labels") or {}
        rows.append(
            {
                "ID": n["Id"][:12] if trunc else n["Id"],
                "Name": n["Name"],
                "Driver": n.get("Driver") or "",
                "Scope": n.get("Scope") or "local",
                "IPv6": str(bool(n.get("EnableIPv6"))).lower(),
                "Internal": str(bool(n.get("Internal"))).lower(),
                "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
                "CreatedAt": n.get("Created") or "",
            }
        )
    return rows


def cmd_network_ls(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default="")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    o = p.parse_args(args)
    nets = client.call("GET", "/networks", {"filters": filters_arg(o.filter)}) or []
    rows = _rows(nets, not o.no_trunc)
    if o.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    out = fmt.format_rows(
        o.format or "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", rows, NETWORK_HEADERS
    )
    if out:
        print(out)
    return 0


def cmd_network_inspect(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] NETWORK [NETWORK...]")
    p.add_argument("-f", "--format", default="")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("names", nargs="+")
    o = p.parse_args(args)
    return inspect_each(
        client, o.names, "/networks/{}", o.format, {"verbose": "true" if o.verbose else None}
    )


def cmd_network_rm(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} NETWORK [NETWORK...]")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("names", nargs="+")
    o = p.parse_args(args)

    def rm(name: str) -> None:
        try:
            client.call("DELETE", f"/networks/{name}")
        except APIError as exc:
            if not (o.force and exc.status == 404):
                raise

    return each(o.names, rm)


def cmd_network_connect(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] NETWORK CONTAINER")
    p.add_argument("--alias", action="append", default=[])
    p.add_argument("--driver-opt", action="append", default=[])
    p.add_argument("--ip", default="")
    p.add_argument("--ip6", default="")
    p.add_argument("--link", action="append", default=[])
    p.add_argument("--link-local-ip", action="append", default=[])
    p.add_argument("network")
    p.add_argument("container")
    o = p.parse_args(args)
    ipam: dict[str, Any] = {}
    if o.ip:
        ipam["IPv4Address"] = o.ip
    if o.ip6:
        ipam["IPv6Address"] = o.ip6
    if o.link_local_ip:
        ipam["LinkLocalIPs"] = o.link_local_ip
    endpoint: dict[str, Any] = {
        "IPAMConfig": ipam or None,
        "Aliases": o.alias or None,
        "Links": o.link or None,
        "DriverOpts": key_values(o.driver_opt, "driver-opt") or None,
    }
    client.call(
        "POST",
        f"/networks/{o.network}/connect",
        body={"Container": o.container, "EndpointConfig": {k: v for k, v in endpoint.items() if v}},
    )
    return 0


def cmd_network_disconnect(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] NETWORK CONTAINER")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("network")
    p.add_argument("container")
    o = p.parse_args(args)
    client.call(
        "POST", f"/networks/{o.network}/disconnect", body={"Container": o.container, "Force": o.force}
    )
    return 0


def cmd_network_prune(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("-f", "--force", action="store_true")
    o = p.parse_args(args)
    if not confirm(
        "WARNING! This will remove all custom networks not used by at least one container.", o.force
    ):
        return 0
    res = client.call("POST", "/networks/prune", {"filters": filters_arg(o.filter)})
    print_deleted("Networks", res.get("NetworksDeleted") or [], end="")
    return 0
