"""Networking with real traffic, on this machine only: containers on a user network reach each
other by name, published ports answer on 127.0.0.1 and on the gateway (an address of the host on
wharf's own bridge), networks are isolated, --network none has only lo, connect/disconnect
work on running containers, nothing of wharf's is left after rm / network rm / a restart or a
crash, and bad input gets Docker's errors with nothing half-made.

Every address used here is 127.0.0.1 or one on a bridge the test daemon created."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from tests.daemon import Daemon

from .conftest import CLI, seeded_daemon

SERVE = "mkdir -p /www && echo hello-$(hostname) > /www/index.html && exec httpd -f -p 80 -h /www"
# busybox wget has no retry: a small loop while the server comes up (no -T: it crashes busybox-static)
FETCH = "for i in 1 2 3 4 5 6 7 8 9 10; do timeout 5 wget -qO- http://{}/ && exit 0; sleep 0.2; done; exit 1"


def http_get(host: str, port: int, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            shown = f"[{host}]" if ":" in host else host
            with urllib.request.urlopen(f"http://{shown}:{port}/", timeout=2) as resp:
                return str(resp.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def host_links() -> dict[str, str]:
    """name -> master (or "") of every link in the host's namespace."""
    out = subprocess.run(["ip", "-j", "link"], capture_output=True, text=True, check=True).stdout
    return {x["ifname"]: x.get("master", "") for x in json.loads(out)}


def veths_gone(veths: Callable[[], set[str]], within: float = 3) -> set[str]:
    """The veths still there once they have had ``within`` seconds to go: after an exit the
    kernel deletes a container's veth with its namespace, a few ms later (network/leaving.py)."""
    end = time.monotonic() + within
    while (left := veths()) and time.monotonic() < end:
        time.sleep(0.02)
    return left


def bridges_of(d: Daemon) -> set[str]:
    conn = sqlite3.connect(f"{d.data_root}/network/networks.db")
    try:
        return {b for (b,) in conn.execute("SELECT bridge FROM networks")}
    finally:
        conn.close()


