"""wharf's firewall: one nftables table of its own (``inet <table>``, default ``wharf``: IPv4 and
IPv6 alike), changed only through ``nft -f -`` batches, each applied atomically by the kernel.

The table never depends on how many containers run: per-container state lives in sets and maps,
so publishing a port is adding a map element, not writing a rule::

    set bridges      { type ifname }                    every wharf bridge
    set same_bridge  { type ifname . ifname }           (br, br) for each bridge
    set no_icc       { type ifname . ifname }           (br, br) for each network without
                                                        inter-container communication (icc)
    set icc_links    { type ipv4_addr . ipv4_addr . inet_proto . inet_service }
                                                        what a legacy link still lets through
                                                        there: parent . child . the child's
                                                        exposed port
    set masq_nets    { type ipv4_addr; flags interval } subnets NATed to the outside
    set all_nets     { type ipv4_addr; flags interval } every wharf subnet
    set masq_nets6, all_nets6  (ipv6_addr)              the same for networks with IPv6
    map dnat_any     { type inet_proto . inet_service : ipv4_addr . inet_service }  -p PORT:...
    map dnat_addr    { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service }

    chain prerouting  (nat, dstnat)   local destination → dnat via the maps
    chain output      (nat, -100)     the host's own connections, 127.0.0.1 included
    chain postrouting (nat, srcnat)   masquerade: egress of masq_nets(6), DNATed hairpin and
                                      127.0.0.0/8 sources leaving through a bridge
                                      (ports are published on IPv4 only)
    chain forward     (filter)        DNATed traffic passes; bridge to *another* bridge drops
                                      (networks are isolated as Docker isolates them); on a
                                      no_icc bridge, container to container drops (the bridge
                                      hands its bridged frames to this hook: nf_call_iptables)
"""

from __future__ import annotations

import shutil
import subprocess

from wharf.errors import FailedPrecondition


