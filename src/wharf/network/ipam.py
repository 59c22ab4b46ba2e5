"""IPAM of bridge networks, as pure functions: the address pools a subnet is chosen from, the
checks of a requested IPAM configuration (dockerd's ``ValidateIPAM``, in its words), the
IPv6 unique local /64 of a network without an IPv6 subnet of its own, and the checks of an
address asked for with ``--ip``/``--ip6``. Allocation itself (no address handed out twice,
across restarts) is ``store.py``'s.

Nothing here raises anything but ``wharf.errors``: a malformed subnet, gateway or ip-range is
a 400 with dockerd's message, a subnet that overlaps another network's a 403, a broken
address pool of the daemon's configuration a 500 that names the pool.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from typing import Any

from wharf.errors import FailedPrecondition, Forbidden, InvalidArgument
from wharf.network.types import object_of

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address

# (base, size): the default bridge takes the first /16, user networks the next free subnet
# Docker's built-in default-address-pools: 172.17-31 as /16s, then 192.168.0.0/16 as /20s
DEFAULT_POOLS = [(f"172.{i}.0.0/16", 16) for i in range(17, 32)] + [("192.168.0.0/16", 20)]
OVERLAP = "invalid pool request: Pool overlaps with other one on this address space"


def is_v6(cidr: str) -> bool:
    return ":" in cidr


def overlapping(subnet: str, others: list[str]) -> str | None:
    """The first of ``others`` (well-formed CIDRs, as stored) that overlaps ``subnet``."""
    net = ipaddress.ip_network(subnet)
    for o in others:
        if net.overlaps(ipaddress.ip_network(o)):
            return o
    return None


def first_host(net: IPNet) -> str:
    return str(next(iter(net.hosts()), net.network_address))


# --- pools


def pools_from_config(pools: list[dict[str, Any]] | None) -> list[tuple[str, int]]:
    """The daemon's ``default-address-pools`` ([{"base": CIDR, "size": N}]), or DEFAULT_POOLS."""
    if not pools:
        return list(DEFAULT_POOLS)
    out = []
    for p in pools:
        try:
            out.append((str(p["base"]), int(p["size"])))
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument(
                f"invalid default-address-pools entry {p!r}: a base (CIDR) and a size are required"
            ) from None
    return out


def host_routes(path: str = "/proc/net/route") -> list[str]:
    """The IPv4 networks this host routes somewhere (its interfaces' subnets among them), the
    default route aside: a pool's subnet that overlaps one would shadow it, as dockerd's
    CheckRouteOverlaps refuses."""
    out = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
            net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        except ValueError:
            continue
        if net.prefixlen:
            out.append(str(net))
    return out


def pick_pool(pools: list[tuple[str, int]], used: list[str]) -> str:
    """The first subnet of the address pools that overlaps nothing in ``used``."""
    for base, size in pools:
        try:
            net = ipaddress.ip_network(base)
            for cand in net.subnets(new_prefix=size) if size > net.prefixlen else [net]:
                if overlapping(str(cand), used) is None:
                    return str(cand)
        except ValueError as exc:  # the daemon's configuration, not the request
            raise FailedPrecondition(f"invalid address pool {base} (size {size}): {exc}") from None
    raise Forbidden("all predefined address pools have been fully subnetted")


def ula_for(nid: str, used: list[str]) -> str:
    """fdXX:XXXX:XXXX:YYYY::/64 from the network's ID (RFC 4193's random global ID, made stable)."""
    for i in range(256):
        h = hashlib.sha256(f"{nid}:{i}".encode()).digest()
        cand = str(ipaddress.ip_network((b"\xfd" + h[:7] + bytes(8), 64)))
        if overlapping(cand, used) is None:
            return cand
    raise Forbidden("could not find an available, non-overlapping IPv6 address pool")


def bip_subnet(bip: str) -> tuple[str, str]:
    """The daemon's ``bip`` (the default bridge's address, CIDR): (subnet, gateway)."""
    try:
        iface = ipaddress.ip_interface(bip)
    except ValueError:
        raise InvalidArgument(f"invalid bip {bip}: invalid CIDR address: {bip}") from None
    if iface.version != 4:
        raise InvalidArgument(f"invalid bip {bip}: an IPv4 address is expected")
    return str(iface.network), str(iface.ip)


# --- a requested IPAM configuration


def parse_prefix(text: str) -> tuple[IPAddr, IPNet] | None:
    """Go's netip.ParsePrefix: "address/bits" and nothing else (no bare address, no netmask,
    no zone, no leading zero in bits). The address as written and its network, or None."""
    addr_s, sep, bits = text.partition("/")
    if not sep or "%" in addr_s or not (bits.isascii() and bits.isdigit()):
        return None
    if len(bits) > 1 and bits[0] == "0":
        return None
    try:
        addr = ipaddress.ip_address(addr_s)
        return addr, ipaddress.ip_network((addr, int(bits)), strict=False)
    except ValueError:
        return None


