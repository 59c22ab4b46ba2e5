"""A container's /etc/hostname, /etc/hosts and /etc/resolv.conf, as Docker writes them: made at
create, rewritten before each start with the container's own addresses (and, on user-defined
networks, the embedded DNS server at 127.0.0.11). They live in the container's directory and
are bind-mounted over the image's files."""

from __future__ import annotations

import os
from typing import Protocol

from wharf.base.files import atomic_write
from wharf.engine.config import DaemonConfig
from wharf.engine.containers import Container
from wharf.engine.request import ContainerConfig, HostConfig


class _Network(Protocol):
    @property
    def gateway(self) -> str: ...


class Gateways(Protocol):
    """What is asked of the network manager: the default bridge network."""

    def default(self) -> _Network: ...


# the first lines of every container's /etc/hosts, as Docker writes them
HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
)


def write_at_create(d: str, cfg: DaemonConfig, cid: str, config: ContainerConfig, hc: HostConfig) -> None:
    """The files of a new container, in its directory ``d`` (made here, with rootfs/)."""
    os.makedirs(f"{d}/rootfs", 0o710, exist_ok=True)
    atomic_write(f"{d}/hostname", (config.get("Hostname") or cid[:12]) + "\n")
    atomic_write(f"{d}/hosts", HOSTS_HEADER + _extra_hosts(hc, None))
    atomic_write(f"{d}/resolv.conf", resolv_conf(dns_defaults(cfg, hc)))


def write_before_start(
    d: str,
    cfg: DaemonConfig,
    c: Container,
    net: Gateways,
    embedded_dns: bool,
    link_hosts: list[str] | None = None,
) -> None:
    """/etc/hosts with the container's own addresses (``host-gateway``: the default bridge's
    gateway; ``link_hosts``: legacy links' lines) and /etc/resolv.conf, rewritten before each start
    as Docker does."""
    hostname = c.config.get("Hostname") or c.id[:12]
    if (c.host_config.get("NetworkMode") or "bridge") == "host":
        hostname = os.uname().nodename
    hosts = HOSTS_HEADER + _extra_hosts(c.host_config, net)
    names = hostname + (f".{c.config['Domainname']} {hostname}" if c.config.get("Domainname") else "")
    for ep in (c.networking.get("Networks") or {}).values():
        if ep.get("IPAddress"):
            hosts += f"{ep['IPAddress']}\t{names}\n"
        if ep.get("GlobalIPv6Address"):
            hosts += f"{ep['GlobalIPv6Address']}\t{names}\n"
    hosts += "".join(line + "\n" for line in link_hosts or [])
    atomic_write(f"{d}/hosts", hosts)
    atomic_write(f"{d}/resolv.conf", resolv_conf(dns_defaults(cfg, c.host_config), embedded_dns))


def _extra_hosts(hc: HostConfig, net: Gateways | None) -> str:
    """--add-host lines; ``host-gateway`` is the default bridge's gateway once ``net`` is known."""
    out = ""
    for extra in hc.get("ExtraHosts") or []:
        host, _, ip = extra.partition(":")
        if ip == "host-gateway" and net is not None:
            ip = net.default().gateway
        out += f"{ip}\t{host}\n"
    return out


def dns_defaults(cfg: DaemonConfig, host_config: HostConfig) -> HostConfig:
    """--dns/--dns-search/--dns-option, else the daemon's dns/dns-search/dns-opts."""
    out = host_config.copy()
    if not out.get("Dns") and cfg.dns:
        out["Dns"] = list(cfg.dns)
    if not out.get("DnsSearch") and cfg.dns_search:
        out["DnsSearch"] = list(cfg.dns_search)
    if not out.get("DnsOptions") and cfg.dns_opts:
        out["DnsOptions"] = list(cfg.dns_opts)
    return out


def resolv_conf(host_config: HostConfig, embedded_dns: bool = False) -> str:
    """The host's resolv.conf minus loopback name servers (unreachable from a container's own
    network namespace), Docker's fallback servers if none is left, then --dns/--dns-search/--dns-option."""
    try:
        with open("/etc/resolv.conf") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    servers = list(host_config.get("Dns") or [])
    search = list(host_config.get("DnsSearch") or [])
    options = list(host_config.get("DnsOptions") or [])
    out = _host_lines(
        lines, bool(servers), bool(search), bool(options), host_config.get("NetworkMode") == "host"
    )
    if embedded_dns:  # the daemon answers (and forwards) at 127.0.0.11, as on Docker's user networks
        out = [line for line in out if line.split()[0] != "nameserver"] + ["nameserver 127.0.0.11"]
        if not options:
            options = ["ndots:0"]
        out = [line for line in out if not line.startswith("options")]
        servers = []
    out += [f"nameserver {s}" for s in servers]
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    if not any(line.split()[0] == "nameserver" for line in out if line.split()):
        out += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(out) + "\n"


def _host_lines(lines: list[str], servers: bool, search: bool, options: bool, host_mode: bool) -> list[str]:
    """The host's lines that stay: its name servers unless --dns replaces them (loopback ones
    only with the host's network), search and options unless replaced."""
    out: list[str] = []
    for line in lines:
        words = line.split()
        if not words:
            continue
        if words[0] == "nameserver":
            server = words[1] if len(words) > 1 else ""
            if servers or not server or (not host_mode and (server.startswith("127.") or server == "::1")):
                continue
        elif (words[0] == "search" and search) or (words[0] == "options" and options):
            continue
        out.append(line)
    return out
