"""A container's interface configured in one netlink batch, from inside its namespace.

After the veth's peer arrives in the container's namespace as ``ethN``, it needs its
address(es), to be up, and (on the first interface) the default route(s). Asked one request at a
time through pyroute2's asyncio client, that was a socket handed from a thread to the loop, a
lookup of the link and four round trips: ~7 ms of a ~80 ms `docker run --rm` on this VM
(docs/performance.md). Here the thread that entered the namespace does it all itself:

- lo up and the interface's index and MAC by ioctl (cheaper than netlink requests);
- the addresses, the link up and the routes as rtnetlink messages (encoded by pyroute2's
  message classes) sent in **one** ``sendmsg``: the kernel handles the messages of a datagram
  in order, each with its own acknowledgement, so the route is added after the link is up;
- the acknowledgements read back; the first error is raised with the request it answers.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from typing import Any

from wharf.errors import FailedPrecondition

SIOCGIFHWADDR = 0x8927
SIOCGIFINDEX = 0x8933
IFA_F_NODAD = 0x02
NLMSG_ERROR = 2
_NLMSGHDR = struct.Struct("=IHHII")


class Endpoint:
    """What one interface of a container gets (``gateway``s only on the first one)."""

    def __init__(
        self,
        ifname: str,
        address: str,
        prefixlen: int,
        gateway: str | None,
        address6: str = "",
        prefixlen6: int = 0,
        gateway6: str | None = None,
        link_local: tuple[str, ...] = (),
    ) -> None:
        self.ifname = ifname
        self.address = address
        self.prefixlen = prefixlen
        self.gateway = gateway
        self.address6 = address6
        self.prefixlen6 = prefixlen6
        self.gateway6 = gateway6
        self.link_local = link_local


def _ifreq(name: str, request: int) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            return fcntl.ioctl(s.fileno(), request, struct.pack("16s24x", name.encode()))
        except OSError as exc:
            raise FailedPrecondition(f"interface {name}: {exc.strerror}") from None


def index_and_mac(ifname: str) -> tuple[int, str]:
    """The interface's index and MAC address in the calling thread's network namespace."""
    idx = struct.unpack_from("i", _ifreq(ifname, SIOCGIFINDEX), 16)[0]
    hw = _ifreq(ifname, SIOCGIFHWADDR)[18:24]
    return int(idx), ":".join(f"{b:02x}" for b in hw)


def messages(idx: int, ep: Endpoint) -> list[tuple[str, bytes]]:
    """The batch for ``ep`` on interface ``idx``: (what it asks, the encoded message)."""
    from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST
    from pyroute2.netlink.rtnl import RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
    from pyroute2.netlink.rtnl.rtmsg import rtmsg

    create = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    out: list[tuple[str, Any, int]] = []

    def addr(address: str, prefixlen: int, flags: int = 0) -> None:
        m = ifaddrmsg()
        six = ":" in address
        m["family"] = socket.AF_INET6 if six else socket.AF_INET
        m["prefixlen"] = prefixlen
        m["index"] = idx
        m["flags"] = flags
        attrs: list[tuple[str, Any]] = [("IFA_LOCAL", address), ("IFA_ADDRESS", address)]
        if flags:
            attrs.append(("IFA_FLAGS", flags))
        if not six and prefixlen < 31:
            attrs.append(("IFA_BROADCAST", _broadcast(address, prefixlen)))
        m["attrs"] = attrs
        out.append((f"address {address}/{prefixlen}", m, RTM_NEWADDR))

    addr(ep.address, ep.prefixlen)
    if ep.address6:
        addr(ep.address6, ep.prefixlen6, IFA_F_NODAD)
    for extra in ep.link_local:
        six = ":" in extra
        addr(extra, 64 if six else 16, IFA_F_NODAD if six else 0)
    up = ifinfmsg()
    up["index"] = idx
    up["flags"] = IFF_UP
    up["change"] = IFF_UP
    out.append(("link up", up, RTM_NEWLINK))
    for gw, family in ((ep.gateway, socket.AF_INET), (ep.gateway6, socket.AF_INET6)):
        if gw:
            r = rtmsg()
            r["family"] = family
            r["table"] = 254  # main
            r["proto"] = 3  # boot, as `ip route add` and pyroute2 set it
            r["scope"] = 0  # universe
            r["type"] = 1  # unicast
            r["attrs"] = [("RTA_GATEWAY", gw), ("RTA_TABLE", 254)]
            out.append((f"default route via {gw}", r, RTM_NEWROUTE))
    encoded = []
    for seq, (what, msg, kind) in enumerate(out, 1):
        msg["header"]["type"] = kind
        msg["header"]["flags"] = create if kind != RTM_NEWLINK else NLM_F_REQUEST | NLM_F_ACK
        msg["header"]["sequence_number"] = seq
        msg.encode()
        encoded.append((what, bytes(msg.data)))
    return encoded


def _broadcast(address: str, prefixlen: int) -> str:
    ip = struct.unpack("!I", socket.inet_aton(address))[0]
    return socket.inet_ntoa(struct.pack("!I", ip | ((1 << (32 - prefixlen)) - 1)))


def send(batch: list[tuple[str, bytes]]) -> None:
    """Send ``batch`` in one datagram on a NETLINK_ROUTE socket of this thread's namespace and
    wait for every acknowledgement; the first error is raised."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, 0) as s:
        s.bind((0, 0))
        s.sendall(b"".join(data for _, data in batch))
        pending = {seq: what for seq, (what, _) in enumerate(batch, 1)}
        while pending:
            buf = s.recv(65536)
            off = 0
            while off + _NLMSGHDR.size <= len(buf):
                length, kind, _, seq, _ = _NLMSGHDR.unpack_from(buf, off)
                if kind == NLMSG_ERROR and seq in pending:
                    what = pending.pop(seq)
                    err = -struct.unpack_from("=i", buf, off + _NLMSGHDR.size)[0]
                    if err:
                        raise FailedPrecondition(f"{what}: {os.strerror(err)}")
                if length < _NLMSGHDR.size:
                    break
                off += (length + 3) & ~3


def configure(ep: Endpoint) -> str:
    """In the calling thread's namespace: ``ep`` configured; returns the interface's MAC."""
    try:
        idx, mac = index_and_mac(ep.ifname)
    except FailedPrecondition:
        raise FailedPrecondition(f"interface {ep.ifname} did not arrive") from None
    send(messages(idx, ep))
    return mac
