"""NetworkManager without the kernel: create/remove (every bad body a wharf error, nothing half
made), endpoints at create, prepare/detach against a real networks.db, and the views. The host
(netlink) and the firewall (nft) are recorders."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wharf.errors import Conflict, Forbidden, InvalidArgument, NotFound, WharfError
from wharf.network import views
from wharf.network.manager import DNS_ADDRESS, NetworkManager
from wharf.network.types import Attachable


class FakeHost:
    def __init__(self) -> None:
        self.bridges: dict[str, tuple[Any, ...]] = {}
        self.fail = False

    async def ensure_bridge(self, name: str, *args: Any) -> None:
        if self.fail:
            raise OSError("no bridge for you")
        self.bridges[name] = args

    async def delete(self, name: str) -> None:
        self.bridges.pop(name, None)

    async def close(self) -> None:
        pass


class FakeFirewall:
    def __init__(self) -> None:
        self.networks: dict[str, tuple[str, bool, str]] = {}
        self.icc: dict[str, bool] = {}
        self.published: list[tuple[str, str, int, str, int]] = []

    def setup(self) -> None:
        pass

    def add_network(
        self, bridge: str, subnet: str, masquerade: bool, subnet6: str = "", icc: bool = True
    ) -> None:
        self.networks[bridge] = (subnet, masquerade, subnet6)
        self.icc[bridge] = icc

    def links(self, holes: list[tuple[str, str, str, int]], add: bool = True) -> None:
        pass

    def remove_network(self, bridge: str, subnet: str, subnet6: str = "") -> None:
        self.networks.pop(bridge, None)

    def publish(self, rules: list[tuple[str, str, int, str, int]]) -> None:
        self.published += rules

    def unpublish(self, rules: list[tuple[str, str, int, str, int]]) -> None:
        for r in rules:
            self.published.remove(r)


@dataclass
class FakeState:
    pid: int = 0
    running: bool = False


@dataclass
class FakeContainer:
    id: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    host_config: dict[str, Any] = field(default_factory=dict)
    networking: dict[str, Any] = field(default_factory=dict)
    state: FakeState = field(default_factory=FakeState)


class Harness(NetworkManager):
    """The manager with recorders for host and firewall, and a container list of the test's."""

    def __init__(self, root: str) -> None:
        super().__init__(root, pools=[{"base": "10.123.0.0/16", "size": 24}])
        self.fake_host, self.fake_fw = FakeHost(), FakeFirewall()
        self.host = self.fake_host  # type: ignore[assignment]
        self.fw = self.fake_fw  # type: ignore[assignment]
        self.listed: list[Attachable] = []
        self.containers = lambda: self.listed


@pytest.fixture
def mgr(tmp_path: Path) -> Iterator[Harness]:
    m = Harness(str(tmp_path))
    asyncio.run(m._ensure_default())
    yield m
    m.store.close()


def create(m: NetworkManager, body: dict[str, Any]) -> str:
    nid, warning = asyncio.run(m.create(body))
    assert warning == ""
    return nid


def test_dns_address_stays_importable() -> None:
    assert DNS_ADDRESS == "127.0.0.11"


def test_the_default_bridge_takes_the_first_pool_subnet(mgr: Harness) -> None:
    n = mgr.default()
    assert (n.subnet, n.gateway, n.bridge) == ("10.123.0.0/24", "10.123.0.1", "wharf0")


def test_create_from_the_pool_and_from_a_requested_subnet(mgr: Harness) -> None:
    n = mgr.networks[create(mgr, {"Name": "a", "Labels": {"k": "v"}, "Options": {"o": 1}})]
    assert (n.subnet, n.gateway, n.ip_range, n.subnet6) == ("10.123.1.0/24", "10.123.1.1", "", "")
    assert n.bridge == f"br-{n.id[:12]}" and n.labels == {"k": "v"} and n.options == {"o": "1"}
    assert mgr.fake_fw.networks[n.bridge] == ("10.123.1.0/24", True, "")
    body = {
        "Name": "b",
        "Internal": True,
        "IPAM": {
            "Config": [{"Subnet": "10.77.0.0/16", "Gateway": "10.77.0.254", "IPRange": "10.77.3.0/24"}]
        },
        "Options": {"com.docker.network.bridge.name": "brb"},
    }
    n = mgr.networks[create(mgr, body)]
    assert (n.subnet, n.gateway, n.ip_range, n.bridge, n.internal) == (
        "10.77.0.0/16", "10.77.0.254", "10.77.3.0/24", "brb", True,
    )  # fmt: skip
    assert mgr.fake_fw.networks["brb"] == ("10.77.0.0/16", False, "")
    assert {x.name for x in mgr.store.all()} == {"bridge", "a", "b"}