class Firewall:
    def __init__(self, table: str = "wharf") -> None:
        self.table = table
        self.nft = shutil.which("nft") or "/usr/sbin/nft"

    def run(self, script: str) -> None:
        r = subprocess.run([self.nft, "-f", "-"], input=script, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise FailedPrecondition(f"nft: {r.stderr.strip()}")

    def exists(self) -> bool:
        r = subprocess.run([self.nft, "list", "table", "inet", self.table], capture_output=True, timeout=30)
        return r.returncode == 0

    def setup(self) -> None:
        """(Re)create the table from scratch: stale rules of a crashed daemon go with it."""
        t = self.table
        self.run(
            f"""
table ip {t} {{}}
delete table ip {t}
table inet {t} {{}}
delete table inet {t}
table inet {t} {{
    set bridges {{ type ifname; }}
    set same_bridge {{ type ifname . ifname; }}
    set no_icc {{ type ifname . ifname; }}
    set icc_links {{ type ipv4_addr . ipv4_addr . inet_proto . inet_service; }}
    set masq_nets {{ type ipv4_addr; flags interval; }}
    set all_nets {{ type ipv4_addr; flags interval; }}
    set masq_nets6 {{ type ipv6_addr; flags interval; }}
    set all_nets6 {{ type ipv6_addr; flags interval; }}
    map dnat_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
    map dnat_addr {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        fib daddr type local jump publish
    }}
    chain output {{
        type nat hook output priority -100; policy accept;
        fib daddr type local jump publish
    }}
    chain publish {{
        meta nfproto ipv4 dnat ip to ip daddr . meta l4proto . th dport map @dnat_addr
        meta nfproto ipv4 dnat ip to meta l4proto . th dport map @dnat_any
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ct status dnat oifname @bridges ip saddr 127.0.0.0/8 masquerade
        ct status dnat oifname @bridges ip saddr @all_nets masquerade
        ip saddr @masq_nets oifname != @bridges masquerade
        ip6 saddr @masq_nets6 oifname != @bridges masquerade
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        ct status dnat accept
        ct state established,related accept
        iifname @bridges oifname @bridges iifname . oifname != @same_bridge drop
        meta nfproto ipv4 ip saddr . ip daddr . meta l4proto . th dport @icc_links accept
        iifname . oifname @no_icc drop
    }}
}}
"""
        )

    def teardown(self) -> None:
        self.run(f"table inet {self.table} {{}}\ndelete table inet {self.table}\n")

    def add_network(
        self, bridge: str, subnet: str, masquerade: bool, subnet6: str = "", icc: bool = True
    ) -> None:
        t = self.table
        br = _ifname(bridge)
        script = f"add element inet {t} bridges {{ {br} }}\n"
        script += f"add element inet {t} same_bridge {{ {br} . {br} }}\n"
        if not icc:
            script += f"add element inet {t} no_icc {{ {br} . {br} }}\n"
        script += f"add element inet {t} all_nets {{ {subnet} }}\n"
        if masquerade:
            script += f"add element inet {t} masq_nets {{ {subnet} }}\n"
        if subnet6:
            script += f"add element inet {t} all_nets6 {{ {subnet6} }}\n"
            if masquerade:
                script += f"add element inet {t} masq_nets6 {{ {subnet6} }}\n"
        self.run(script)

    def remove_network(self, bridge: str, subnet: str, subnet6: str = "") -> None:
        t, br = self.table, _ifname(bridge)
        scripts = [
            f"delete element inet {t} bridges {{ {br} }}",
            f"delete element inet {t} same_bridge {{ {br} . {br} }}",
            f"delete element inet {t} no_icc {{ {br} . {br} }}",
            f"delete element inet {t} masq_nets {{ {subnet} }}",
            f"delete element inet {t} all_nets {{ {subnet} }}",
        ]
        if subnet6:
            scripts += [
                f"delete element inet {t} masq_nets6 {{ {subnet6} }}",
                f"delete element inet {t} all_nets6 {{ {subnet6} }}",
            ]
        for script in scripts:
            try:
                self.run(script + "\n")
            except FailedPrecondition:
                pass  # not there (a network without NAT, or already gone)

    def links(self, holes: list[tuple[str, str, str, int]], add: bool = True) -> None:
        """(parent IP, child IP, proto, port) let through a bridge without icc (or no more)."""
        items = [f"{a} . {b} . {proto} . {port}" for a, b, proto, port in holes]
        if not items:
            return
        if add:
            self.run(f"add element inet {self.table} icc_links {{ {', '.join(items)} }}\n")
            return
        for item in items:
            try:
                self.run(f"delete element inet {self.table} icc_links {{ {item} }}\n")
            except FailedPrecondition:
                pass

    @staticmethod
    def _elements(ports: list[tuple[str, str, int, str, int]]) -> tuple[list[str], list[str]]:
        any_, addr = [], []
        for host_ip, proto, host_port, ctr_ip, ctr_port in ports:
            if host_ip in ("", "0.0.0.0"):
                any_.append(f"{proto} . {host_port} : {ctr_ip} . {ctr_port}")
            else:
                addr.append(f"{host_ip} . {proto} . {host_port} : {ctr_ip} . {ctr_port}")
        return any_, addr

    def publish(self, ports: list[tuple[str, str, int, str, int]]) -> None:
        """Map (host_ip, proto, host_port) → (container_ip, container_port), all in one batch."""
        any_, addr = self._elements(ports)
        script = ""
        if any_:
            script += f"add element inet {self.table} dnat_any {{ {', '.join(any_)} }}\n"
        if addr:
            script += f"add element inet {self.table} dnat_addr {{ {', '.join(addr)} }}\n"
        if script:
            self.run(script)

    def unpublish(self, ports: list[tuple[str, str, int, str, int]]) -> None:
        any_, addr = self._elements(ports)
        for name, items in (("dnat_any", any_), ("dnat_addr", addr)):
            for item in items:
                key = item.split(" : ")[0]
                try:
                    self.run(f"delete element inet {self.table} {name} {{ {key} }}\n")
                except FailedPrecondition:
                    pass


def _ifname(name: str) -> str:
    """An interface name as an nft string: quoted, so that a name nft would read as a keyword
    (``ip``, ``accept``) or a number is still a name (names are checked where they are chosen)."""
    if '"' in name or "\\" in name or not name.isprintable():
        raise FailedPrecondition(f"nft: interface name {name!r} cannot be written")
    return f'"{name}"'
