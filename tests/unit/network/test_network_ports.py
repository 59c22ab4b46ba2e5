"""Published ports: keys, host port specs, plans, holding ports with sockets, the DNAT
elements, and Docker's wording for a port that cannot be had."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from wharf.errors import FailedPrecondition, InvalidArgument
from wharf.network import ports


def test_port_keys() -> None:
    assert ports.port_key("80") == "80/tcp"
    assert ports.port_key("53/udp") == "53/udp"
    assert ports.parse_key("80") == (80, "tcp")
    assert ports.parse_key("53/udp") == (53, "udp")
    assert ports.parse_key("9/sctp") == (9, "sctp")


@pytest.mark.parametrize(
    "key, message",
    [
        ("abc/tcp", 'invalid port specification: "abc"'),
        ("0/tcp", 'invalid port specification: "0"'),
        ("65536", 'invalid port specification: "65536"'),
        ("80-81/tcp", 'invalid port specification: "80-81"'),
        ("80/tcp } ; flush ruleset", "invalid proto: tcp } ; flush ruleset"),
        ("80/TCP", "invalid proto: TCP"),
        ("80/", "invalid proto: "),
    ],
)
def test_bad_port_keys(key: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        ports.parse_key(key)
    assert str(e.value) == message


def test_host_ports() -> None:
    assert ports.host_ports("") == [0]
    assert ports.host_ports("0") == [0]
    assert ports.host_ports("8080") == [8080]
    assert ports.host_ports("8000-8003") == [8000, 8001, 8002, 8003]
    for bad in ("x", "8003-8000", "-5", "8000-", "70000", "1-2-3"):
        with pytest.raises(InvalidArgument, match=f'^invalid port specification: "{bad}"$'):
            ports.host_ports(bad)


def test_host_ip() -> None:
    assert ports.host_ip({}) == "0.0.0.0"
    assert ports.host_ip({"HostIp": "127.0.0.1"}) == "127.0.0.1"
    assert ports.host_ip({"HostIp": "::1"}) == "::1"
    with pytest.raises(InvalidArgument, match="^invalid IP address: localhost$"):
        ports.host_ip({"HostIp": "localhost"})


def test_check_bindings() -> None:
    ports.check_bindings({})
    ports.check_bindings({"PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "53/udp": None}})
    with pytest.raises(InvalidArgument, match='invalid port specification: "x"'):
        ports.check_bindings({"PortBindings": {"80/tcp": [{"HostPort": "x"}]}})
    with pytest.raises(InvalidArgument, match='invalid port specification: "http"'):
        ports.check_bindings({"PortBindings": {"http/tcp": [{}]}})
    with pytest.raises(InvalidArgument, match="PortBindings must be an object"):
        ports.check_bindings({"PortBindings": ["80:80"]})


def test_publish_plan() -> None:
    hc = {"PortBindings": {"80": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": None}}
    assert ports.publish_plan({}, hc) == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "53/udp": [{}],
    }
    config: dict[str, Any] = {"ExposedPorts": {"80/tcp": {}, "443/tcp": {}}}
    # -P: every EXPOSE'd port not already bound gets a port of the host's choosing
    assert ports.publish_plan(config, {**hc, "PublishAllPorts": True}) == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "53/udp": [{}],
        "443/tcp": [{"HostIp": "", "HostPort": ""}],
    }
    assert ports.publish_plan(config, {}) == {}


def test_rules_are_the_dnat_elements_of_published_ports_only() -> None:
    published: dict[str, list[ports.Binding] | None] = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "8081"}],
        "53/udp": [{"HostIp": "", "HostPort": "5353"}],
        "9000/tcp": None,
        "bogus-exposed/tcp": None,
    }
    assert ports.rules(published, "10.1.0.2") == [
        ("", "tcp", 8080, "10.1.0.2", 80),
        ("127.0.0.1", "tcp", 8081, "10.1.0.2", 80),
        ("", "udp", 5353, "10.1.0.2", 53),
    ]


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


def test_reserve_holds_ports_and_fills_in_the_chosen_ones() -> None:
    plan = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}], "53/udp": [{"HostIp": "127.0.0.1"}]}
    held, chosen = ports.reserve(plan, {"80/tcp": {}, "9000/tcp": {}}, set())
    try:
        assert [s.type for s in held] == [socket.SOCK_STREAM, socket.SOCK_DGRAM]
        tcp_port = held[0].getsockname()[1]
        assert chosen == {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(tcp_port)}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": str(held[1].getsockname()[1])}],
            "9000/tcp": None,
        }
        assert ports.held_ports({"c": held}) == {
            ("127.0.0.1", "tcp", tcp_port),
            ("127.0.0.1", "udp", held[1].getsockname()[1]),
        }
        with socket.socket() as probe, pytest.raises(OSError):
            probe.bind(("127.0.0.1", tcp_port))
    finally:
        for s in held:
            s.close()


def test_reserve_takes_the_first_free_port_of_a_range(listener: int) -> None:
    plan = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": f"{listener}-{listener + 1}"}]}
    try:
        held, chosen = ports.reserve(plan, {}, set())
    except FailedPrecondition:
        pytest.skip(f"port {listener + 1} is taken on this host")
    try:
        assert chosen["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(listener + 1)}]
    finally:
        for s in held:
            s.close()


def test_reserve_lets_go_of_everything_when_one_fails(
    listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = {
        "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(listener)}],
    }
    opened: list[socket.socket] = []
    real = ports.bind_one

    def spy(*args: object) -> tuple[socket.socket, int]:
        s, port = real(*args)  # type: ignore[arg-type]
        opened.append(s)
        return s, port

    monkeypatch.setattr(ports, "bind_one", spy)
    with pytest.raises(FailedPrecondition, match="address already in use"):
        ports.reserve(plan, {}, set())
    assert len(opened) == 1 and opened[0].fileno() == -1


def test_a_port_held_by_another_process_is_docker_proxys_error(listener: int) -> None:
    with pytest.raises(FailedPrecondition) as e:
        ports.bind_one("127.0.0.1", "tcp", [listener], set())
    assert str(e.value) == (
        f"Error starting userland proxy: listen tcp4 127.0.0.1:{listener}: bind: address already in use"
    )


def test_a_port_one_of_ours_holds_is_already_allocated(listener: int) -> None:
    with pytest.raises(FailedPrecondition) as e:
        ports.bind_one("127.0.0.1", "tcp", [listener], {("0.0.0.0", "tcp", listener)})
    assert str(e.value) == f"Bind for 127.0.0.1:{listener} failed: port is already allocated"


def test_bind_error_wording() -> None:
    unavailable = OSError(errno.EADDRNOTAVAIL, "cannot assign")
    err = ports.bind_error("192.0.2.1", "udp", [53], set(), unavailable)
    assert (
        str(err)
        == "Error starting userland proxy: listen udp4 192.0.2.1:53: bind: cannot assign requested address"
    )
    err = ports.bind_error("::1", "tcp", [80], set(), OSError(errno.EADDRINUSE, "in use"))
    assert str(err) == "Error starting userland proxy: listen tcp6 ::1:80: bind: address already in use"
    err = ports.bind_error("0.0.0.0", "tcp", [8000, 8001, 8002], set(), OSError(errno.EADDRINUSE, "x"))
    assert str(err) == "Bind for 0.0.0.0:8000-8002 failed: port is already allocated"
