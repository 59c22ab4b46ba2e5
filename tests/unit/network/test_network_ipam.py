"""IPAM's pure pieces: pools, dockerd's checks of an IPAM configuration (its wording), the
IPv6 unique local pool, the checks of an address asked for."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from wharf.errors import FailedPrecondition, Forbidden, InvalidArgument, WharfError
from wharf.network import ipam


def test_pick_pool_takes_the_first_subnet_overlapping_nothing() -> None:
    pools = [("10.10.0.0/16", 24), ("192.168.0.0/16", 20)]
    assert ipam.pick_pool(pools, []) == "10.10.0.0/24"
    assert ipam.pick_pool(pools, ["10.10.0.0/24", "10.10.1.0/24"]) == "10.10.2.0/24"
    assert ipam.pick_pool(pools, ["10.10.0.0/16"]) == "192.168.0.0/20"
    # a pool of one subnet: size not larger than the base's prefix
    assert ipam.pick_pool([("10.20.0.0/16", 16)], []) == "10.20.0.0/16"
    assert ipam.pick_pool([("10.20.0.0/16", 8)], ["10.30.0.0/16"]) == "10.20.0.0/16"


def test_pick_pool_exhausted_is_forbidden() -> None:
    with pytest.raises(Forbidden, match="all predefined address pools have been fully subnetted"):
        ipam.pick_pool([("10.10.0.0/23", 24)], ["10.10.0.0/24", "10.10.1.0/24"])


@pytest.mark.parametrize(
    "base, size", [("172.18.0.0/14", 16), ("not-a-cidr", 16), ("10.0.0.0/8", 40), ("10.0.0.0/99", 24)]
)
def test_a_broken_pool_is_a_wharf_error_naming_it_never_a_value_error(base: str, size: int) -> None:
    with pytest.raises(FailedPrecondition, match=f"invalid address pool {base} \\(size {size}\\)"):
        ipam.pick_pool([(base, size)], [])


def test_the_default_pools_cannot_raise_a_raw_value_error() -> None:
    # the first pool is the default bridge's; the next one is (for now) malformed
    used = ["172.17.0.0/16"]
    try:
        ipam.pick_pool(ipam.DEFAULT_POOLS, used)
    except WharfError:
        pass
    assert ipam.pick_pool(ipam.DEFAULT_POOLS, []) == "172.17.0.0/16"


def test_pools_from_config() -> None:
    assert ipam.pools_from_config(None) == ipam.DEFAULT_POOLS
    assert ipam.pools_from_config(None) is not ipam.DEFAULT_POOLS
    assert ipam.pools_from_config([{"base": "10.9.0.0/16", "size": "24"}]) == [("10.9.0.0/16", 24)]
    for bad in ({"base": "10.9.0.0/16"}, {"base": "10.9.0.0/16", "size": "x"}, "10.9.0.0/16"):
        with pytest.raises(InvalidArgument, match="invalid default-address-pools entry"):
            ipam.pools_from_config([bad])  # type: ignore[list-item]


def test_bip() -> None:
    assert ipam.bip_subnet("172.30.0.1/16") == ("172.30.0.0/16", "172.30.0.1")
    with pytest.raises(InvalidArgument, match="invalid bip x: invalid CIDR address: x"):
        ipam.bip_subnet("x")
    with pytest.raises(InvalidArgument, match="an IPv4 address is expected"):
        ipam.bip_subnet("fd00::1/64")


def test_ula_is_a_stable_unique_local_64_avoiding_used_ones() -> None:
    a = ipam.ula_for("n1", [])
    net = ipaddress.ip_network(a)
    assert net.version == 6 and net.prefixlen == 64 and a.startswith("fd")
    assert ipam.ula_for("n1", []) == a
    assert ipam.ula_for("n2", []) != a
    assert ipam.ula_for("n1", [a]) != a


@pytest.mark.parametrize(
    "text, expect",
    [
        ("10.1.0.0/16", ("10.1.0.0", "10.1.0.0/16")),
        ("10.1.2.3/16", ("10.1.2.3", "10.1.0.0/16")),
        ("fd00:1::/64", ("fd00:1::", "fd00:1::/64")),
        ("x", None),
        ("10.1.0.0", None),  # netip.ParsePrefix wants the bits
        ("10.1.0.0/255.255.0.0", None),
        ("10.1.0.0/016", None),
        ("10.1.0.0/33", None),
        ("999.1.0.0/16", None),
        ("fe80::%eth0/64", None),
        ("", None),
    ],
)
def test_parse_prefix_is_gos(text: str, expect: tuple[str, str] | None) -> None:
    got = ipam.parse_prefix(text)
    assert (None if got is None else (str(got[0]), str(got[1]))) == expect


@pytest.mark.parametrize(
    "cfg, errors",
    [
        ({"Subnet": "10.1.0.0/16", "Gateway": "10.1.0.254", "IPRange": "10.1.4.0/24"}, []),
        ({"Subnet": "x"}, ["invalid subnet x: invalid CIDR block notation"]),
        ({"Subnet": "10.1.2.3/16"}, ["invalid subnet 10.1.2.3/16: it should be 10.1.0.0/16"]),
        ({"Subnet": "10.1.0.0/16", "Gateway": "999.1.1.1"}, ["invalid gateway 999.1.1.1: invalid address"]),
        (
            {"Subnet": "10.1.0.0/16", "Gateway": "10.2.0.1"},
            ["invalid gateway 10.2.0.1: parent subnet 10.1.0.0/16 doesn't contain this address"],
        ),
        (
            {"Subnet": "10.1.0.0/16", "Gateway": "fd00::1"},
            ["invalid gateway fd00::1: parent subnet is an IPv4 block"],
        ),
        (
            {"Subnet": "10.1.0.0/16", "IPRange": "10.0.0.0/8"},
            [
                "invalid ip-range 10.0.0.0/8: CIDR block is bigger than its parent subnet 10.1.0.0/16",
            ],
        ),
        (
            {"Subnet": "10.1.0.0/16", "IPRange": "10.1.0.5/24"},
            ["invalid ip-range 10.1.0.5/24: it should be 10.1.0.0/24"],
        ),
        (
            {"Subnet": "10.1.0.0/16", "IPRange": "10.2.0.0/24"},
            ["invalid ip-range 10.2.0.0/24: parent subnet 10.1.0.0/16 doesn't contain ip-range"],
        ),
        ({"Subnet": "10.1.0.0/16", "IPRange": "y"}, ["invalid ip-range y: invalid CIDR block notation"]),
        (
            {"Subnet": "10.1.0.0/16", "IPRange": "fd00::/64"},
            ["invalid ip-range fd00::/64: parent subnet is an IPv4 block"],
        ),
        (
            {"Subnet": "10.1.0.0/16", "AuxiliaryAddresses": {"host": "10.3.0.1"}},
            ["invalid auxiliary address host: parent subnet 10.1.0.0/16 doesn't contain this address"],
        ),
        (
            {"Subnet": "10.1.2.3/16", "Gateway": "nope"},
            [
                "invalid subnet 10.1.2.3/16: it should be 10.1.0.0/16",
                "invalid gateway nope: invalid address",
            ],
        ),
    ],
)
def test_config_errors_are_dockerds(cfg: dict[str, object], errors: list[str]) -> None:
    assert ipam.config_errors(cfg, enable6=True) == errors


def test_an_ipv6_entry_is_not_looked_at_without_ipv6() -> None:
    cfg = {"Subnet": "fd00::1/64", "Gateway": "10.0.0.1"}
    assert ipam.config_errors(cfg, enable6=False) == []
    assert len(ipam.config_errors(cfg, enable6=True)) == 2
    # an unparsable subnet is refused either way, as dockerd does
    assert ipam.config_errors({"Subnet": "fd00::x/64"}, enable6=False) != []


def test_validate_joins_every_error_as_dockerd() -> None:
    with pytest.raises(InvalidArgument) as e:
        ipam.validate([{"Subnet": "x"}, {"Subnet": "10.1.2.3/16"}], True)
    assert str(e.value) == (
        "invalid network config:\n* invalid subnet x: invalid CIDR block notation\n"
        "* invalid subnet 10.1.2.3/16: it should be 10.1.0.0/16"
    )
    ipam.validate([{"Subnet": "10.1.0.0/16"}], True)


def test_split_configs() -> None:
    v4, v6 = ipam.split_configs(
        {"Config": [{"Subnet": "10.1.0.0/16"}, {}, None, {"Subnet": "fd00::/64"}, {"Gateway": "10.2.0.1"}]}
    )
    assert v4 == [{"Subnet": "10.1.0.0/16"}, {"Gateway": "10.2.0.1"}]
    assert v6 == [{"Subnet": "fd00::/64"}]
    assert ipam.split_configs(None) == ([], [])
    assert ipam.split_configs({"Config": None}) == ([], [])


@pytest.mark.parametrize(
    "value, message",
    [
        (["x"], "IPAM must be an object, not an array"),
        ({"Config": {"Subnet": "10.1.0.0/16"}}, "IPAM.Config must be an array of objects"),
        ({"Config": ["10.1.0.0/16"]}, "IPAM.Config entry must be an object, not a string"),
        ({"Config": [{"Subnet": 5}]}, "IPAM.Config.Subnet must be a string"),
        ({"Config": [{"Subnet": "10.1.0.0/16", "Gateway": ["10.1.0.1"]}]}, "IPAM.Config.Gateway must be"),
    ],
)
def test_split_configs_refuses_wrong_shapes(value: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        ipam.split_configs(value)


def test_address_plan_requested_subnet() -> None:
    def pool() -> str:
        raise AssertionError("no pool when a subnet is given")

    plan = ipam.address_plan({"Subnet": "10.1.0.0/16"}, ["10.2.0.0/16"], pool)
    assert plan == ("10.1.0.0/16", "10.1.0.1", "")
    plan = ipam.address_plan(
        {"Subnet": "10.1.0.0/16", "Gateway": "10.1.255.254", "IPRange": "10.1.8.0/22"}, [], pool
    )
    assert plan == ("10.1.0.0/16", "10.1.255.254", "10.1.8.0/22")
    assert ipam.address_plan({"Subnet": "fd00:1::/64"}, [], pool) == ("fd00:1::/64", "fd00:1::1", "")
    with pytest.raises(Forbidden, match="^" + ipam.OVERLAP + "$"):
        ipam.address_plan({"Subnet": "10.2.3.0/24"}, ["10.2.0.0/16"], pool)


def test_address_plan_from_the_pool_checks_gateway_and_range_against_it() -> None:
    assert ipam.address_plan({}, ["10.5.0.0/16"], lambda: "10.6.0.0/24") == ("10.6.0.0/24", "10.6.0.1", "")
    with pytest.raises(InvalidArgument, match="parent subnet 10.6.0.0/24 doesn't contain this address"):
        ipam.address_plan({"Gateway": "10.7.0.1"}, [], lambda: "10.6.0.0/24")
    # a small subnet still has a gateway
    assert ipam.address_plan({"Subnet": "10.8.0.4/32"}, [], lambda: "")[1] == "10.8.0.4"


def test_check_requested() -> None:
    ipam.check_requested("10.1.0.9", "10.1.0.0/16", "IPv4")
    with pytest.raises(InvalidArgument, match="^invalid IPv4 address: 10.1.0.999$"):
        ipam.check_requested("10.1.0.999", "10.1.0.0/16", "IPv4")
    with pytest.raises(
        InvalidArgument,
        match="^Invalid address 10.2.0.9: It does not belong to any of this network's subnets$",
    ):
        ipam.check_requested("10.2.0.9", "10.1.0.0/16", "IPv4")
    with pytest.raises(InvalidArgument, match="Invalid address fd01::9"):
        ipam.check_requested("fd01::9", "fd00::/64", "IPv6")


def test_default_pools_are_dockers() -> None:
    assert ipam.DEFAULT_POOLS[0] == ("172.17.0.0/16", 16)
    assert ipam.DEFAULT_POOLS[-1] == ("192.168.0.0/16", 20)
    assert [b for b, _ in ipam.DEFAULT_POOLS[:-1]] == [f"172.{i}.0.0/16" for i in range(17, 32)]
    # the first user network of a daemon with no configuration, beside a docker0 at 172.17
    assert ipam.pick_pool(ipam.DEFAULT_POOLS, ["172.17.0.0/16"]) == "172.18.0.0/16"
    every_172 = [f"172.{i}.0.0/16" for i in range(17, 32)]
    assert ipam.pick_pool(ipam.DEFAULT_POOLS, every_172) == "192.168.0.0/20"
    assert ipam.pick_pool(ipam.DEFAULT_POOLS, [*every_172, "192.168.0.0/24"]) == "192.168.16.0/20"


def test_host_routes_are_read_from_proc(tmp_path: Path) -> None:
    table = tmp_path / "route"
    table.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
        "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"  # default: left out
        "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"  # 192.0.2.0/24
        "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"  # 172.17.0.0/16
    )
    assert ipam.host_routes(str(table)) == ["192.0.2.0/24", "172.17.0.0/16"]
    assert ipam.host_routes(str(tmp_path / "missing")) == []