def nft_elements(d: Daemon) -> list[str]:
    """Published-port map elements in the daemon's nftables table."""
    out = []
    for name in ("dnat_any", "dnat_addr"):
        r = subprocess.run(
            ["nft", "-j", "list", "map", "inet", d.table, name], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        for item in json.loads(r.stdout)["nftables"]:
            out += [json.dumps(e) for e in (item.get("map") or {}).get("elem") or []]
    return out


def nft_has(d: Daemon, setname: str, value: str) -> bool:
    r = subprocess.run(["nft", "list", "set", "inet", d.table, setname], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return value in r.stdout


def ip_on(cli: CLI, container: str, network: str) -> str:
    nets = json.loads(cli("inspect", "-f", "{{json .NetworkSettings.Networks}}", container).stdout)
    return str(nets[network]["IPAddress"])


@pytest.fixture
def names(cli: CLI) -> Iterator[list[str]]:
    """Containers and networks the test makes, removed at the end even on failure."""
    made: list[str] = []
    yield made
    for name in reversed(made):
        if name.startswith("net:"):
            cli("network", "rm", name[4:], check=False)
        else:
            cli("rm", "-f", name, check=False)


def test_containers_reach_each_other_by_name_alias_and_short_id(cli: CLI, names: list[str]) -> None:
    net, srv = f"web-{cli.name}", f"srv-{cli.name}"
    names += [f"net:{net}", srv]
    cli("network", "create", net)
    cli("run", "-d", "--name", srv, "--network", net, "--network-alias", "www", "busybox", "sh", "-c", SERVE)
    short = cli("inspect", "-f", "{{.Id}}", srv).stdout.strip()[:12]
    for target in (srv, "www", short):
        r = cli("run", "--rm", "--network", net, "busybox", "sh", "-c", FETCH.format(target), check=False)
        assert r.returncode == 0 and r.stdout.strip() == f"hello-{short}", (target, r.stderr)
    # resolv.conf points at the embedded server; /etc/hosts carries the container's own address
    r = cli("run", "--rm", "--network", net, "busybox", "cat", "/etc/resolv.conf", "/etc/hosts")
    assert "nameserver 127.0.0.11" in r.stdout
    ip = ip_on(cli, srv, net)
    r = cli("exec", srv, "cat", "/etc/hosts")
    assert f"{ip}\t{short}" in r.stdout
    # names that are not containers are not answered by the embedded server as containers
    r = cli("run", "--rm", "--network", net, "busybox", "nslookup", "nosuch-container-x", check=False)
    assert r.returncode != 0


def test_published_port_answers_on_loopback_gateway_and_hairpin(cli: CLI, names: list[str]) -> None:
    srv, client = f"pub-{cli.name}", f"pubc-{cli.name}"
    names += [srv, client]
    port = free_port()
    cli("run", "-d", "--name", srv, "-p", f"{port}:80", "-p", "127.0.0.1::80", "busybox", "sh", "-c", SERVE)
    short = cli("inspect", "-f", "{{.Id}}", srv).stdout.strip()[:12]
    assert http_get("127.0.0.1", port) == f"hello-{short}\n"
    # the random host port of the second binding, as `port` reports it
    lines = cli("port", srv, "80/tcp").stdout.split()
    assert f"0.0.0.0:{port}" in lines
    rand = [x for x in lines if x.startswith("127.0.0.1:")]
    assert len(rand) == 1
    assert http_get("127.0.0.1", int(rand[0].split(":")[1])) == f"hello-{short}\n"
    # the host's own address on wharf's bridge
    gateway = cli("inspect", "-f", "{{.NetworkSettings.Gateway}}", srv).stdout.strip()
    assert http_get(gateway, port) == f"hello-{short}\n"
    # another container (and the server itself) through the published port: hairpin NAT
    cli("run", "-d", "--name", client, "busybox", "sleep", "60")
    for who in (client, srv):
        r = cli("exec", who, "sh", "-c", FETCH.format(f"{gateway}:{port}"), check=False)
        assert r.returncode == 0 and r.stdout.strip() == f"hello-{short}", (who, r.stderr)
    # ps shows the mapping as docker does
    ps = cli("ps", "--filter", f"name={srv}", "--format", "{{.Ports}}").stdout
    assert f"0.0.0.0:{port}->80/tcp" in ps
    # the port is released with the container: a listener of the host can take it afterwards
    cli("rm", "-f", srv)
    with socket.socket() as s:
        s.bind(("0.0.0.0", port))


def test_publish_all_takes_random_ports_for_exposed(cli: CLI, names: list[str]) -> None:
    srv = f"pall-{cli.name}"
    names.append(srv)
    cli("run", "-d", "--name", srv, "--expose", "80", "-P", "busybox", "sh", "-c", SERVE)
    ports = json.loads(cli("inspect", "-f", "{{json .NetworkSettings.Ports}}", srv).stdout)
    binding = ports["80/tcp"][0]
    assert binding["HostIp"] == "0.0.0.0" and int(binding["HostPort"]) > 0
    assert http_get("127.0.0.1", int(binding["HostPort"])).startswith("hello-")


def test_udp_port_is_mapped_and_held(cli: CLI, names: list[str]) -> None:
    # busybox has no UDP server to answer through the mapping: the test checks what the user
    # sees (port, inspect) and that the host port is held against other listeners
    srv = f"udp-{cli.name}"
    names.append(srv)
    port = free_port()
    cli("run", "-d", "--name", srv, "-p", f"127.0.0.1:{port}:5000/udp", "busybox", "sleep", "60")
    assert cli("port", srv).stdout.strip() == f"5000/udp -> 127.0.0.1:{port}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(OSError):
        s.bind(("127.0.0.1", port))
    cli("rm", "-f", srv)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))


def test_networks_are_isolated(cli: CLI, names: list[str]) -> None:
    a, b, srv = f"isoa-{cli.name}", f"isob-{cli.name}", f"iso-{cli.name}"
    names += [f"net:{a}", f"net:{b}", srv]
    cli("network", "create", a)
    cli("network", "create", b)
    cli("run", "-d", "--name", srv, "--network", a, "busybox", "sh", "-c", SERVE)
    ip = ip_on(cli, srv, a)
    assert cli("run", "--rm", "--network", a, "busybox", "sh", "-c", FETCH.format(ip)).stdout.startswith(
        "hello"
    )
    for net in (b, "bridge"):
        r = cli("run", "--rm", "--network", net, "busybox", "nc", "-w", "2", ip, "80", check=False, input="")
        assert r.returncode != 0, f"{net} reached {a}"
    # by name: another network's containers are not in its DNS
    r = cli("run", "--rm", "--network", b, "busybox", "nslookup", srv, check=False)
    assert r.returncode != 0


