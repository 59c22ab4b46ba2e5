"""Links, addresses and routes through netlink (pyroute2's AsyncIPRoute, on the daemon's loop).

A container's interfaces are configured from inside its network namespace with a netlink
socket *created* in that namespace: a short-lived thread enters it with setns(2) (a thread's
namespace is its own), opens the socket, and returns; the socket stays bound to the namespace
and is then used from the loop. No helper process, no `ip` command.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from wharf.errors import FailedPrecondition, WharfError
from wharf.network import nlbatch
from wharf.network.nlbatch import IFA_F_NODAD, Endpoint

CLONE_NEWNET = 0x40000000
T = TypeVar("T")
_libc = ctypes.CDLL(None, use_errno=True)


def _ipr(sock: socket.socket | None = None) -> Any:
    from pyroute2 import AsyncIPRoute

    return AsyncIPRoute(use_socket=sock) if sock is not None else AsyncIPRoute()


def in_netns(path: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` on a short-lived thread that has entered the network namespace at ``path``."""
    out: dict[str, Any] = {}

    def work() -> None:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            os.close(own)
            out["err"] = exc
            return
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                out["err"] = OSError(ctypes.get_errno(), f"setns {path}")
                return
            try:
                out["value"] = fn()
            except (OSError, WharfError) as exc:
                out["err"] = exc
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:  # a thread left in the wrong netns: never
                    os._exit(70)
        finally:
            os.close(fd)
            os.close(own)

    t = threading.Thread(target=work, name="netns")
    t.start()
    t.join()
    err = out.get("err")
    if isinstance(err, WharfError):  # already says what failed
        raise err
    if err is not None:
        raise FailedPrecondition(f"in network namespace {path}: {err}")
    value: T = out["value"]
    return value


def socketin_netns(path: str) -> socket.socket:
    """A NETLINK_ROUTE socket bound to the network namespace at ``path``."""
    return in_netns(path, lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0))


SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def _lo_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = bytearray(struct.pack("16sH14x", b"lo", 0))
        fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req)
        flags = struct.unpack_from("H", req, 16)[0]
        if not flags & IFF_UP:
            struct.pack_into("H", req, 16, flags | IFF_UP)
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, req)


def loopback_up(netns: str) -> None:
    """Bring lo up in a namespace that gets no other interface (--network none), as Docker does:
    two ioctls, cheaper than a netlink conversation."""
    in_netns(netns, _lo_up)


class Host:
    """Netlink on the host's namespace, one connection for the daemon's life."""

    def __init__(self) -> None:
        self.ipr: Any = None
        self.lock = asyncio.Lock()
        self.bridges: dict[str, int] = {}  # index by name, of the bridges made or found here

    async def _get(self) -> Any:
        if self.ipr is None:
            self.ipr = _ipr()
            await self.ipr.setup_endpoint()
        return self.ipr

    async def close(self) -> None:
        if self.ipr is not None:
            self.ipr.close()
            self.ipr = None

    async def index(self, name: str) -> int | None:
        ipr = await self._get()
        found = await ipr.link_lookup(ifname=name)
        return int(found[0]) if found else None

    async def links(self) -> list[str]:
        ipr = await self._get()
        return [str(link.get("ifname")) async for link in await ipr.get_links()]

    async def ensure_bridge(
        self, name: str, gateway: str, prefixlen: int, mtu: int, gateway6: str = "", prefixlen6: int = 0
    ) -> None:
        """Create the bridge (if missing) with the gateway address(es), up."""
        ipr = await self._get()
        async with self.lock:
            idx = await self.index(name)
            if idx is None:
                await ipr.link("add", ifname=name, kind="bridge")
                idx = await self.index(name)
                assert idx is not None
            addrs = [a.get("address") async for a in await ipr.get_addr(index=idx, family=socket.AF_INET)]
            if gateway not in addrs:
                await ipr.addr("add", index=idx, address=gateway, prefixlen=prefixlen)
            if gateway6:
                _sysctl(f"net/ipv6/conf/{name}/disable_ipv6", "0")
                addrs6 = [
                    a.get("address") async for a in await ipr.get_addr(index=idx, family=socket.AF_INET6)
                ]
                if gateway6 not in addrs6:
                    await ipr.addr(
                        "add", index=idx, address=gateway6, prefixlen=prefixlen6, flags=IFA_F_NODAD
                    )
            await ipr.link("set", index=idx, state="up", mtu=mtu)
            self.bridges[name] = idx
        _sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")

    async def delete(self, name: str) -> None:
        self.bridges.pop(name, None)
        ipr = await self._get()
        idx = await self.index(name)
        if idx is not None:
            try:
                await ipr.link("del", index=idx)
            except Exception as exc:  # gone already (a veth dies with its peer's namespace)
                if "No such device" not in str(exc):
                    raise

    async def veth_into(
        self, host_name: str, ifname: str, mac: str, pid: int, bridge: str, mtu: int
    ) -> None:
        """A veth pair in one request: ``host_name`` up on the bridge, its peer made right in the
        namespace of ``pid`` under its final name ``ifname`` with its MAC (the kernel creates a
        veth's peer in the peer's namespace: the name need only be free there)."""
        ipr = await self._get()
        peer: dict[str, Any] = {"ifname": ifname, "net_ns_pid": pid, "mtu": mtu}
        if mac:
            peer["address"] = mac

        def add(master: int) -> Any:
            return ipr.link(
                "add", ifname=host_name, kind="veth", mtu=mtu, master=master, state="up", peer=peer
            )

        try:
            if bridge not in self.bridges:
                raise LookupError(bridge)
            await add(self.bridges[bridge])
        except Exception:  # not known, or stale (EINVAL or ENODEV: deleted behind our back)
            self.bridges.pop(bridge, None)
            br = await self.index(bridge)
            if br is None:
                raise FailedPrecondition(f"bridge {bridge} is missing") from None
            await add(br)
            self.bridges[bridge] = br
        _sysctl_path(f"/sys/class/net/{host_name}/brport/hairpin_mode", "1")


async def configure_container(netns: str, ep: Endpoint) -> str:
    """Inside the namespace: lo up, then ``ep``'s address(es) (and --link-local-ip ones) on its
    interface, it up, the default route(s) via the gateway(s), in one netlink batch
    (network/nlbatch.py). Returns the interface's MAC."""

    def work() -> str:
        _lo_up()
        return nlbatch.configure(ep)

    return in_netns(netns, work)


async def remove_in_container(netns: str, ifname: str) -> None:
    ipr = _ipr(socketin_netns(netns))
    try:
        await ipr.setup_endpoint()
        found = await ipr.link_lookup(ifname=ifname)
        if found:
            await ipr.link("del", index=found[0])
    finally:
        ipr.close()


def _sysctl(key: str, value: str) -> None:
    _sysctl_path(f"/proc/sys/{key}", value)


def _sysctl_path(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        pass


def filter_bridged(bridge: str) -> None:
    """Frames bridged between the ports of ``bridge`` pass the IPv4/IPv6 forward hooks (where
    wharf's table drops them for a network without inter-container communication). This
    bridge's own switch, not the host-wide br_netfilter sysctl dockerd sets."""
    for family in ("iptables", "ip6tables"):
        _sysctl_path(f"/sys/class/net/{bridge}/bridge/nf_call_{family}", "1")


def enable_forwarding(v6: bool = False) -> None:
    _sysctl("net/ipv4/ip_forward", "1")
    if v6:  # as dockerd does for a network with IPv6
        _sysctl("net/ipv6/conf/all/forwarding", "1")
