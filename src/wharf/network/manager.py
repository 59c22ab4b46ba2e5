"""Networks for the engine: the predefined ``bridge``/``host``/``none``, user-defined bridge
networks, and each container's endpoints on them.

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
import logging
import secrets
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wharf.base.times import now_rfc3339
from wharf.errors import Conflict, FailedPrecondition, Forbidden, InvalidArgument, NotFound, WharfError
from wharf.network import netlink
from wharf.network.nft import Firewall
from wharf.network.store import Network, NetworkStore, overlapping, parse_subnet, pick_pool

if TYPE_CHECKING:
    from wharf.engine.containers import Container

log = logging.getLogger("wharf.network")

PREDEFINED = ("bridge", "host", "none")
DEFAULT_POOLS = [("172.17.0.0/16", 16), ("172.18.0.0/14", 16), ("172.22.0.0/15", 16),
                 ("172.24.0.0/13", 16), ("192.168.0.0/16", 20)]  # fmt: skip
DNS_ADDRESS = "127.0.0.11"


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
    ) -> None:
        self.upstream_dns = list(dns or [])  # the daemon's "dns": where the embedded server forwards
        self.store = NetworkStore(f"{data_root}/network")
        self.fw = Firewall(table)
        self.host = netlink.Host()
        self.bridge_name = bridge
        self.bip = bip
        self.mtu = mtu
        self.pools = [(p["base"], int(p["size"])) for p in pools] if pools else list(DEFAULT_POOLS)
        self.networks: dict[str, Network] = {n.id: n for n in self.store.all()}
        self.reservations: dict[str, list[socket.socket]] = {}
        self.dns: Any = None
        self.containers: Callable[[], list[Container]] = list

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

    async def close(self) -> None:
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
            iface = ipaddress.ip_interface(self.bip)
            subnet, gateway = str(iface.network), str(iface.ip)
        elif n is not None:
            subnet, gateway = n.subnet, n.gateway
        else:
            subnet = pick_pool(self.pools, [x.subnet for x in self.networks.values()])
            gateway = str(next(ipaddress.ip_network(subnet).hosts()))
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

    async def create(self, body: dict[str, Any]) -> tuple[str, str]:
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
        ipam = body.get("IPAM") or {}
        configs = [c for c in ipam.get("Config") or [] if c]
        v4 = [c for c in configs if not _is_v6(c.get("Subnet") or "")]
        v6 = [c for c in configs if _is_v6(c.get("Subnet") or "")]
        if len(v4) > 1 or len(v6) > 1:
            raise InvalidArgument("wharf supports one IPv4 and one IPv6 subnet per network")
        enable6 = bool(body.get("EnableIPv6"))
        if v6 and not enable6:
            raise InvalidArgument("an IPv6 subnet was given but IPv6 is not enabled on the network (--ipv6)")
        cfg = v4[0] if v4 else {}
        used = [n.subnet for n in self.networks.values()]
        if cfg.get("Subnet"):
            subnet = parse_subnet(cfg["Subnet"])
            if overlapping(subnet, used) is not None:
                raise Forbidden("invalid pool request: Pool overlaps with other one on this address space")
        else:
            subnet = pick_pool(self.pools, used)
        net = ipaddress.ip_network(subnet)
        gateway = self._gateway(cfg, net, subnet)
        ip_range = cfg.get("IPRange") or ""
        if ip_range:
            rng = ipaddress.ip_network(parse_subnet(ip_range))
            if rng.version != 4 or not rng.subnet_of(net):  # type: ignore[arg-type]
                raise InvalidArgument(f"invalid ip-range {ip_range}: it does not belong to subnet {subnet}")
            ip_range = str(rng)
        nid = secrets.token_hex(32)
        subnet6 = gateway6 = ""
        if enable6:
            cfg6 = v6[0] if v6 else {}
            used6 = [n.subnet6 for n in self.networks.values() if n.subnet6]
            if cfg6.get("Subnet"):
                subnet6 = parse_subnet(cfg6["Subnet"])
                if overlapping(subnet6, used6) is not None:
                    raise Forbidden(
                        "invalid pool request: Pool overlaps with other one on this address space"
                    )
            else:  # a unique local /64 of the network's own, as Docker's default IPv6 pool gives
                subnet6 = _ula_for(nid, used6)
            gateway6 = self._gateway(cfg6, ipaddress.ip_network(subnet6), subnet6)
        options = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        bridge = options.get("com.docker.network.bridge.name") or f"br-{nid[:12]}"
        if len(bridge) > 15:
            raise InvalidArgument(f"bridge name {bridge} is longer than 15 characters")
        n = Network(id=nid, name=name, driver="bridge", bridge=bridge, subnet=subnet, gateway=gateway,
                    ip_range=ip_range, internal=bool(body.get("Internal")), options=options,
                    labels=dict(body.get("Labels") or {}), created=now_rfc3339(), subnet6=subnet6,
                    gateway6=gateway6)  # fmt: skip
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

    @staticmethod
    def _gateway(cfg: dict[str, Any], net: Any, subnet: str) -> str:
        gateway = cfg.get("Gateway") or str(next(net.hosts()))
        try:
            addr = ipaddress.ip_address(gateway)
        except ValueError:
            raise InvalidArgument(f"invalid gateway address {gateway}") from None
        if addr not in net:
            raise InvalidArgument(f"invalid gateway {gateway}: it does not belong to subnet {subnet}")
        return str(addr)

    async def _bring_up(self, n: Network) -> None:
        """The network's bridge with its gateway address(es), and its place in the firewall."""
        await self.host.ensure_bridge(n.bridge, n.gateway, n.prefixlen, self.mtu, n.gateway6, n.prefixlen6)
        self.fw.add_network(n.bridge, n.subnet, not n.internal, n.subnet6)
        if n.subnet6:
            netlink.enable_forwarding(v6=True)

    def users(self, n: Network) -> list[Container]:
        return [c for c in self.containers() if n.name in (c.networking.get("Networks") or {})]

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

    # --- endpoints

    def endpoints_at_create(self, host_config: dict[str, Any], networking: dict[str, Any]) -> dict[str, Any]:
        """The container's Networks from NetworkMode and NetworkingConfig.EndpointsConfig."""
        mode = host_config.get("NetworkMode") or "default"
        primary = self.mode_network(mode)
        requested = dict((networking or {}).get("EndpointsConfig") or {})
        out: dict[str, Any] = {}
        if primary is None:
            if mode in ("host", "none") and requested and set(requested) - {mode}:
                raise InvalidArgument(
                    "container cannot be disconnected from host network or connected to host network"
                    if mode == "host"
                    else "container cannot be connected to multiple networks with one of the networks in"
                    " private (none) mode"
                )
            return out
        for ref in [mode if mode not in ("default",) else "bridge", *requested]:
            n = self.resolve("bridge" if ref == "default" else ref)
            if n.name in out:
                continue
            cfg = requested.get(ref) or requested.get(n.name) or {}
            if not cfg and n.name == "bridge":  # the docker CLI names the default network "default"
                cfg = requested.get("default") or {}
            out[n.name] = self._endpoint(n, cfg)
        return out

    def _endpoint(self, n: Network, cfg: dict[str, Any]) -> dict[str, Any]:
        ipam = cfg.get("IPAMConfig") or {}
        user_ip = ipam.get("IPv4Address") or ipam.get("IPv6Address")
        if n.name == "bridge" and (user_ip or cfg.get("Aliases")):
            if user_ip:
                raise InvalidArgument("user specified IP address is supported on user defined networks only")
            raise InvalidArgument(
                "network-scoped alias is supported only for containers in user defined networks"
            )
        want = ipam.get("IPv4Address") or ""
        if want:
            _check_requested(want, n.subnet, "IPv4")
        want6 = ipam.get("IPv6Address") or ""
        if want6:
            if not n.subnet6:
                raise InvalidArgument(
                    f"network {n.name} does not have IPv6 enabled: --ip6 {want6} cannot be used"
                )
            _check_requested(want6, n.subnet6, "IPv6")
        ipam_cfg = {k: v for k, v in (("IPv4Address", want), ("IPv6Address", want6)) if v}
        return {
            "IPAMConfig": ipam_cfg or None,
            "Links": cfg.get("Links"),
            "Aliases": list(cfg.get("Aliases") or []) or None,
            "MacAddress": cfg.get("MacAddress") or "",
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

    def prepare(self, c: Container) -> list[tuple[Network, dict[str, Any]]]:
        """Before the runtime creates the container: an address for each endpoint."""
        nets = c.networking.setdefault("Networks", {})
        done: list[tuple[Network, dict[str, Any]]] = []
        try:
            for name, ep in nets.items():
                n = self.resolve(ep.get("NetworkID") or name)
                want = (ep.get("IPAMConfig") or {}).get("IPv4Address") or ""
                self.store.release(c.id, n.id)
                ip = self.store.allocate(n, c.id, want)
                ip6 = ""
                if n.subnet6:
                    want6 = (ep.get("IPAMConfig") or {}).get("IPv6Address") or ""
                    ip6 = self.store.allocate(n, c.id, want6, v6=True)
                ep.update(
                    NetworkID=n.id, EndpointID=secrets.token_hex(32), Gateway=n.gateway, IPAddress=ip,
                    IPPrefixLen=n.prefixlen, GlobalIPv6Address=ip6,
                    GlobalIPv6PrefixLen=n.prefixlen6 if ip6 else 0, IPv6Gateway=n.gateway6 if ip6 else "",
                    DNSNames=[x for x in [c.name, c.id[:12], *(ep.get("Aliases") or [])] if x]
                    if n.name != "bridge" else None,
                )  # fmt: skip
                done.append((n, ep))
        except BaseException:
            self.store.release(c.id)
            raise
        return done

    async def attach(self, c: Container, pid: int) -> None:
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
                await self._plug(c, pid, netns, self.resolve(ep["NetworkID"]), ep, f"eth{i}", i == 0)
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

    def _primary(self, c: Container) -> str:
        return self.mode_network(c.host_config.get("NetworkMode") or "default") or ""

    async def _plug(self, c: Container, pid: int, netns: str, n: Network, ep: dict[str, Any], ifname: str,
                    primary: bool) -> None:  # fmt: skip
        host_if = "wv" + secrets.token_hex(6)
        peer = "wp" + secrets.token_hex(6)
        await self.host.veth_into(host_if, peer, pid, n.bridge, self.mtu)
        gateway = n.gateway if primary and not n.internal else None
        gateway6 = n.gateway6 if primary and not n.internal and ep.get("GlobalIPv6Address") else None
        mac = ep.get("MacAddress") or _mac_for(ep["IPAddress"])
        ep["MacAddress"] = await netlink.configure_container(
            netns, peer, ifname, ep["IPAddress"], n.prefixlen, gateway, mac,
            ep.get("GlobalIPv6Address") or "", n.prefixlen6, gateway6,
        )  # fmt: skip
        ep["_ifname"] = ifname
        ep["_host_if"] = host_if

    async def detach(self, c: Container) -> None:
        """The container's process is gone (or its start failed)."""
        try:
            self.fw.unpublish(self._port_rules(c))
        except WharfError as exc:
            log.warning("unpublishing ports of %s: %s", c.id[:12], exc)
        for s in self.reservations.pop(c.id, []):
            s.close()
        if self.dns is not None:
            self.dns.remove(c.id)
        self.store.release(c.id)
        for ep in (c.networking.get("Networks") or {}).values():
            if ep.get("_host_if"):  # the kernel would drop it with the namespace, but only later
                try:
                    await self.host.delete(ep.pop("_host_if"))
                except Exception as exc:
                    log.warning("removing the veth of %s: %s", c.id[:12], exc)
            ep.update(EndpointID="", Gateway="", IPAddress="", IPPrefixLen=0, GlobalIPv6Address="",
                      GlobalIPv6PrefixLen=0, IPv6Gateway="", MacAddress=ep.get("MacAddress")
                      if (ep.get("IPAMConfig") or {}).get("MacAddress") else "")  # fmt: skip
            ep.pop("_ifname", None)
        c.networking["Ports"] = {}

    async def connect(self, c: Container, ref: str, cfg: dict[str, Any]) -> None:
        mode = c.host_config.get("NetworkMode") or "default"
        if mode in ("host", "none") or mode.startswith("container:"):
            raise Forbidden("container sharing network namespace with another container or host cannot be "
                            "connected to any other network" if mode != "none" else
                            "container cannot be connected to multiple networks with one of the networks in "
                            "private (none) mode")  # fmt: skip
        n = self.resolve(ref)
        nets = c.networking.setdefault("Networks", {})
        if n.name in nets:
            raise Forbidden(f"endpoint with name {c.name} already exists in network {n.name}")
        ep = self._endpoint(n, cfg)
        if not c.state.running:
            nets[n.name] = ep
            return
        want = (ep.get("IPAMConfig") or {}).get("IPv4Address") or ""
        ip = self.store.allocate(n, c.id, want)
        names = [c.name, c.id[:12], *(ep.get("Aliases") or [])]
        ep.update(NetworkID=n.id, EndpointID=secrets.token_hex(32), Gateway=n.gateway, IPAddress=ip,
                  IPPrefixLen=n.prefixlen, DNSNames=names)  # fmt: skip
        used = {e.get("_ifname") for e in nets.values()}
        ifname = next(f"eth{i}" for i in range(64) if f"eth{i}" not in used)
        try:
            await self._plug(c, c.state.pid, f"/proc/{c.state.pid}/ns/net", n, ep, ifname, False)
        except BaseException:
            self.store.release(c.id, n.id)
            raise
        nets[n.name] = ep
        await self._start_dns(c)

    async def disconnect(self, c: Container, ref: str, force: bool = False) -> None:
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

    def publish_plan(self, c: Container) -> dict[str, list[dict[str, str]]]:
        """PortBindings (and -P's EXPOSE'd ports) with every host port chosen: Docker's
        NetworkSettings.Ports shape."""
        hc = c.host_config
        bindings: dict[str, list[dict[str, str]]] = {}
        for key, items in (hc.get("PortBindings") or {}).items():
            bindings[_port_key(key)] = [dict(b or {}) for b in (items or [{}])]
        if hc.get("PublishAllPorts"):
            for key in c.config.get("ExposedPorts") or {}:
                bindings.setdefault(_port_key(key), [{"HostIp": "", "HostPort": ""}])
        return bindings

    def _reserve(self, c: Container) -> None:
        """Hold every published host port with a socket of ours (taking a free one where none was
        asked), as docker-proxy holds them: a port in use elsewhere fails the start."""
        if not (c.networking.get("Networks") or {}):
            c.networking["Ports"] = {}
            return
        plan = self.publish_plan(c)
        held: list[socket.socket] = []
        ports: dict[str, list[dict[str, str]] | None] = {}
        try:
            for key, items in plan.items():
                port, proto = key.split("/")
                out = []
                for b in items:
                    host_ip = b.get("HostIp") or "0.0.0.0"
                    lo, _, hi = (b.get("HostPort") or "").partition("-")
                    candidates = list(range(int(lo), int(hi or lo) + 1)) if lo else [0]
                    s, chosen = _bind_one(host_ip, proto, candidates, self._held_ports())
                    held.append(s)
                    out.append({"HostIp": host_ip, "HostPort": str(chosen)})
                ports[key] = out
            for key in c.config.get("ExposedPorts") or {}:
                ports.setdefault(_port_key(key), None)
        except BaseException:
            for s in held:
                s.close()
            raise
        self.reservations[c.id] = held
        c.networking["Ports"] = ports

    def _held_ports(self) -> set[tuple[str, str, int]]:
        out = set()
        for socks in self.reservations.values():
            for s in socks:
                ip, port = s.getsockname()[:2]
                out.add((str(ip), "udp" if s.type == socket.SOCK_DGRAM else "tcp", int(port)))
        return out

    def _port_rules(self, c: Container) -> list[tuple[str, str, int, str, int]]:
        nets = c.networking.get("Networks") or {}
        primary = nets.get(self._primary(c)) or next(iter(nets.values()), None)
        if not primary or not primary.get("IPAddress"):
            return []
        rules = []
        for key, items in (c.networking.get("Ports") or {}).items():
            port, proto = key.split("/")
            for b in items or []:
                host_ip = b.get("HostIp") or ""
                rules.append((host_ip if host_ip != "0.0.0.0" else "", proto, int(b["HostPort"]),
                              primary["IPAddress"], int(port)))  # fmt: skip
        return rules

    # --- DNS

    async def _start_dns(self, c: Container) -> None:
        user_nets = [n for n in (c.networking.get("Networks") or {}) if n != "bridge"]
        if not user_nets or not c.state.pid and not c.networking.get("Networks"):
            return
        if self.dns is None:
            from wharf.network.dns import Resolver

            self.dns = Resolver(self)
        pid = c.state.pid
        if pid:
            await self.dns.listen(c.id, f"/proc/{pid}/ns/net")

    def uses_embedded_dns(self, c: Container) -> bool:
        return any(n != "bridge" for n in (c.networking.get("Networks") or {}))

    # --- views

    def inspect(self, n: Network, verbose: bool = False) -> dict[str, Any]:
        containers = {}
        for c in self.users(n):
            ep = (c.networking.get("Networks") or {}).get(n.name) or {}
            if not c.state.running or not ep.get("IPAddress"):
                continue
            containers[c.id] = {
                "Name": c.name,
                "EndpointID": ep.get("EndpointID", ""),
                "MacAddress": ep.get("MacAddress", ""),
                "IPv4Address": f"{ep['IPAddress']}/{ep.get('IPPrefixLen', n.prefixlen)}",
                "IPv6Address": f"{ep['GlobalIPv6Address']}/{n.prefixlen6}"
                if ep.get("GlobalIPv6Address")
                else "",
            }
        cfg: dict[str, str] = {"Subnet": n.subnet, "Gateway": n.gateway}
        if n.ip_range:
            cfg["IPRange"] = n.ip_range
        configs = [cfg] + ([{"Subnet": n.subnet6, "Gateway": n.gateway6}] if n.subnet6 else [])
        options = dict(n.options)
        if n.name == "bridge":
            options.update({"com.docker.network.bridge.enable_icc": "true",
                            "com.docker.network.bridge.enable_ip_masquerade": "true",
                            "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                            "com.docker.network.driver.mtu": str(self.mtu)})  # fmt: skip
        return {
            "Name": n.name, "Id": n.id, "Created": n.created, "Scope": "local", "Driver": n.driver,
            "EnableIPv6": bool(n.subnet6),
            "IPAM": {"Driver": "default", "Options": None if n.name == "bridge" else {}, "Config": configs},
            "Internal": n.internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": containers, "Options": options, "Labels": n.labels,
        }  # fmt: skip

    def predefined_view(self, name: str) -> dict[str, Any]:
        nid = _stable_id(name, self.store)
        containers = {}
        for c in self.containers():
            if c.state.running and (c.host_config.get("NetworkMode") or "") == name:
                containers[c.id] = {"Name": c.name, "EndpointID": "", "MacAddress": "", "IPv4Address": "",
                                    "IPv6Address": ""}  # fmt: skip
        driver = name if name != "none" else "null"
        return {
            "Name": name, "Id": nid, "Created": "0001-01-01T00:00:00Z", "Scope": "local", "Driver": driver,
            "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": None},
            "Internal": False, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": containers, "Options": {}, "Labels": {},
        }  # fmt: skip

    def all_views(self) -> list[dict[str, Any]]:
        return [self.inspect(n) for n in self.networks.values()] + [
            self.predefined_view(x) for x in ("host", "none")
        ]

    def view(self, ref: str) -> dict[str, Any]:
        for name in ("host", "none"):
            if (
                ref == name
                or ref == _stable_id(name, self.store)
                or (len(ref) >= 3 and _stable_id(name, self.store).startswith(ref))
            ):
                return self.predefined_view(name)
        return self.inspect(self.resolve(ref))

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

    async def our_links(self) -> list[str]:
        return [n.bridge for n in self.networks.values()]


def _stable_id(name: str, store: NetworkStore | None = None) -> str:
    """A fixed ID for the predefined host/none networks (Docker makes them once per daemon)."""
    import hashlib

    return hashlib.sha256(f"wharf-predefined-{name}".encode()).hexdigest()


def _is_v6(cidr: str) -> bool:
    return ":" in cidr


def _ula_for(nid: str, used: list[str]) -> str:
    """fdXX:XXXX:XXXX:YYYY::/64 from the network's ID (RFC 4193's random global ID, made stable)."""
    import hashlib

    for i in range(256):
        h = hashlib.sha256(f"{nid}:{i}".encode()).digest()
        cand = str(ipaddress.ip_network((b"\xfd" + h[:7] + bytes(8), 64)))
        if overlapping(cand, used) is None:
            return cand
    raise Forbidden("could not find an available, non-overlapping IPv6 address pool")


def _port_key(key: str) -> str:
    return key if "/" in key else f"{key}/tcp"


def _mac_for(ip: str) -> str:
    """Docker's MAC for an address: 02:42 then the four bytes of the IPv4 address."""
    b = ipaddress.ip_address(ip).packed
    return "02:42:" + ":".join(f"{x:02x}" for x in b)


def _bind_one(
    host_ip: str, proto: str, candidates: list[int], ours: set[tuple[str, str, int]]
) -> tuple[socket.socket, int]:
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
    shown = candidates[0] if len(candidates) == 1 else f"{candidates[0]}-{candidates[-1]}"
    family = "6" if fam == socket.AF_INET6 else "4"
    held_by_us = any((ip, proto, p) in ours for p in candidates for ip in (host_ip, "0.0.0.0"))
    if last is not None and not held_by_us and len(candidates) == 1:
        reason = "cannot assign requested address" if last.errno == 99 else "address already in use"
        raise FailedPrecondition(
            f"Error starting userland proxy: listen {proto}{family} {host_ip}:{shown}: bind: {reason}"
        )
    raise FailedPrecondition(f"Bind for {host_ip}:{shown} failed: port is already allocated")


__all__ = ["DNS_ADDRESS", "NetworkManager"]


def _check_requested(want: str, subnet: str, family: str) -> None:
    """An address asked for with --ip/--ip6: well-formed and inside the network's subnet."""
    try:
        addr = ipaddress.ip_address(want)
    except ValueError:
        raise InvalidArgument(f"invalid {family} address: {want}") from None
    if addr not in ipaddress.ip_network(subnet):
        raise InvalidArgument(f"Invalid address {want}: It does not belong to any of this network's subnets")