def test_create_with_ipv6(mgr: Harness) -> None:
    n = mgr.networks[create(mgr, {"Name": "six", "EnableIPv6": True})]
    assert n.subnet6.startswith("fd") and n.subnet6.endswith("::/64") and n.gateway6 == n.subnet6[:-3] + "1"
    body = {"Name": "six2", "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd00:9::/64"}]}}
    n = mgr.networks[create(mgr, body)]
    assert (n.subnet6, n.gateway6) == ("fd00:9::/64", "fd00:9::1")
    assert n.subnet.startswith("10.123.")


BAD_BODIES: list[tuple[dict[str, Any], type[WharfError], str]] = [
    ({}, InvalidArgument, "network name is required"),
    ({"Name": "host"}, Forbidden, "host is a pre-defined network and cannot be created"),
    ({"Name": "bridge"}, Forbidden, "bridge is a pre-defined network and cannot be created"),
    ({"Name": "x", "Driver": "overlay"}, NotFound, 'plugin "overlay" not found'),
    ({"Name": "x", "IPAM": {"Config": [{"Subnet": "x"}]}}, InvalidArgument,
     "invalid network config:\n* invalid subnet x: invalid CIDR block notation"),
    ({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.1.2.3/16"}]}}, InvalidArgument,
     "invalid network config:\n* invalid subnet 10.1.2.3/16: it should be 10.1.0.0/16"),
    ({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.1.0.0/16", "Gateway": "999.1.1.1"}]}}, InvalidArgument,
     "invalid network config:\n* invalid gateway 999.1.1.1: invalid address"),
    ({"Name": "x", "IPAM": {"Config": [{"Gateway": "10.99.0.1"}]}}, InvalidArgument,
     "invalid network config:\n* invalid gateway 10.99.0.1: parent subnet 10.123.1.0/24 doesn't contain "
     "this address"),
    ({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.123.0.128/25"}]}}, Forbidden,
     "invalid pool request: Pool overlaps with other one on this address space"),
    ({"Name": "x", "IPAM": {"Config": [{"Subnet": "10.1.0.0/16"}, {"Subnet": "10.2.0.0/16"}]}},
     InvalidArgument, "wharf supports one IPv4 and one IPv6 subnet per network"),
    ({"Name": "x", "IPAM": {"Config": [{"Subnet": "fd00::/64"}]}}, InvalidArgument,
     "an IPv6 subnet was given but IPv6 is not enabled on the network (--ipv6)"),
    ({"Name": "x", "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd00::5/64"}]}}, InvalidArgument,
     "invalid network config:\n* invalid subnet fd00::5/64: it should be fd00::/64"),
    ({"Name": "x", "Options": ["a=b"]}, InvalidArgument, "Options must be an object, not an array"),
    ({"Name": "x", "Labels": "a=b"}, InvalidArgument, "Labels must be an object, not a string"),
    ({"Name": "x", "IPAM": ["x"]}, InvalidArgument, "IPAM must be an object, not an array"),
    ({"Name": "x", "IPAM": {"Config": ["10.1.0.0/16"]}}, InvalidArgument,
     "IPAM.Config entry must be an object, not a string"),
    ({"Name": "x", "IPAM": {"Config": [{"Subnet": 167772160}]}}, InvalidArgument,
     "IPAM.Config.Subnet must be a string"),
    ({"Name": "x", "Options": {"com.docker.network.bridge.name": "br-much-too-long"}}, InvalidArgument,
     "bridge name br-much-too-long is longer than 15 characters"),
    ({"Name": "x", "Options": {"com.docker.network.bridge.name": "a};flush"}}, InvalidArgument,
     "invalid bridge name a};flush: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
]  # fmt: skip


@pytest.mark.parametrize("body, kind, message", BAD_BODIES)
def test_bad_bodies_are_wharf_errors_and_make_nothing(
    mgr: Harness, body: dict[str, Any], kind: type[WharfError], message: str
) -> None:
    before = set(mgr.networks)
    with pytest.raises(WharfError) as e:
        asyncio.run(mgr.create(body))
    assert type(e.value) is kind
    assert str(e.value) == message
    assert set(mgr.networks) == before and {n.id for n in mgr.store.all()} == before
    assert set(mgr.fake_host.bridges) == set()


def test_a_bridge_of_another_network_is_refused(mgr: Harness) -> None:
    with pytest.raises(Forbidden) as e:
        asyncio.run(mgr.create({"Name": "x", "Options": {"com.docker.network.bridge.name": "wharf0"}}))
    assert str(e.value).endswith(
        f": conflicts with network {mgr.default().id} (wharf0): networks have same bridge name"
    )
    assert mgr.by_name("x") is None and "wharf0" not in mgr.fake_fw.networks


def test_a_name_taken_is_a_conflict(mgr: Harness) -> None:
    create(mgr, {"Name": "a"})
    with pytest.raises(Conflict, match="network with name a already exists"):
        asyncio.run(mgr.create({"Name": "a"}))


def test_a_bridge_that_cannot_be_made_leaves_nothing(mgr: Harness) -> None:
    mgr.fake_host.fail = True
    with pytest.raises(OSError):
        asyncio.run(mgr.create({"Name": "a"}))
    assert [n.name for n in mgr.store.all()] == ["bridge"] and mgr.by_name("a") is None
    assert mgr.fake_fw.networks == {}


def test_resolve_and_remove(mgr: Harness) -> None:
    nid = create(mgr, {"Name": "a"})
    assert mgr.resolve(nid).name == mgr.resolve("a").name == mgr.resolve(nid[:5]).name == "a"
    with pytest.raises(NotFound, match="network nope not found"):
        mgr.resolve("nope")
    for ref in ("host", "none", "bridge"):
        with pytest.raises(Forbidden, match=f"{ref} is a pre-defined network and cannot be removed"):
            asyncio.run(mgr.remove(ref))
    c = FakeContainer("c" * 64, "web", networking={"Networks": {"a": {}}}, state=FakeState(1, True))
    mgr.listed.append(c)
    with pytest.raises(Forbidden, match="has active endpoints"):
        asyncio.run(mgr.remove("a"))
    c.state.running = False
    assert asyncio.run(mgr.remove("a")).id == nid
    assert mgr.by_name("a") is None and len(mgr.store.all()) == 1


def test_prune_keeps_used_and_kept_networks(mgr: Harness) -> None:
    for name in ("used", "kept", "gone"):
        create(mgr, {"Name": name})
    mgr.listed.append(FakeContainer("c" * 64, "x", networking={"Networks": {"used": {}}}))
    assert asyncio.run(mgr.prune(lambda n: n.name == "kept")) == ["gone"]
    assert {n.name for n in mgr.networks.values()} == {"bridge", "used", "kept"}


def test_endpoints_at_create(mgr: Harness) -> None:
    create(mgr, {"Name": "a", "IPAM": {"Config": [{"Subnet": "10.50.0.0/24"}]}})
    eps = mgr.endpoints_at_create({}, {})
    assert list(eps) == ["bridge"] and eps["bridge"]["NetworkID"] == mgr.default().id
    eps = mgr.endpoints_at_create(
        {"NetworkMode": "a"},
        {"EndpointsConfig": {"a": {"Aliases": ["www"], "IPAMConfig": {"IPv4Address": "10.50.0.9"}}}},
    )
    assert eps["a"]["Aliases"] == ["www"] and eps["a"]["IPAMConfig"] == {"IPv4Address": "10.50.0.9"}
    assert mgr.endpoints_at_create({"NetworkMode": "none"}, {}) == {}
    with pytest.raises(InvalidArgument, match="user specified IP address is supported on user defined"):
        mgr.endpoints_at_create(
            {}, {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": "1.2.3.4"}}}}
        )
    with pytest.raises(InvalidArgument, match="Invalid address 10.51.0.9: It does not belong"):
        mgr.endpoints_at_create(
            {"NetworkMode": "a"}, {"EndpointsConfig": {"a": {"IPAMConfig": {"IPv4Address": "10.51.0.9"}}}}
        )
    with pytest.raises(InvalidArgument, match="does not have IPv6 enabled"):
        mgr.endpoints_at_create(
            {"NetworkMode": "a"}, {"EndpointsConfig": {"a": {"IPAMConfig": {"IPv6Address": "fd00::9"}}}}
        )
    with pytest.raises(InvalidArgument, match="private \\(none\\) mode"):
        mgr.endpoints_at_create({"NetworkMode": "none"}, {"EndpointsConfig": {"a": {}}})
    with pytest.raises(InvalidArgument, match="NetworkingConfig.EndpointsConfig must be an object"):
        mgr.endpoints_at_create({}, {"EndpointsConfig": ["a"]})
    with pytest.raises(InvalidArgument, match="EndpointSettings.Aliases must be an array"):
        mgr.endpoints_at_create({"NetworkMode": "a"}, {"EndpointsConfig": {"a": {"Aliases": "www"}}})


def test_prepare_addresses_endpoints_and_detach_clears_them(mgr: Harness) -> None:
    create(mgr, {"Name": "a", "IPAM": {"Config": [{"Subnet": "10.50.0.0/24"}]}})
    c = FakeContainer("d" * 64, "web", host_config={"NetworkMode": "a"})
    c.networking["Networks"] = mgr.endpoints_at_create(
        c.host_config, {"EndpointsConfig": {"a": {"Aliases": ["www"]}}}
    )
    [(n, ep)] = mgr.prepare(c)
    assert n.name == "a" and ep["IPAddress"] == "10.50.0.2" and ep["IPPrefixLen"] == 24
    assert ep["Gateway"] == "10.50.0.1" and len(ep["EndpointID"]) == 64
    assert ep["DNSNames"] == ["web", "d" * 12, "www"]
    assert mgr.store.allocated(n.id) == {"10.50.0.2": c.id}
    assert mgr.uses_embedded_dns(c)
    asyncio.run(mgr.detach(c))
    assert ep["IPAddress"] == "" and ep["EndpointID"] == "" and ep["Aliases"] == ["www"]
    assert c.networking["Ports"] == {} and mgr.store.allocated(n.id) == {}


def test_views(mgr: Harness) -> None:
    nid = create(
        mgr, {"Name": "a", "IPAM": {"Config": [{"Subnet": "10.50.0.0/24", "IPRange": "10.50.0.128/25"}]}}
    )
    ep = {
        "IPAddress": "10.50.0.130",
        "IPPrefixLen": 24,
        "EndpointID": "e" * 64,
        "MacAddress": "02:42:0a:32:00:82",
    }
    mgr.listed += [
        FakeContainer("1" * 64, "up", networking={"Networks": {"a": ep}}, state=FakeState(7, True)),
        FakeContainer("2" * 64, "down", networking={"Networks": {"a": dict(ep)}}),
        FakeContainer("3" * 64, "hosted", host_config={"NetworkMode": "host"}, state=FakeState(8, True)),
    ]
    v = mgr.view("a")
    assert (
        v["Id"] == nid and v["Driver"] == "bridge" and v["IPAM"]["Options"] is None
    )  # none sent: null, as dockerd
    assert v["IPAM"]["Config"] == [
        {"Subnet": "10.50.0.0/24", "Gateway": "10.50.0.1", "IPRange": "10.50.0.128/25"}
    ]
    shown = {"Name": "up", "EndpointID": "e" * 64, "MacAddress": ep["MacAddress"],
             "IPv4Address": "10.50.0.130/24", "IPv6Address": ""}  # fmt: skip
    assert v["Containers"] == {"1" * 64: shown}
    bridge = mgr.view("bridge")
    assert bridge["IPAM"]["Options"] is None
    assert bridge["Options"]["com.docker.network.driver.mtu"] == "1500"
    assert bridge["Options"]["com.docker.network.bridge.enable_icc"] == "true"
    mgr.icc = False  # the daemon's "icc": false is the default bridge's only
    assert mgr.view("bridge")["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert "com.docker.network.bridge.enable_icc" not in v["Options"] and mgr.icc_of(mgr.resolve("a"))
    host = mgr.view("host")
    assert host["Id"] == views.stable_id("host") == mgr.view(views.stable_id("host")[:3])["Id"]
    assert host["Driver"] == "host" and list(host["Containers"]) == ["3" * 64]
    none = mgr.view("none")
    assert none["Driver"] == "null" and none["Containers"] == {} and none["IPAM"]["Config"] is None
    assert [x["Name"] for x in mgr.all_views()] == ["bridge", "a", "host", "none"]
    assert views.unstored_named("ho") is None and views.unstored_named("bridge") is None


def test_enable_icc_option(mgr: Harness) -> None:
    key = "com.docker.network.bridge.enable_icc"
    with pytest.raises(InvalidArgument, match='parsing "maybe": invalid syntax'):
        create(mgr, {"Name": "bad", "Options": {key: "maybe"}})
    assert mgr.by_name("bad") is None
    create(mgr, {"Name": "closed", "Options": {key: "F"}})
    closed = mgr.resolve("closed")
    assert not mgr.icc_of(closed) and mgr.fw.icc[closed.bridge] is False  # type: ignore[attr-defined]
    assert mgr.view("closed")["Options"][key] == "F"  # as given, as dockerd shows it
