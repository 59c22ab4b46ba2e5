"""The project's tests touch nothing they did not create. The docker interop tests' private
dockerd runs with --bridge=none, and dockerd then deletes the host's docker0 (the machine's own
dockerd's default network) unless it runs in a network namespace of its own."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from tests.integration.images.test_docker_interop import _docker, docker_host

pytestmark = pytest.mark.root
__all__ = ["docker_host"]


def _ifindex(name: str) -> int | None:
    try:
        with open(f"/sys/class/net/{name}/ifindex") as f:
            return int(f.read())
    except OSError:
        return None


@pytest.fixture(scope="module")
def docker0() -> Iterator[int]:
    """The host's docker0 (the machine's dockerd's, or one of this test's own making when there
    is none), set up before the private dockerd starts."""
    made = _ifindex("docker0") is None
    if made:
        subprocess.run(["ip", "link", "add", "docker0", "type", "bridge"], check=True)
    try:
        index = _ifindex("docker0")
        assert index is not None
        yield index
    finally:
        if made:
            subprocess.run(["ip", "link", "del", "docker0"], capture_output=True)


def test_private_dockerd_leaves_the_hosts_docker0(docker0: int, docker_host: str) -> None:
    assert b"Server" in _docker(docker_host, "version")
    assert _ifindex("docker0") == docker0
