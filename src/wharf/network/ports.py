"""Published ports: the plan (PortBindings and ``-P``'s EXPOSE'd ports, Docker's
NetworkSettings.Ports shape), holding each host port with a socket of the daemon's as
docker-proxy does (a port in use elsewhere fails the start, in Docker's words), and the
(host_ip, proto, host_port, container_ip, container_port) tuples the firewall's DNAT maps
take (``nft.py``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any

from wharf.errors import FailedPrecondition, InvalidArgument
from wharf.network.types import object_of

Binding = dict[str, str]  # {"HostIp": "", "HostPort": ""}
Rule = tuple[str, str, int, str, int]
Held = set[tuple[str, str, int]]  # (host_ip, proto, port) held by our containers
PROTOCOLS = ("tcp", "udp", "sctp")


def port_key(key: str) -> str:
    """ "80" → "80/tcp"."""
    return key if "/" in key else f"{key}/tcp"


def _port(text: str) -> int | None:
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        return None
    return int(text)


def parse_key(key: str) -> tuple[int, str]:
    """ "80/tcp" → (80, "tcp"); a malformed key is a 400 in dockerd's words."""
    port, _, proto = port_key(key).partition("/")
    n = _port(port)
    if n is None or not n:
        raise InvalidArgument(f'invalid port specification: "{port}"')
    if proto not in PROTOCOLS:  # (it goes into an nft batch: nothing else may)
        raise InvalidArgument(f"invalid proto: {proto}")
    return n, proto


def host_ports(spec: str) -> list[int]:
    """A binding's HostPort as the ports to try: "" → [0] (any), "8080", "8000-8010"."""
    if not spec:
        return [0]
    lo, sep, hi = spec.partition("-")
    first, last = _port(lo), _port(hi) if sep else _port(lo)
    if first is None or last is None or last < first:
        raise InvalidArgument(f'invalid port specification: "{spec}"')
    return list(range(first, last + 1))


def host_ip(binding: Binding) -> str:
    ip = binding.get("HostIp") or "0.0.0.0"
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidArgument(f"invalid IP address: {ip}") from None
    return ip


def check_bindings(host_config: Mapping[str, Any]) -> None:
    """What dockerd refuses in HostConfig.PortBindings at create (validatePortBindings)."""
    for key, items in object_of(host_config.get("PortBindings"), "PortBindings").items():
        parse_key(key)
        for b in items or []:
            b = object_of(b, "PortBinding")
            host_ports(str(b.get("HostPort") or ""))
            host_ip(b)


def publish_plan(config: Mapping[str, Any], host_config: Mapping[str, Any]) -> dict[str, list[Binding]]:
    """PortBindings (and with PublishAllPorts the EXPOSE'd ports) by port key, host ports not
    yet chosen."""
    bindings: dict[str, list[Binding]] = {}
    for key, items in object_of(host_config.get("PortBindings"), "PortBindings").items():
        bindings[port_key(key)] = [dict(object_of(b, "PortBinding")) for b in (items or [{}])]
    if host_config.get("PublishAllPorts"):
        for key in config.get("ExposedPorts") or {}:
            bindings.setdefault(port_key(key), [{"HostIp": "", "HostPort": ""}])
    return bindings


def held_ports(reservations: dict[str, list[socket.socket]]) -> Held:
    out = set()
    for socks in reservations.values():
        for s in socks:
            ip, port = s.getsockname()[:2]
            out.add((str(ip), "udp" if s.type == socket.SOCK_DGRAM else "tcp", int(port)))
    return out


def bind_one(host_ip: str, proto: str, candidates: list[int], ours: Held) -> tuple[socket.socket, int]:
    """Bind the first free candidate. Docker's wording for a failure: a port one of our
    containers holds is "already allocated"; a port held by anything else is the kernel's
    "address already in use", as docker-proxy reports it."""
    fam = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    last: OSError | None = None
    for port in candidates:
        s = socket.socket(fam, kind)
        try:
            s.bind((host_ip, port))
            if kind == socket.SOCK_STREAM:
                s.listen(1)
            return s, int(s.getsockname()[1])
        except OSError as exc:
            s.close()
            last = exc
    raise bind_error(host_ip, proto, candidates, ours, last)


def bind_error(
    host_ip: str, proto: str, candidates: list[int], ours: Held, last: OSError | None
) -> FailedPrecondition:
    shown = candidates[0] if len(candidates) == 1 else f"{candidates[0]}-{candidates[-1]}"
    family = "6" if ":" in host_ip else "4"
    held_by_us = any((ip, proto, p) in ours for p in candidates for ip in (host_ip, "0.0.0.0"))
    if last is not None and not held_by_us and len(candidates) == 1:
        reason = "cannot assign requested address" if last.errno == 99 else "address already in use"
        return FailedPrecondition(
            f"Error starting userland proxy: listen {proto}{family} {host_ip}:{shown}: bind: {reason}"
        )
    return FailedPrecondition(f"Bind for {host_ip}:{shown} failed: port is already allocated")


def reserve(
    plan: dict[str, list[Binding]], exposed: dict[str, Any], ours: Held
) -> tuple[list[socket.socket], dict[str, list[Binding] | None]]:
    """Hold every planned host port (a free one where none was asked): the sockets, and the
    NetworkSettings.Ports with the ports chosen (EXPOSE'd ones unpublished: None). Nothing
    stays held if one fails."""
    held: list[socket.socket] = []
    ports: dict[str, list[Binding] | None] = {}
    try:
        for key, items in plan.items():
            _, proto = parse_key(key)
            out = []
            for b in items:
                ip = host_ip(b)
                s, chosen = bind_one(ip, proto, host_ports(b.get("HostPort") or ""), ours)
                held.append(s)
                out.append({"HostIp": ip, "HostPort": str(chosen)})
            ports[key] = out
        for key in exposed or {}:
            ports.setdefault(port_key(key), None)
    except BaseException:
        for s in held:
            s.close()
        raise
    return held, ports


def rules(ports: dict[str, list[Binding] | None], container_ip: str) -> list[Rule]:
    """The DNAT map elements of a container's NetworkSettings.Ports (host ports chosen)."""
    out = []
    for key, items in ports.items():
        for b in items or []:  # an EXPOSE'd port that is not published is not looked at
            port, proto = parse_key(key)
            ip = b.get("HostIp") or ""
            out.append((ip if ip != "0.0.0.0" else "", proto, int(b["HostPort"]), container_ip, port))
    return out
