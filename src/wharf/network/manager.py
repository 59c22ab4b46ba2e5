"""Networks for the engine: the predefined ``bridge``/``host``/``none``, user-defined bridge
networks, and each container's endpoints on them. ``NetworkManager`` is the one object the
engine and the API use; the pieces it puts together are modules of their own:

    ipam.py       pools, a new network's subnet/gateway/ip-range (dockerd's checks), --ip checks
    endpoints.py  EndpointSettings through their life (asked for, addressed, cleared)
    ports.py      publish plans, host ports held with sockets, the firewall's DNAT elements
    views.py      the /networks inspect and list shapes, host/none and their stable IDs
    store.py, netlink.py, nft.py, dns.py   networks.db, links, the nftables table, embedded DNS
    types.py      ``Attachable``: what is asked of a container (the engine is not imported)

A container's endpoints live in its record (``c.networking["Networks"]``, Docker's
EndpointSettings shape). Their life follows the container's process:

    start:  prepare()  allocate an address per network (IPAM, persisted), write /etc/hosts
            (runtime creates the container: a new, empty network namespace)
            attach()   a veth per network into the namespace of the container's pid, addressed
                       and routed from inside; published ports into the firewall's maps;
                       the embedded DNS listener on 127.0.0.11 for user-defined networks
    exit:   detach()   ports out of the maps, DNS listener closed, addresses released (the
                       namespace and the veths die with the container's last process)

On daemon start ``init()`` rebuilds the firewall table from the store, re-creates missing
bridges, and drops what a crashed daemon left (addresses of containers that are not running,
veths on wharf's bridges without a running container).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from wharf.base import units
from wharf.base.times import now_rfc3339
from wharf.errors import Conflict, FailedPrecondition, Forbidden, InvalidArgument, NotFound, WharfError
from wharf.network import endpoints, ipam, leaving, netlink, nlbatch, ports, views
from wharf.network.ipam import DEFAULT_POOLS
from wharf.network.nft import Firewall
from wharf.network.store import Network, NetworkStore
from wharf.network.types import Attachable, object_of
from wharf.network.views import PREDEFINED

if TYPE_CHECKING:
    from wharf.network.dns import Resolver

log = logging.getLogger("wharf.network")

DNS_ADDRESS = "127.0.0.11"
BRIDGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")
SHARED_NOT_CONNECTED = (
    "container sharing network namespace with another container or host cannot be connected to any "
    "other network"
)
NONE_AND_OTHERS = (
    "container cannot be connected to multiple networks with one of the networks in private (none) mode"
)


class NetworkManager:
    def __init__(
        self,
        data_root: str,
        bridge: str = "wharf0",
        bip: str = "",
        pools: list[dict[str, Any]] | None = None,
        table: str = "wharf",
        mtu: int = 1500,
        dns: list[str] | None = None,
        icc: bool = True,
    ) -> None:
        self.icc = icc  # the daemon's "icc": inter-container communication on the default bridge
        self.upstream_dns = list(dns or [])  # the daemon's "dns": where the embedded server forwards
        self.store = NetworkStore(f"{data_root}/network")
        self.fw = Firewall(table)
        self.host = netlink.Host()
        self.bridge_name = bridge
        self.bip = bip
        self.mtu = mtu
        self.pools = ipam.pools_from_config(pools)
        self.networks: dict[str, Network] = {n.id: n for n in self.store.all()}
        self.reservations: dict[str, list[socket.socket]] = {}  # container ID → its held host ports
        self.leaving = leaving.Leaving(self.host)  # veths the kernel deletes after exits
        self.link_holes: dict[str, list[tuple[str, str, str, int]]] = {}  # parent ID → its links' holes
        self.dns: Resolver | None = None
        self.containers: Callable[[], Sequence[Attachable]] = list

    # --- lookup

    def by_name(self, name: str) -> Network | None:
        for n in self.networks.values():
            if n.name == name:
                return n
        return None

    def default(self) -> Network:
        n = self.by_name("bridge")
        assert n is not None
        return n

    def resolve(self, ref: str) -> Network:
        """By full ID, name, then unique ID prefix, as Docker resolves network references."""
        if ref in self.networks:
            return self.networks[ref]
        n = self.by_name(ref)
        if n is not None:
            return n
        matches = [x for x in self.networks.values() if x.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(
                f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)"
            )
        raise NotFound(f"network {ref} not found")

    def mode_network(self, mode: str) -> str | None:
        """The network a NetworkMode names (None for host/none/container:)."""
        if mode in ("", "default"):
            return "bridge"
        if mode in ("host", "none") or mode.startswith("container:"):
            return None
        return self.resolve(mode).name

    def users(self, n: Network) -> list[Attachable]:
        return [c for c in self.containers() if n.name in (c.networking.get("Networks") or {})]

    async def our_links(self) -> list[str]:
        return [n.bridge for n in self.networks.values()]

    # --- daemon start / stop

    async def init(self) -> None:
        await self._ensure_default()
        self.fw.setup()
        netlink.enable_forwarding()
        for n in self.networks.values():
            await self._bring_up(n)
        running = {c.id: c for c in self.containers() if c.state.running}
        for owner in self.store.owners() - set(running):
            self.store.release(owner)
        for c in running.values():
            try:
                self._reserve(c)
                self.fw.publish(self._port_rules(c))
                await self._start_dns(c)
            except WharfError as exc:
                log.warning("re-adopting the network of %s: %s", c.id[:12], exc)

    async def close(self, teardown: bool = False) -> None:
        """``teardown`` (a clean stop with no container running): the bridges and the nftables
        table go too; the next start makes them again from the network store."""
        if teardown:
            for n in self.networks.values():
                try:
                    await self.host.delete(n.bridge)
                except Exception as exc:  # the stop goes on; the next start's setup is from scratch
                    log.warning("stop: could not remove bridge %s: %s", n.bridge, exc)
            try:
                self.fw.teardown()
            except WharfError as exc:
                log.warning("stop: could not remove nftables table %s: %s", self.fw.table, exc)
        await self.leaving.close()
        if self.dns is not None:
            self.dns.close()
        for socks in self.reservations.values():
            for s in socks:
                s.close()
        await self.host.close()
        self.store.close()

    async def _ensure_default(self) -> None:
        n = self.by_name("bridge")
        if self.bip:
            subnet, gateway = ipam.bip_subnet(self.bip)
        elif n is not None:
            subnet, gateway = n.subnet, n.gateway
        else:
            subnet = ipam.pick_pool(
                self.pools, [x.subnet for x in self.networks.values()] + ipam.host_routes()
            )
            gateway = ipam.first_host(ipaddress.ip_network(subnet))
        if n is not None and (n.subnet, n.gateway, n.bridge) == (subnet, gateway, self.bridge_name):
            return
        if n is not None:  # the configuration moved: the old bridge goes
            await self.host.delete(n.bridge)
            self.store.remove(n.id)
            del self.networks[n.id]
        new = Network(id=secrets.token_hex(32), name="bridge", driver="bridge", bridge=self.bridge_name,
                      subnet=subnet, gateway=gateway, created=now_rfc3339(),
                      options={"com.docker.network.bridge.default_bridge": "true",
                               "com.docker.network.bridge.name": self.bridge_name})  # fmt: skip
        self.store.add(new)
        self.networks[new.id] = new

    # --- networks

    def _check_new(self, body: dict[str, Any]) -> str:
        """The name of a network about to be created (it must be new), its driver checked."""
        name = str(body.get("Name") or "")
        if not name:
            raise InvalidArgument("network name is required")
        if name in PREDEFINED:
            raise Forbidden(f"{name} is a pre-defined network and cannot be created")
        if self.by_name(name) is not None:
            raise Conflict(f"network with name {name} already exists")
        driver = body.get("Driver") or "bridge"
        if driver != "bridge":
            raise NotFound(f'plugin "{driver}" not found')
        return name

    async def create(self, body: dict[str, Any]) -> tuple[str, str]:
        """POST /networks/create: (the new network's ID, a warning)."""
        name = self._check_new(body)
        v4, v6 = ipam.split_configs(body.get("IPAM"))
        enable6 = bool(body.get("EnableIPv6"))
        ipam.validate([c for c in v4 + v6 if c.get("Subnet")], enable6)
        if len(v4) > 1 or len(v6) > 1:
            raise InvalidArgument("wharf supports one IPv4 and one IPv6 subnet per network")
        if v6 and not enable6:
            raise InvalidArgument("an IPv6 subnet was given but IPv6 is not enabled on the network (--ipv6)")
        nid = secrets.token_hex(32)
        used = [n.subnet for n in self.networks.values()]
        subnet, gateway, ip_range = ipam.address_plan(
            v4[0] if v4 else {}, used, lambda: ipam.pick_pool(self.pools, used + ipam.host_routes())
        )
        subnet6 = gateway6 = ""
        if enable6:  # without a subnet: a unique local /64 of the network's own, as Docker's pool gives
            used6 = [n.subnet6 for n in self.networks.values() if n.subnet6]
            subnet6, gateway6, _ = ipam.address_plan(
                v6[0] if v6 else {}, used6, lambda: ipam.ula_for(nid, used6)
            )
        options = {str(k): str(v) for k, v in object_of(body.get("Options"), "Options").items()}
        _icc_option(options)
        bridge = options.get("com.docker.network.bridge.name") or f"br-{nid[:12]}"
        self._check_bridge(nid, bridge)
        n = Network(id=nid, name=name, driver="bridge", bridge=bridge, subnet=subnet, gateway=gateway,
                    ip_range=ip_range, internal=bool(body.get("Internal")), options=options,
                    labels=dict(object_of(body.get("Labels"), "Labels")), created=now_rfc3339(),
                    subnet6=subnet6, gateway6=gateway6, asked=_asked(body, v4, v6))  # fmt: skip
        self.store.add(n)
        try:
            await self._bring_up(n)
        except BaseException:
            self.store.remove(nid)
            self.fw.remove_network(bridge, subnet, subnet6)
            await self.host.delete(bridge)
            raise
        self.networks[nid] = n
        return nid, ""

    def _check_bridge(self, nid: str, bridge: str) -> None:
        """A new network's bridge: a name the kernel and nft take, no other network's bridge."""
        if len(bridge) > 15:
            raise InvalidArgument(f"bridge name {bridge} is longer than 15 characters")
        if not BRIDGE_NAME.fullmatch(bridge):
            raise InvalidArgument(
                f"invalid bridge name {bridge}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        for other in self.networks.values():
            if other.bridge == bridge:
                raise Forbidden(
                    f"cannot create network {nid} ({bridge}): conflicts with network {other.id} "
                    f"({other.bridge}): networks have same bridge name"
                )

    def icc_of(self, n: Network) -> bool:
        """Whether containers on ``n`` may reach each other: the daemon's "icc" for the default
        bridge, the network's com.docker.network.bridge.enable_icc option for others."""
        if n.name == "bridge":
            return self.icc
        return _icc_option(n.options) is not False

    async def _bring_up(self, n: Network) -> None:
        """The network's bridge with its gateway address(es), and its place in the firewall."""
        await self.host.ensure_bridge(n.bridge, n.gateway, n.prefixlen, self.mtu, n.gateway6, n.prefixlen6)
        icc = self.icc_of(n)
        if not icc:
            netlink.filter_bridged(n.bridge)
        self.fw.add_network(n.bridge, n.subnet, not n.internal, n.subnet6, icc=icc)
        if n.subnet6:
            netlink.enable_forwarding(v6=True)

    async def remove(self, ref: str) -> Network:
        if ref in ("host", "none"):
            raise Forbidden(f"{ref} is a pre-defined network and cannot be removed")
        n = self.resolve(ref)
        if n.name in PREDEFINED:
            raise Forbidden(f"{n.name} is a pre-defined network and cannot be removed")
        active = [c for c in self.users(n) if c.state.running]
        if active:
            raise Forbidden(f"error while removing network: network {n.name} id {n.id} has active endpoints")
        self.fw.remove_network(n.bridge, n.subnet, n.subnet6)
        await self.host.delete(n.bridge)
        self.store.remove(n.id)
        del self.networks[n.id]
        return n

    async def prune(self, keep: Callable[[Network], bool]) -> list[str]:
        removed = []
        for n in list(self.networks.values()):
            if n.name in PREDEFINED or self.users(n) or keep(n):
                continue
            try:
                await self.remove(n.id)
                removed.append(n.name)
            except WharfError as exc:
                log.warning("prune of network %s: %s", n.name, exc)
        return removed

    # --- endpoints

    def endpoints_at_create(
        self, host_config: Mapping[str, Any], networking: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The container's Networks from NetworkMode and NetworkingConfig.EndpointsConfig."""
        mode = host_config.get("NetworkMode") or "default"
        primary = self.mode_network(mode)
        requested = dict(object_of(object_of(networking, "NetworkingConfig").get("EndpointsConfig"),
                                   "NetworkingConfig.EndpointsConfig"))  # fmt: skip
        out: dict[str, Any] = {}
        if primary is None:
            if mode in ("host", "none") and requested and set(requested) - {mode}:
                raise InvalidArgument(
                    "container cannot be disconnected from host network or connected to host network"
                    if mode == "host"
                    else NONE_AND_OTHERS
                )
            return out
        for ref in [mode if mode not in ("default",) else "bridge", *requested]:
            n = self.resolve("bridge" if ref == "default" else ref)
            if n.name in out:
                continue
            cfg = requested.get(ref) or requested.get(n.name) or {}
            if not cfg and n.name == "bridge":  # the docker CLI names the default network "default"
                cfg = requested.get("default") or {}
            out[n.name] = endpoints.settings(n, cfg)
        return out

    def prepare(self, c: Attachable) -> list[tuple[Network, dict[str, Any]]]:
        """Before the runtime creates the container: an address for each endpoint."""
        nets = c.networking.setdefault("Networks", {})
        done: list[tuple[Network, dict[str, Any]]] = []
        try:
            for name, ep in nets.items():
                n = self.resolve(ep.get("NetworkID") or name)
                self.store.release(c.id, n.id)
                ip = self.store.allocate(n, c.id, endpoints.wanted(ep))
                ip6 = (
                    self.store.allocate(n, c.id, endpoints.wanted(ep, "IPv6Address"), v6=True)
                    if n.subnet6
                    else ""
                )
                endpoints.address(ep, n, c.name, c.id, ip, ip6)
                done.append((n, ep))
        except BaseException:
            self.store.release(c.id)
            raise
        return done

    async def attach(self, c: Attachable, pid: int) -> None:
        """After the runtime created the container, before its process runs."""
        netns = f"/proc/{pid}/ns/net"
        nets = c.networking.get("Networks") or {}
        if not nets:
            if (c.host_config.get("NetworkMode") or "") == "none":
                netlink.loopback_up(netns)
            return
        try:
            ordered = sorted(nets.items(), key=lambda kv: kv[0] != self._primary(c))
            for i, (_, ep) in enumerate(ordered):
                await self._plug(pid, netns, self.resolve(ep["NetworkID"]), ep, f"eth{i}", i == 0)
            try:
                self._reserve(c)
            except FailedPrecondition as exc:
                ep = ordered[0][1]
                raise FailedPrecondition(
                    f"driver failed programming external connectivity on endpoint {c.name} "
                    f"({ep.get('EndpointID', '')}): {exc}"
                ) from None
            self.fw.publish(self._port_rules(c))
            await self._start_dns(c)
        except BaseException:
            await self.detach(c)
            raise

    def _primary(self, c: Attachable) -> str:
        return self.mode_network(c.host_config.get("NetworkMode") or "default") or ""

    async def _plug(self, pid: int, netns: str, n: Network, ep: dict[str, Any], ifname: str,
                    primary: bool) -> None:  # fmt: skip
        host_if = "wv" + secrets.token_hex(6)
        mac = ep.get("MacAddress") or endpoints.mac_for(ep["IPAddress"])
        await self.host.veth_into(host_if, ifname, mac, pid, n.bridge, self.mtu)
        gateway = n.gateway if primary and not n.internal else None
        gateway6 = n.gateway6 if primary and not n.internal and ep.get("GlobalIPv6Address") else None
        ep["MacAddress"] = await netlink.configure_container(netns, nlbatch.Endpoint(
            ifname, ep["IPAddress"], n.prefixlen, gateway,
            ep.get("GlobalIPv6Address") or "", n.prefixlen6, gateway6,
            tuple((ep.get("IPAMConfig") or {}).get("LinkLocalIPs") or ()),
        ))  # fmt: skip
        ep["_ifname"] = ifname
        ep["_host_if"] = host_if

    def open_links(self, c: Attachable, children: list[tuple[str, list[tuple[str, int]]]]) -> None:
        """A running parent's legacy links on a default bridge without icc: each child's exposed
        ports (``children``: (child IP, [(proto, port)])) open to the parent, as dockerd opens
        them; closed at the parent's detach."""
        if self.icc:
            return
        ip = str(((c.networking.get("Networks") or {}).get("bridge") or {}).get("IPAddress") or "")
        holes = [(ip, child, proto, port) for child, ports in children for proto, port in ports]
        if ip and holes:
            self.fw.links(holes)
            self.link_holes[c.id] = holes

    async def detach(self, c: Attachable, exited: bool = False) -> None:
        """The container's process is gone (``exited``) or its start failed."""
        try:
            self.fw.unpublish(self._port_rules(c))
            self.fw.links(self.link_holes.pop(c.id, []), add=False)
        except WharfError as exc:
            log.warning("unpublishing ports of %s: %s", c.id[:12], exc)
        for s in self.reservations.pop(c.id, []):
            s.close()
        if self.dns is not None:
            self.dns.remove(c.id)
        self.store.release(c.id)
        for ep in (c.networking.get("Networks") or {}).values():
            if ep.get("_host_if") and exited:
                self.leaving.add(ep.pop("_host_if"))  # the kernel deletes it with the namespace
            elif ep.get("_host_if"):
                await leaving.delete(self.host, ep.pop("_host_if"))
            endpoints.clear(ep)
        c.networking["Ports"] = {}

    async def connect(self, c: Attachable, ref: str, cfg: dict[str, Any]) -> None:
        mode = c.host_config.get("NetworkMode") or "default"
        if mode in ("host", "none") or mode.startswith("container:"):
            raise Forbidden(NONE_AND_OTHERS if mode == "none" else SHARED_NOT_CONNECTED)
        n = self.resolve(ref)
        nets = c.networking.setdefault("Networks", {})
        if n.name in nets:
            raise Forbidden(f"endpoint with name {c.name} already exists in network {n.name}")
        ep = endpoints.settings(n, cfg)
        if not c.state.running:
            nets[n.name] = ep
            return
        ip = self.store.allocate(n, c.id, endpoints.wanted(ep))
        names = [c.name, c.id[:12], *(ep.get("Aliases") or [])]
        ep.update(NetworkID=n.id, EndpointID=secrets.token_hex(32), Gateway=n.gateway, IPAddress=ip,
                  IPPrefixLen=n.prefixlen, DNSNames=names)  # fmt: skip
        try:
            await self._plug(
                c.state.pid, f"/proc/{c.state.pid}/ns/net", n, ep, endpoints.next_ifname(nets), False
            )
        except BaseException:
            self.store.release(c.id, n.id)
            raise
        nets[n.name] = ep
        await self._start_dns(c)

    async def disconnect(self, c: Attachable, ref: str, force: bool = False) -> None:
        try:
            n = self.resolve(ref)
        except NotFound:
            if force:
                return
            raise
        nets = c.networking.get("Networks") or {}
        if n.name not in nets:
            raise Forbidden(f"container {c.id} is not connected to network {n.name}")
        ep = nets.pop(n.name)
        if c.state.running and ep.get("_ifname"):
            try:
                if ep.get("_host_if"):  # one end of the pair takes the other with it
                    await self.host.delete(ep["_host_if"])
                else:
                    await netlink.remove_in_container(f"/proc/{c.state.pid}/ns/net", ep["_ifname"])
            except (WharfError, OSError):
                if not force:
                    nets[n.name] = ep
                    raise
        self.store.release(c.id, n.id)
        if self.dns is not None and c.state.running:
            await self._start_dns(c)

    # --- ports

    def publish_plan(self, c: Attachable) -> dict[str, list[dict[str, str]]]:
        """PortBindings (and -P's EXPOSE'd ports) by port key, host ports not yet chosen:
        Docker's NetworkSettings.Ports shape."""
        return ports.publish_plan(c.config, c.host_config)

    def _reserve(self, c: Attachable) -> None:
        """Hold every published host port with a socket of ours (taking a free one where none was
        asked), as docker-proxy holds them: a port in use elsewhere fails the start."""
        if not (c.networking.get("Networks") or {}):
            c.networking["Ports"] = {}
            return
        held, chosen = ports.reserve(
            self.publish_plan(c), c.config.get("ExposedPorts") or {}, ports.held_ports(self.reservations)
        )
        self.reservations[c.id] = held
        c.networking["Ports"] = chosen

    def _port_rules(self, c: Attachable) -> list[ports.Rule]:
        nets = c.networking.get("Networks") or {}
        primary = nets.get(self._primary(c)) or next(iter(nets.values()), None)
        if not primary or not primary.get("IPAddress"):
            return []
        return ports.rules(c.networking.get("Ports") or {}, primary["IPAddress"])

    # --- DNS

    async def _start_dns(self, c: Attachable) -> None:
        if not self.uses_embedded_dns(c):
            return
        if self.dns is None:
            from wharf.network.dns import Resolver

            self.dns = Resolver(self)
        pid = c.state.pid
        if pid:
            await self.dns.listen(c.id, f"/proc/{pid}/ns/net")

    def uses_embedded_dns(self, c: Attachable) -> bool:
        return any(n != "bridge" for n in (c.networking.get("Networks") or {}))

    # --- views

    def inspect(self, n: Network, verbose: bool = False) -> dict[str, Any]:
        return views.network_view(n, self.users(n), self.mtu, self.icc_of(n))

    def predefined_view(self, name: str) -> dict[str, Any]:
        return views.predefined_view(name, self.containers())

    def all_views(self) -> list[dict[str, Any]]:
        return [self.inspect(n) for n in self.networks.values()] + [
            self.predefined_view(x) for x in views.UNSTORED
        ]

    def view(self, ref: str) -> dict[str, Any]:
        name = views.unstored_named(ref)
        return self.predefined_view(name) if name is not None else self.inspect(self.resolve(ref))


__all__ = ["DEFAULT_POOLS", "DNS_ADDRESS", "PREDEFINED", "NetworkManager"]


def _asked(body: dict[str, Any], v4: list[dict[str, Any]], v6: list[dict[str, Any]]) -> dict[str, Any]:
    """What inspect shows of a network as it was asked for: IPAM's driver and options (null
    when none were sent), each subnet's auxiliary addresses, Attachable."""
    spec = object_of(body.get("IPAM"), "IPAM")
    options = spec.get("Options")
    return {
        "Driver": str(spec.get("Driver") or "default"),
        "Options": None
        if options is None
        else {str(k): str(v) for k, v in object_of(options, "IPAM.Options").items()},
        "Aux": dict(v4[0].get("AuxiliaryAddresses") or {}) if v4 else {},
        "Aux6": dict(v6[0].get("AuxiliaryAddresses") or {}) if v6 else {},
        "Attachable": bool(body.get("Attachable")),
    }


ICC_OPTION = "com.docker.network.bridge.enable_icc"


def _icc_option(options: Mapping[str, str]) -> bool | None:
    """The network's enable_icc option as Go's ParseBool reads it (None: not given)."""
    if ICC_OPTION not in options:
        return None
    value = options[ICC_OPTION]
    parsed = units.parse_bool(value)
    if parsed is not None:
        return parsed
    raise InvalidArgument(
        f"failed to parse {ICC_OPTION} value: {value} (strconv.ParseBool: parsing {json.dumps(value)}: "
        "invalid syntax)"
    )