def test_network_none_has_only_loopback(cli: CLI) -> None:
    r = cli("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
    links = [line.split(":")[1].strip() for line in r.stdout.splitlines()]
    assert links == ["lo"]
    assert "UP" in r.stdout.split("<")[1].split(">")[0]
    r = cli("run", "--rm", "--network", "none", "busybox", "ip", "-o", "-4", "addr")
    assert "127.0.0.1/8" in r.stdout


def test_host_and_container_network_modes(cli: CLI, names: list[str]) -> None:
    r = cli("run", "--rm", "--network", "host", "busybox", "cat", "/proc/net/dev")
    assert f"{cli.d.bridge}:" in r.stdout  # the host's interfaces
    owner, sharer = f"owner-{cli.name}", f"sharer-{cli.name}"
    names += [sharer, owner]
    before = {x for x in wharf_links(cli.d) if x.startswith("wv")}
    cli("run", "-d", "--name", owner, "busybox", "sleep", "60")
    (veth,) = {x for x in wharf_links(cli.d) if x.startswith("wv")} - before
    ip = cli("inspect", "-f", "{{.NetworkSettings.IPAddress}}", owner).stdout.strip()
    r = cli("run", "--rm", "--network", f"container:{owner}", "busybox", "ip", "-o", "-4", "addr")
    assert f"inet {ip}/" in r.stdout
    # the owner's exit leaves its namespace to the sharer, so the kernel keeps the veth: the
    # daemon deletes it itself (network/leaving.py)
    cli("run", "-d", "--name", sharer, "--network", f"container:{owner}", "busybox", "sleep", "60")
    cli("kill", owner)
    assert veths_gone(lambda: {veth} & host_links().keys()) == set()
    assert cli("inspect", "-f", "{{.State.Running}}", sharer).stdout.strip() == "true"


def test_connect_and_disconnect_a_running_container(cli: CLI, names: list[str]) -> None:
    n1, n2, srv, c = f"cn1-{cli.name}", f"cn2-{cli.name}", f"cns-{cli.name}", f"cnc-{cli.name}"
    names += [f"net:{n1}", f"net:{n2}", srv, c]
    cli("network", "create", n1)
    cli("network", "create", n2)
    cli("run", "-d", "--name", srv, "--network", n1, "busybox", "sh", "-c", SERVE)
    cli("run", "-d", "--name", c, "--network", n2, "busybox", "sleep", "120")
    assert cli("exec", c, "sh", "-c", "timeout 3 wget -qO- http://" + srv, check=False).returncode != 0

    cli("network", "connect", "--alias", "late", n1, c)
    addrs = cli("exec", c, "ip", "-o", "-4", "addr").stdout
    assert "eth1" in addrs
    r = cli("exec", c, "sh", "-c", FETCH.format(srv), check=False)
    assert r.returncode == 0 and r.stdout.startswith("hello"), r.stderr
    r = cli("exec", srv, "nslookup", "late")  # its alias answers on n1
    ip1 = ip_on(cli, c, n1)
    assert ip1 in r.stdout
    containers = json.loads(cli("network", "inspect", "-f", "{{json .Containers}}", n1).stdout)
    assert sorted(v["Name"] for v in containers.values()) == sorted([srv, c])

    cli("network", "disconnect", n1, c)
    assert "eth1" not in cli("exec", c, "ip", "-o", "-4", "addr").stdout
    srv_ip = ip_on(cli, srv, n1)
    r = cli("exec", c, "nc", "-w", "2", srv_ip, "80", check=False, input="")
    assert r.returncode != 0
    nets = json.loads(cli("inspect", "-f", "{{json .NetworkSettings.Networks}}", c).stdout)
    assert list(nets) == [n2]
    r = cli("network", "disconnect", n1, c, check=False)
    assert r.returncode == 1 and "is not connected to network" in r.stderr


def test_network_ls_inspect_prune(cli: CLI, names: list[str]) -> None:
    keep, gone = f"lsk-{cli.name}", f"lsg-{cli.name}"
    names += [f"net:{keep}", f"net:{gone}", f"lsc-{cli.name}"]
    nid = cli("network", "create", "--label", "team=a", "--subnet", "10.254.77.0/24", "--gateway",
              "10.254.77.254", "--ip-range", "10.254.77.128/25", keep).stdout.strip()  # fmt: skip
    cli("network", "create", gone)
    cli("create", "--name", f"lsc-{cli.name}", "--network", keep, "busybox", "true")
    ls = cli("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}").stdout.splitlines()
    assert {"bridge bridge local", "host host local", "none null local", f"{keep} bridge local"} <= set(ls)
    assert cli("network", "ls", "-q", "--filter", "label=team=a").stdout.split() == [nid[:12]]
    info = json.loads(cli("network", "inspect", keep).stdout)[0]
    assert info["Id"] == nid and info["Labels"] == {"team": "a"}
    assert info["IPAM"]["Config"] == [
        {"Subnet": "10.254.77.0/24", "Gateway": "10.254.77.254", "IPRange": "10.254.77.128/25"}
    ]
    cli("start", f"lsc-{cli.name}")  # a short-lived container: gets an address from the range
    r = cli("network", "prune", "-f")
    assert gone in r.stdout.split() and keep not in r.stdout.split()
    assert cli("network", "ls", "-q", "--filter", f"name={gone}").stdout == ""
    r = cli("network", "inspect", gone, check=False)
    assert r.returncode == 1 and f"network {gone} not found" in r.stderr


def test_ip_and_dns_options(cli: CLI, names: list[str]) -> None:
    net, c = f"ipn-{cli.name}", f"ipc-{cli.name}"
    names += [f"net:{net}", c]
    cli("network", "create", "--subnet", "10.254.78.0/24", net)
    r = cli("run", "--rm", "--name", c, "--network", net, "--ip", "10.254.78.42", "--hostname", "box",
            "--mac-address", "02:42:de:ad:be:ef", "--add-host", "db:10.254.78.99", "--dns-search",
            "example.test", "busybox", "sh", "-c",
            "ip -o -4 addr; ip link show eth0; hostname; cat /etc/hosts /etc/resolv.conf")  # fmt: skip
    # the broadcast address set as dockerd's netlink library sets it
    assert "inet 10.254.78.42/24 brd 10.254.78.255 scope global eth0" in r.stdout
    assert "02:42:de:ad:be:ef" in r.stdout
    assert "\nbox\n" in r.stdout
    assert "10.254.78.99\tdb" in r.stdout and "10.254.78.42\tbox" in r.stdout
    assert "search example.test" in r.stdout
    r = cli("run", "--rm", "--network", "none", "--dns", "10.9.9.9", "busybox", "cat", "/etc/resolv.conf")
    assert "nameserver 10.9.9.9" in r.stdout


def test_bad_input_gets_dockers_errors_and_nothing_half_made(cli: CLI, names: list[str]) -> None:
    a, b, srv = f"bad-{cli.name}", f"badb-{cli.name}", f"badc-{cli.name}"
    names += [f"net:{a}", f"net:{b}", srv, f"bad-ip-{cli.name}", f"bad-port-{cli.name}"]
    cli("network", "create", "--subnet", "10.254.79.0/24", a)
    links_before = set(host_links())

    r = cli("network", "create", "--subnet", "10.254.79.128/25", b, check=False)
    assert r.returncode == 1
    assert "invalid pool request: Pool overlaps with other one on this address space" in r.stderr
    assert cli("network", "ls", "-q", "--filter", f"name={b}").stdout == ""
    r = cli("network", "create", a, check=False)
    assert r.returncode == 1 and f"network with name {a} already exists" in r.stderr

    r = cli("run", "--name", f"bad-ip-{cli.name}", "--network", a, "--ip", "192.0.2.5", "busybox", "true",
            check=False)  # fmt: skip
    assert r.returncode == 125
    assert "Invalid address 192.0.2.5: It does not belong to any of this network's subnets" in r.stderr
    assert cli("ps", "-aq", "--filter", f"name=bad-ip-{cli.name}").stdout == ""

    # a port held by another process of the host, then one held by one of our containers
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = cli("run", "--name", f"bad-port-{cli.name}", "-p", f"127.0.0.1:{port}:80", "busybox", "true",
                check=False)  # fmt: skip
        assert r.returncode == 125
        assert f"listen tcp4 127.0.0.1:{port}: bind: address already in use" in r.stderr
    state = cli("inspect", "-f", "{{.State.Status}}", f"bad-port-{cli.name}").stdout.strip()
    assert state in ("created", "exited")
    cli("rm", "-f", f"bad-port-{cli.name}")
    port = free_port()
    cli("run", "-d", "--name", srv, "--network", a, "-p", f"{port}:80", "busybox", "sleep", "60")
    r = cli("run", "--rm", "-p", f"{port}:80", "busybox", "true", check=False)
    assert r.returncode == 125 and f"Bind for 0.0.0.0:{port} failed: port is already allocated" in r.stderr

    r = cli("network", "rm", a, check=False)
    assert r.returncode == 1 and "has active endpoints" in r.stderr
    assert cli("network", "ls", "-q", "--filter", f"name={a}").stdout.strip() != ""
    r = cli("network", "rm", "bridge", check=False)
    assert r.returncode == 1 and "bridge is a pre-defined network and cannot be removed" in r.stderr
    r = cli("run", "--rm", "--network", "nosuchnet", "busybox", "true", check=False)
    assert r.returncode == 125 and "network nosuchnet not found" in r.stderr
    cli("rm", "-f", srv)
    # the failed runs left no interface behind on this daemon's bridges (other daemons of the
    # machine make and remove veths of their own meanwhile)
    ours = bridges_of(cli.d)
    assert (
        veths_gone(
            lambda: {x for x, m in host_links().items() if m in ours and x.startswith("wv")} - links_before
        )
        == set()
    )


# ------------------------------------------------------------ cleanup, restart, crash


@pytest.fixture
def own_daemon(rootfs_template: str) -> Iterator[Daemon]:
    with seeded_daemon(rootfs_template) as d:
        yield d


def wharf_links(d: Daemon) -> set[str]:
    """Links that are the daemon's: its bridges and every veth plugged into them."""
    bridges = bridges_of(d)
    return {n for n, master in host_links().items() if n in bridges or master in bridges}


def test_nothing_left_after_rm_network_rm_and_restart(own_daemon: Daemon) -> None:
    d = own_daemon
    cli = CLI(d, "docker")
    cli("network", "create", "leftnet")
    bridge = next(b for b in bridges_of(d) if b.startswith("br-"))
    port = free_port()
    cli(
        "run", "-d", "--name", "l1", "--network", "leftnet", "-p", f"{port}:80", "busybox", "sh", "-c", SERVE
    )
    cli("run", "-d", "--name", "l2", "busybox", "sleep", "60")
    assert http_get("127.0.0.1", port).startswith("hello")
    assert len([x for x in wharf_links(d) if x.startswith("wv")]) == 2
    assert nft_elements(d) and nft_has(d, "bridges", bridge)

    cli("rm", "-f", "l1", "l2")
    assert veths_gone(lambda: {x for x in wharf_links(d) if x.startswith("wv")}) == set()
    assert nft_elements(d) == []
    cli("network", "rm", "leftnet")
    assert bridge not in host_links() and not nft_has(d, "bridges", bridge)

    d.stop()
    d.start()
    assert wharf_links(d) == {d.bridge}  # the default bridge stays, as docker0 does
    assert nft_elements(d) == [] and not nft_has(d, "bridges", bridge)
    with socket.socket() as s:  # the published port is the host's again
        s.bind(("0.0.0.0", port))


def test_crashed_daemon_is_reconciled_on_start(own_daemon: Daemon) -> None:
    d = own_daemon
    cli = CLI(d, "docker")
    cli("network", "create", "--subnet", "10.254.80.0/24", "crashnet")
    port = free_port()
    cli("run", "-d", "--name", "keep", "--network", "crashnet", "-p", f"{port}:80", "busybox", "sh", "-c",
        SERVE)  # fmt: skip
    port2 = free_port()
    cli("run", "-d", "--name", "dies", "--network", "crashnet", "--ip", "10.254.80.50", "-p", f"{port2}:80",
        "busybox", "sh", "-c", SERVE)  # fmt: skip
    dies_pid = int(cli("inspect", "-f", "{{.State.Pid}}", "dies").stdout)
    assert http_get("127.0.0.1", port2).startswith("hello")

    d.stop(signal.SIGKILL)  # no chance to clean anything
    os.kill(dies_pid, signal.SIGKILL)  # and a container ends while no daemon watches
    time.sleep(0.5)
    d.start()

    # the survivor still answers on its port, with its DNS; the dead one's port and address are free
    assert http_get("127.0.0.1", port).startswith("hello")
    r = cli("run", "--rm", "--network", "crashnet", "busybox", "sh", "-c", FETCH.format("keep"), check=False)
    assert r.returncode == 0 and r.stdout.startswith("hello"), r.stderr
    assert cli("inspect", "-f", "{{.State.Status}}", "dies").stdout.strip() == "exited"
    elements = " ".join(nft_elements(d))
    assert str(port) in elements and str(port2) not in elements
    cli("run", "-d", "--name", "reuse", "--network", "crashnet", "--ip", "10.254.80.50", "-p", f"{port2}:80",
        "busybox", "sh", "-c", SERVE)  # fmt: skip
    assert http_get("127.0.0.1", port2).startswith("hello")
    cli("rm", "-f", "keep", "dies", "reuse")
    assert veths_gone(lambda: {x for x in wharf_links(d) if x.startswith("wv")}) == set()
    cli("network", "rm", "crashnet")


def test_ipv6_network(cli: CLI, names: list[str]) -> None:
    net, srv = f"v6-{cli.name}", f"v6s-{cli.name}"
    names += [f"net:{net}", srv]
    cli("network", "create", "--ipv6", "--subnet", "10.254.81.0/24", "--subnet", "fd00:77:1::/64", net)
    info = json.loads(cli("network", "inspect", net).stdout)[0]
    assert info["EnableIPv6"] is True
    assert {"Subnet": "fd00:77:1::/64", "Gateway": "fd00:77:1::1"} in info["IPAM"]["Config"]
    cli("run", "-d", "--name", srv, "--network", net, "--ip6", "fd00:77:1::80", "busybox", "sh", "-c", SERVE)
    ep = json.loads(cli("inspect", "-f", "{{json .NetworkSettings.Networks}}", srv).stdout)[net]
    assert ep["GlobalIPv6Address"] == "fd00:77:1::80" and ep["GlobalIPv6PrefixLen"] == 64
    assert ep["IPv6Gateway"] == "fd00:77:1::1"
    r = cli(
        "run", "--rm", "--network", net, "busybox", "sh", "-c", FETCH.format("[fd00:77:1::80]"), check=False
    )
    assert r.returncode == 0 and r.stdout.startswith("hello"), r.stderr
    r = cli("run", "--rm", "--network", net, "busybox", "nslookup", "-type=AAAA", srv)
    assert "fd00:77:1::80" in r.stdout
    assert "fd00:77:1::80\t" in cli("exec", srv, "cat", "/etc/hosts").stdout
    assert http_get("fd00:77:1::80", 80).startswith("hello")  # the host reaches it over its bridge
    # a network without IPv6 gets a ULA subnet when enabled without one
    auto = f"v6a-{cli.name}"
    names.append(f"net:{auto}")
    cli("network", "create", "--ipv6", auto)
    subnets = [c["Subnet"] for c in json.loads(cli("network", "inspect", auto).stdout)[0]["IPAM"]["Config"]]
    assert any(s.startswith("fd") and s.endswith("/64") for s in subnets)
    r = cli("run", "--rm", "--network", net, "--ip6", "fd00:99::5", "busybox", "true", check=False)
    assert r.returncode == 125 and "It does not belong to any of this network's subnets" in r.stderr
    r = cli("run", "--rm", "--ip6", "fd00:77:1::81", "busybox", "true", check=False)
    assert r.returncode == 125 and "supported on user defined networks only" in r.stderr


def test_a_bridge_deleted_behind_the_daemons_back_is_an_error_not_a_stale_index(own_daemon: Daemon) -> None:
    d = own_daemon
    cli = CLI(d, "docker")
    cli("run", "--rm", "busybox", "true")  # the bridge's index is known now
    subprocess.run(["ip", "link", "del", d.bridge], check=True)
    r = cli("run", "--rm", "busybox", "true", check=False)
    assert r.returncode != 0 and f"bridge {d.bridge} is missing" in r.stderr, r.stderr