def _address_error(address: str, net: IPNet, shown: str) -> str:
    """validateAddress: what is wrong with ``address`` in ``net`` ("" if nothing)."""
    try:
        addr = ipaddress.ip_address(address) if "%" not in address else None
    except ValueError:
        addr = None
    if addr is None:
        return "invalid address"
    if addr.version != net.version:
        return f"parent subnet is an IPv{net.version} block"
    if addr not in net:
        return f"parent subnet {shown} doesn't contain this address"
    return ""


def _range_errors(ip_range: str, net: IPNet, shown: str) -> list[str]:
    """validateIPRange."""
    parsed = parse_prefix(ip_range)
    if parsed is None:
        return [f"invalid ip-range {ip_range}: invalid CIDR block notation"]
    addr, rng = parsed
    if rng.version != net.version:
        return [f"invalid ip-range {ip_range}: parent subnet is an IPv{net.version} block"]
    errs = []
    if rng.prefixlen < net.prefixlen:
        errs.append(f"invalid ip-range {ip_range}: CIDR block is bigger than its parent subnet {shown}")
    if addr != rng.network_address:
        errs.append(f"invalid ip-range {addr}/{rng.prefixlen}: it should be {rng}")
    if not net.overlaps(rng):
        errs.append(f"invalid ip-range {ip_range}: parent subnet {shown} doesn't contain ip-range")
    return errs


def config_errors(cfg: dict[str, Any], enable6: bool) -> list[str]:
    """What dockerd's ValidateIPAM finds wrong in one IPAM.Config entry, in its words (an IPv6
    entry of a network without IPv6 is not looked at)."""
    subnet = str(cfg.get("Subnet") or "")
    parsed = parse_prefix(subnet)
    if parsed is None:
        return [f"invalid subnet {subnet}: invalid CIDR block notation"]
    addr, net = parsed
    if net.version == 6 and not enable6:
        return []
    shown = f"{addr}/{net.prefixlen}"
    errs = []
    if addr != net.network_address:
        errs.append(f"invalid subnet {shown}: it should be {net}")
    if cfg.get("IPRange"):
        errs += _range_errors(str(cfg["IPRange"]), net, shown)
    gateway = str(cfg.get("Gateway") or "")
    if gateway and (why := _address_error(gateway, net, shown)):
        errs.append(f"invalid gateway {gateway}: {why}")
    for name, aux in object_of(cfg.get("AuxiliaryAddresses"), "IPAM.Config.AuxiliaryAddresses").items():
        if why := _address_error(str(aux), net, shown):
            errs.append(f"invalid auxiliary address {name}: {why}")
    return errs


def validate(configs: list[dict[str, Any]], enable6: bool) -> None:
    """dockerd's ValidateIPAM: every problem of every entry in one 400."""
    errs = [e for cfg in configs for e in config_errors(cfg, enable6)]
    if errs:
        raise InvalidArgument("invalid network config:\n" + "\n".join(f"* {e}" for e in errs))


def split_configs(ipam: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """IPAM.Config's entries, IPv4's and IPv6's (an entry without a Subnet is IPv4's); empty
    entries are dropped."""
    entries = object_of(ipam, "IPAM").get("Config") or []
    if not isinstance(entries, list):
        raise InvalidArgument("IPAM.Config must be an array of objects")
    configs = []
    for entry in entries:
        cfg = object_of(entry, "IPAM.Config entry")
        if not cfg:
            continue
        for key in ("Subnet", "IPRange", "Gateway"):
            if not isinstance(cfg.get(key) or "", str):
                raise InvalidArgument(f"IPAM.Config.{key} must be a string")
        configs.append(cfg)
    v4 = [c for c in configs if not is_v6(c.get("Subnet") or "")]
    v6 = [c for c in configs if is_v6(c.get("Subnet") or "")]
    return v4, v6


def address_plan(cfg: dict[str, Any], used: list[str], pool: Callable[[], str]) -> tuple[str, str, str]:
    """(subnet, gateway, ip_range) of one family of a new network: the entry's subnet (which
    must overlap none of ``used``) or ``pool()``'s, its gateway or the subnet's first host."""
    requested = bool(cfg.get("Subnet"))
    cfg = {**cfg, "Subnet": cfg.get("Subnet") or pool()}
    validate([cfg], True)
    parsed = parse_prefix(cfg["Subnet"])
    assert parsed is not None  # validated
    net = parsed[1]
    subnet = str(net)
    if requested and overlapping(subnet, used) is not None:
        raise Forbidden(OVERLAP)
    gateway = str(ipaddress.ip_address(cfg["Gateway"])) if cfg.get("Gateway") else first_host(net)
    ip_range = str(ipaddress.ip_network(cfg["IPRange"])) if cfg.get("IPRange") else ""
    return subnet, gateway, ip_range


# --- addresses asked for


def check_requested(want: str, subnet: str, family: str) -> None:
    """An address asked for with --ip/--ip6: well-formed and inside the network's subnet."""
    try:
        addr = ipaddress.ip_address(want)
    except ValueError:
        raise InvalidArgument(f"invalid {family} address: {want}") from None
    if addr not in ipaddress.ip_network(subnet):
        raise InvalidArgument(f"Invalid address {want}: It does not belong to any of this network's subnets")
