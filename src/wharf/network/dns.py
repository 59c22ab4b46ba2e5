"""The embedded DNS server of user-defined networks, at 127.0.0.11:53 inside each container.

For each such container the daemon opens a UDP and a TCP socket *inside the container's network
namespace* (through netlink.in_netns: a thread enters the namespace, makes the sockets,
comes back) and serves them on its own loop: no process, no iptables redirect. A query for the
name, an alias, or the short ID of a container that shares a user-defined network with the asker
is answered with those containers' addresses on the shared networks; anything else goes to the
host's resolvers (the daemon sits in the host's namespace, so a loopback resolver works too).
Wire format through dnspython.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from wharf.errors import FailedPrecondition
from wharf.network.netlink import in_netns

if TYPE_CHECKING:
    from wharf.network.manager import NetworkManager

log = logging.getLogger("wharf.dns")
ADDRESS = "127.0.0.11"
TTL = 600


def sockets_in_netns(path: str) -> tuple[socket.socket, socket.socket]:
    """A UDP and a listening TCP socket on 127.0.0.11:53 inside the network namespace at ``path``."""

    def make() -> tuple[socket.socket, socket.socket]:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            udp.bind((ADDRESS, 53))
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((ADDRESS, 53))
            tcp.listen(64)
        except OSError:
            udp.close()
            tcp.close()
            raise
        return udp, tcp

    try:
        return in_netns(path, make)
    except FailedPrecondition as exc:
        raise FailedPrecondition(f"embedded DNS: {exc}") from None


def host_resolvers(path: str = "/etc/resolv.conf") -> list[str]:
    try:
        with open(path) as f:
            servers = [ln.split()[1] for ln in f if ln.startswith("nameserver") and len(ln.split()) > 1]
    except OSError:
        servers = []
    return servers or ["8.8.8.8"]


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver, cid: str) -> None:
        self.resolver = resolver
        self.cid = cid
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # a _SelectorDatagramTransport: sendto, close

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        async def answer() -> None:
            reply = await self.resolver.answer(self.cid, data)
            if reply is not None and self.transport is not None:
                self.transport.sendto(reply, addr)

        asyncio.ensure_future(answer())


class Resolver:
    def __init__(self, manager: NetworkManager) -> None:
        self.manager = manager
        self.listeners: dict[str, list[Any]] = {}
        self.upstream = manager.upstream_dns or host_resolvers()

    async def listen(self, cid: str, netns: str) -> None:
        if cid in self.listeners:
            return
        udp, tcp = sockets_in_netns(netns)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _UDP(self, cid), sock=udp)

        async def on_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readexactly(2)
                    query = await reader.readexactly(int.from_bytes(head, "big"))
                    reply = await self.answer(cid, query, tcp=True)
                    if reply is None:
                        break
                    writer.write(len(reply).to_bytes(2, "big") + reply)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(on_tcp, sock=tcp)
        self.listeners[cid] = [transport, server]

    def remove(self, cid: str) -> None:
        for item in self.listeners.pop(cid, []):
            item.close()

    def close(self) -> None:
        for cid in list(self.listeners):
            self.remove(cid)

    def lookup(self, cid: str, name: str, v6: bool = False) -> list[str] | None:
        """Addresses (IPv4, or IPv6 if ``v6``) of the containers called ``name`` on the networks
        the asker is on; None if no such container (the question goes upstream)."""
        me = next((c for c in self.manager.containers() if c.id == cid), None)
        if me is None:
            return None
        mine = {n: ep for n, ep in (me.networking.get("Networks") or {}).items() if n != "bridge"}
        name = name.rstrip(".").lower()
        # the asker's endpoint links ("container:alias"): the alias names that container for it alone
        linked = {net: _linked(ep, name) for net, ep in mine.items()}
        known = False
        found: list[str] = []
        for c in self.manager.containers():
            if not c.state.running:
                continue
            for net, ep in (c.networking.get("Networks") or {}).items():
                if net not in mine or not ep.get("IPAddress"):
                    continue
                names = {c.name.lower(), c.id[:12]} | {a.lower() for a in ep.get("Aliases") or []}
                if name in names or name in {f"{x}.{net.lower()}" for x in names} or names & linked[net]:
                    known = True
                    addr = ep.get("GlobalIPv6Address") if v6 else ep["IPAddress"]
                    if addr and addr not in found:
                        found.append(addr)
        return found if known else None

    async def answer(self, cid: str, wire: bytes, tcp: bool = False) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:
            return None
        if not query.question:
            return None
        q = query.question[0]
        qname = q.name.to_text()
        if q.rdclass == dns.rdataclass.IN:
            addrs = self.lookup(cid, qname, v6=q.rdtype == dns.rdatatype.AAAA)
            if addrs is not None:  # one of ours: answered here, an empty answer for other types
                resp = dns.message.make_response(query)
                resp.flags |= dns.flags.AA | dns.flags.RA
                if addrs and q.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
                    kind = "AAAA" if q.rdtype == dns.rdatatype.AAAA else "A"
                    resp.answer.append(dns.rrset.from_text(q.name, TTL, "IN", kind, *addrs))
                return resp.to_wire()
        return await self.forward(query, wire, self.upstream_of(cid))

    def upstream_of(self, cid: str) -> list[str]:
        """The container's --dns servers (Docker forwards to them), else the daemon's upstream."""
        me = next((c for c in self.manager.containers() if c.id == cid), None)
        own = [str(x) for x in ((me.host_config.get("Dns") or []) if me is not None else [])]
        return own or self.upstream

    async def forward(self, query: dns.message.Message, wire: bytes, servers: list[str]) -> bytes:
        loop = asyncio.get_running_loop()
        for server in servers:
            fam = socket.AF_INET6 if ":" in server else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.setblocking(False)
            try:
                await loop.sock_connect(s, (server, 53))
                await loop.sock_sendall(s, wire)
                return await asyncio.wait_for(loop.sock_recv(s, 65535), 3)
            except (OSError, TimeoutError):
                continue
            finally:
                s.close()
        resp = dns.message.make_response(query)
        resp.set_rcode(dns.rcode.SERVFAIL)
        return resp.to_wire()


def _linked(ep: dict[str, Any], name: str) -> set[str]:
    """The containers an endpoint's links call ``name``."""
    out = set()
    for link in ep.get("Links") or []:
        target, _, alias = str(link).partition(":")
        if (alias or target).lower() == name:
            out.add(target.strip("/").lower())
    return out
