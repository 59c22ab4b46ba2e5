"""The shapes of ``/networks`` (inspect and list, Docker's): bridge networks from their record
and their running endpoints, and the predefined ``host``/``none``, which are not stored and
have IDs of their own that never change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from wharf.network.store import Network
from wharf.network.types import Attachable

PREDEFINED = ("bridge", "host", "none")
UNSTORED = ("host", "none")  # predefined and not in networks.db


def stable_id(name: str) -> str:
    """A fixed ID for the predefined host/none networks (Docker makes them once per daemon)."""
    return hashlib.sha256(f"wharf-predefined-{name}".encode()).hexdigest()


def unstored_named(ref: str) -> str | None:
    """ "host" or "none" if ``ref`` names one: by name, by ID, or by an ID prefix of 3 or more."""
    for name in UNSTORED:
        nid = stable_id(name)
        if ref == name or ref == nid or (len(ref) >= 3 and nid.startswith(ref)):
            return name
    return None


def _endpoint_view(c: Attachable, ep: dict[str, Any], n: Network) -> dict[str, str]:
    ipv6 = ep.get("GlobalIPv6Address")
    return {
        "Name": c.name,
        "EndpointID": ep.get("EndpointID", ""),
        "MacAddress": ep.get("MacAddress", ""),
        "IPv4Address": f"{ep['IPAddress']}/{ep.get('IPPrefixLen', n.prefixlen)}",
        "IPv6Address": f"{ipv6}/{n.prefixlen6}" if ipv6 else "",
    }


def network_view(n: Network, users: Iterable[Attachable], mtu: int, icc: bool = True) -> dict[str, Any]:
    """Inspect of a bridge network; ``users`` are the containers with an endpoint on it (the
    running ones with an address are shown)."""
    containers = {}
    for c in users:
        ep = (c.networking.get("Networks") or {}).get(n.name) or {}
        if c.state.running and ep.get("IPAddress"):
            containers[c.id] = _endpoint_view(c, ep, n)
    asked = n.asked
    cfg: dict[str, Any] = {"Subnet": n.subnet, "Gateway": n.gateway}
    if n.ip_range:
        cfg["IPRange"] = n.ip_range
    if asked.get("Aux"):
        cfg["AuxiliaryAddresses"] = asked["Aux"]
    configs = [cfg]
    if n.subnet6:
        cfg6: dict[str, Any] = {"Subnet": n.subnet6, "Gateway": n.gateway6}
        if asked.get("Aux6"):
            cfg6["AuxiliaryAddresses"] = asked["Aux6"]
        configs.append(cfg6)
    options = dict(n.options)
    if n.name == "bridge":
        options.update({"com.docker.network.bridge.enable_icc": "true" if icc else "false",
                        "com.docker.network.bridge.enable_ip_masquerade": "true",
                        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                        "com.docker.network.driver.mtu": str(mtu)})  # fmt: skip
    return {
        "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": n.driver,
        "EnableIPv6": bool(n.subnet6),
        "IPAM": {"Driver": asked.get("Driver", "default"), "Config": configs,
                 "Options": None if n.name == "bridge" else asked.get("Options", {})},
        "Internal": n.internal, "Attachable": bool(asked.get("Attachable")), "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Containers": containers, "Options": options, "Labels": n.labels,
    }  # fmt: skip


def predefined_view(name: str, containers: Iterable[Attachable]) -> dict[str, Any]:
    """Inspect of ``host`` or ``none``: the running containers of that NetworkMode."""
    members = {}
    for c in containers:
        if c.state.running and (c.host_config.get("NetworkMode") or "") == name:
            members[c.id] = {"Name": c.name, "EndpointID": "", "MacAddress": "", "IPv4Address": "",
                             "IPv6Address": ""}  # fmt: skip
    driver = name if name != "none" else "null"
    return {
        "Name": name, "Id": stable_id(name), "Created": "0001-01-01T00:00:00Z", "Scope": "local",
        "Driver": driver, "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": None},
        "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
        "ConfigOnly": False, "Containers": members, "Options": {}, "Labels": {},
    }  # fmt: skip
