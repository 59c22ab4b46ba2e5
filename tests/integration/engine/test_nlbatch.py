"""network/nlbatch.py on the real kernel: one batch configures an interface in a namespace of
its own (a process started under ``unshare --net``), and an error names the request it answers."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from wharf.errors import FailedPrecondition
from wharf.network import nlbatch
from wharf.network.netlink import in_netns


@pytest.fixture
def netns() -> Iterator[int]:
    proc = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        for _ in range(100):  # until the child has unshared
            own = subprocess.run(["readlink", "/proc/self/ns/net"], capture_output=True, text=True)
            theirs = subprocess.run(["readlink", f"/proc/{proc.pid}/ns/net"], capture_output=True, text=True)
            if theirs.stdout and theirs.stdout != own.stdout:
                break
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _in(pid: int, *cmd: str) -> str:
    return subprocess.run(["nsenter", "-t", str(pid), "-n", *cmd], capture_output=True, text=True).stdout


def test_one_batch_configures_and_errors_name_their_request(netns: int) -> None:
    add = ["ip", "link", "add", "eth7", "type", "veth", "peer", "name", "eth7p"]
    subprocess.run(["nsenter", "-t", str(netns), "-n", *add], check=True)
    ep = nlbatch.Endpoint("eth7", "10.77.0.5", 24, "10.77.0.1", "fd77::5", 64, "fd77::1", ("169.254.3.3",))
    mac = in_netns(f"/proc/{netns}/ns/net", lambda: nlbatch.configure(ep))
    assert mac and mac in _in(netns, "ip", "link", "show", "eth7")
    addrs = _in(netns, "ip", "addr", "show", "eth7")
    assert "inet 10.77.0.5/24 brd 10.77.0.255 scope global eth7" in addrs
    assert "inet 169.254.3.3/16 brd 169.254.255.255" in addrs
    assert "inet6 fd77::5/64 scope global nodad" in addrs
    assert ",UP" in addrs.split(">")[0]
    assert "default via 10.77.0.1 dev eth7" in _in(netns, "ip", "route")
    assert "default via fd77::1 dev eth7" in _in(netns, "ip", "-6", "route")
    # the same address again: the kernel's EEXIST, named by its request
    with pytest.raises(FailedPrecondition, match=r"address 10\.77\.0\.5/24: File exists"):
        in_netns(f"/proc/{netns}/ns/net", lambda: nlbatch.configure(ep))
    gone = nlbatch.Endpoint("eth9", "10.78.0.5", 24, None)
    with pytest.raises(FailedPrecondition, match="interface eth9 did not arrive"):
        in_netns(f"/proc/{netns}/ns/net", lambda: nlbatch.configure(gone))
