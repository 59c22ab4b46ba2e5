"""A container's endpoint on a network: Docker's EndpointSettings, as the container's record
holds it in ``networking["Networks"][<network name>]``, through its life (asked for at create,
addressed at start, cleared at exit). Pure functions on those dicts; the keys that start with
``_`` are wharf's own (the interface names of a running endpoint) and never shown.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from typing import Any

from wharf.errors import InvalidArgument
from wharf.network.ipam import check_requested
from wharf.network.store import Network
from wharf.network.types import object_of

# an Ethernet address: six bytes in hex, ':' or '-' between them (what netlink can set)
MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(\1[0-9A-Fa-f]{2}){4}$")


def check_link_local(addr: str) -> None:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise InvalidArgument(f"invalid link-local IP address: {addr}") from None
    if not ip.is_link_local:
        raise InvalidArgument(f"{addr} is not a link-local address")


def settings(n: Network, cfg: dict[str, Any]) -> dict[str, Any]:
    """The endpoint a container asks for on ``n`` (EndpointsConfig's entry, or {}), checked,
    not addressed yet."""
    cfg = object_of(cfg, "EndpointSettings")
    ipam = object_of(cfg.get("IPAMConfig"), "EndpointSettings.IPAMConfig")
    user_ip = ipam.get("IPv4Address") or ipam.get("IPv6Address")
    if n.name == "bridge" and (user_ip or cfg.get("Aliases")):
        if user_ip:
            raise InvalidArgument("user specified IP address is supported on user defined networks only")
        raise InvalidArgument(
            "network-scoped alias is supported only for containers in user defined networks"
        )
    want = str(ipam.get("IPv4Address") or "")
    if want:
        check_requested(want, n.subnet, "IPv4")
    want6 = str(ipam.get("IPv6Address") or "")
    if want6:
        if not n.subnet6:
            raise InvalidArgument(
                f"network {n.name} does not have IPv6 enabled: --ip6 {want6} cannot be used"
            )
        check_requested(want6, n.subnet6, "IPv6")
    aliases = cfg.get("Aliases") or []
    if not isinstance(aliases, list):
        raise InvalidArgument("EndpointSettings.Aliases must be an array of strings")
    mac = str(cfg.get("MacAddress") or "")
    if mac and not MAC_RE.match(mac):
        raise InvalidArgument(f"invalid MAC address {mac}")
    ipam_cfg: dict[str, Any] = {k: v for k, v in (("IPv4Address", want), ("IPv6Address", want6)) if v}
    link_local = [str(x) for x in ipam.get("LinkLocalIPs") or []]
    for addr in link_local:
        check_link_local(addr)
    if link_local:
        ipam_cfg["LinkLocalIPs"] = link_local
    return {
        "IPAMConfig": ipam_cfg or None,
        "Links": cfg.get("Links"),
        "Aliases": [str(a) for a in aliases] or None,
        "MacAddress": mac.replace("-", ":"),
        "DriverOpts": cfg.get("DriverOpts"),
        "NetworkID": n.id,
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


def wanted(ep: dict[str, Any], key: str = "IPv4Address") -> str:
    """The address asked for (IPAMConfig's IPv4Address or IPv6Address), or ""."""
    return str((ep.get("IPAMConfig") or {}).get(key) or "")


def dns_names(name: str, cid: str, ep: dict[str, Any]) -> list[str]:
    """What the embedded DNS answers for the endpoint: name, short ID, aliases."""
    return [x for x in [name, cid[:12], *(ep.get("Aliases") or [])] if x]


def address(ep: dict[str, Any], n: Network, name: str, cid: str, ip: str, ip6: str = "") -> None:
    """The endpoint got its address(es) on ``n`` (a new EndpointID each time)."""
    ep.update(
        NetworkID=n.id, EndpointID=secrets.token_hex(32), Gateway=n.gateway, IPAddress=ip,
        IPPrefixLen=n.prefixlen, GlobalIPv6Address=ip6, GlobalIPv6PrefixLen=n.prefixlen6 if ip6 else 0,
        IPv6Gateway=n.gateway6 if ip6 else "",
        DNSNames=dns_names(name, cid, ep) if n.name != "bridge" else None,
    )  # fmt: skip


def clear(ep: dict[str, Any]) -> None:
    """The container's process is gone: the endpoint keeps what was asked for, nothing else."""
    mac = ep.get("MacAddress") if (ep.get("IPAMConfig") or {}).get("MacAddress") else ""
    ep.update(EndpointID="", Gateway="", IPAddress="", IPPrefixLen=0, GlobalIPv6Address="",
              GlobalIPv6PrefixLen=0, IPv6Gateway="", MacAddress=mac)  # fmt: skip
    ep.pop("_ifname", None)


def next_ifname(nets: dict[str, Any]) -> str:
    """The first ethN no endpoint of the container uses."""
    used = {e.get("_ifname") for e in nets.values()}
    return next(f"eth{i}" for i in range(64) if f"eth{i}" not in used)


def mac_for(ip: str) -> str:
    """Docker's MAC for an address: 02:42 then the four bytes of the IPv4 address."""
    b = ipaddress.ip_address(ip).packed
    return "02:42:" + ":".join(f"{x:02x}" for x in b)
