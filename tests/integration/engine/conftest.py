"""A wharfd per test module, its store seeded with a busybox image (one layer: the rootfs made
from the host's busybox-static)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tests.daemon import Daemon, new_root

from wharf.images.store import ImageStore
from wharf.images.testimage import build_image, rootfs_tar

IMAGE = "busybox:latest"
WHARF = os.path.join(os.path.dirname(sys.executable), "wharf")


def docker(
    d: Daemon, *args: str, check: bool = True, timeout: float = 60, **kw: Any
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["docker", *args], env=d.env(), capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def seed_busybox(d: Daemon, rootfs: str) -> None:
    os.makedirs(d.data_root, exist_ok=True)
    store = ImageStore(f"{d.data_root}/images")
    try:
        build_image(store, IMAGE, [], raw_layers=[rootfs_tar(rootfs)])
    finally:
        store.close()


@contextmanager
def seeded_daemon(rootfs: str) -> Iterator[Daemon]:
    """A started wharfd with the busybox image, cleaned up (containers, links, rules) after."""
    d = Daemon(new_root())
    try:
        seed_busybox(d, rootfs)
        d.start()
        yield d
    finally:
        d.cleanup()


@pytest.fixture(scope="module")
def wharfd(rootfs_template: str) -> Iterator[Daemon]:
    with seeded_daemon(rootfs_template) as d:
        yield d


class CLI:
    """A client command line bound to a daemon: the real ``docker`` or our ``wharf``; the session
    tests run once with each and expect the same behaviour."""

    def __init__(self, d: Daemon, name: str) -> None:
        self.d = d
        self.name = name
        self.argv0 = "docker" if name == "docker" else WHARF

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [self.argv0, *args], env=self.d.env(), capture_output=True, text=True, timeout=timeout, **kw
        )
        if check and r.returncode != 0:
            raise AssertionError(f"{self.name} {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r

    def raw(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[Any]:
        return subprocess.run([self.argv0, *args], env=self.d.env(), capture_output=True, timeout=60, **kw)


@pytest.fixture(params=["docker", "wharf"])
def cli(request: pytest.FixtureRequest, wharfd: Daemon) -> CLI:
    return CLI(wharfd, request.param)


@pytest.fixture
def made(cli: CLI) -> Iterator[list[str]]:
    """What a test makes, removed even on failure: containers ("c:NAME"), volumes ("v:NAME")
    and images ("i:NAME"), last made first."""
    items: list[str] = []
    yield items
    for item in reversed(items):
        kind, _, name = item.partition(":")
        if kind == "c":
            cli("rm", "-f", "-v", name, check=False)
        elif kind == "v":
            cli("volume", "rm", "-f", name, check=False)
        else:
            cli("rmi", "-f", name, check=False)
