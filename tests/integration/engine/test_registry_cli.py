"""docker push/pull/login/save/load/import through wharfd against a real registry on 127.0.0.1."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import IMAGE, docker
from tests.registry import Registry

pytestmark = pytest.mark.root


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    r = Registry(tmp_path / "reg")
    try:
        yield r
    finally:
        r.close()


def test_push_rmi_pull_run(wharfd: Daemon, registry: Registry) -> None:
    name = f"{registry.host}/test/busybox:1"
    docker(wharfd, "tag", IMAGE, name)
    out = docker(wharfd, "push", name).stdout
    assert "1: digest: sha256:" in out
    digest = out.split("digest: ")[1].split()[0]
    docker(wharfd, "rmi", name)
    pulled = docker(wharfd, "pull", name).stdout
    assert f"Digest: {digest}" in pulled and "Already exists" in pulled  # the layer was still local
    r = docker(wharfd, "run", "--rm", name, "echo", "from the registry")
    assert r.stdout == "from the registry\n"
    missing = docker(wharfd, "pull", f"{registry.host}/test/busybox:nope", check=False)
    assert missing.returncode == 1 and "manifest unknown" in missing.stderr
    docker(wharfd, "rmi", name)


def test_login_then_push_to_a_registry_with_auth(wharfd: Daemon, tmp_path: Path) -> None:
    reg = Registry(tmp_path / "authreg", users={"bob": "pa55"})
    try:
        name = f"{reg.host}/private/busybox:1"
        docker(wharfd, "tag", IMAGE, name)
        denied = docker(wharfd, "push", name, check=False)
        assert denied.returncode == 1 and "no basic auth credentials" in denied.stderr
        bad = subprocess.run(["docker", "login", "-u", "bob", "--password-stdin", reg.host], input="wrong",
                             env=wharfd.env(), capture_output=True, text=True, timeout=30)  # fmt: skip
        assert bad.returncode == 1
        ok = subprocess.run(["docker", "login", "-u", "bob", "--password-stdin", reg.host], input="pa55",
                            env=wharfd.env(), capture_output=True, text=True, timeout=30)  # fmt: skip
        assert ok.returncode == 0 and "Login Succeeded" in ok.stdout
        assert "digest: sha256:" in docker(wharfd, "push", name).stdout
        docker(wharfd, "logout", reg.host)
        docker(wharfd, "rmi", name)
    finally:
        reg.close()


def test_save_load_import(wharfd: Daemon, tmp_path: Path) -> None:
    tar = tmp_path / "bb.tar"
    docker(wharfd, "save", "-o", str(tar), IMAGE)
    docker(wharfd, "tag", IMAGE, "copy:1")
    docker(wharfd, "rmi", "copy:1")
    out = docker(wharfd, "load", "-i", str(tar)).stdout
    assert "Loaded image: busybox:latest" in out
    rootfs = subprocess.run(
        ["tar", "-c", "-C", str(tmp_path), "bb.tar"], capture_output=True, check=True
    ).stdout
    r = subprocess.run(["docker", "import", "-m", "hello", "-c", "CMD [\"/bin/true\"]", "-", "imported:1"],
                       input=rootfs, env=wharfd.env(), capture_output=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert docker(
        wharfd, "image", "inspect", "-f", "{{.Comment}} {{.Config.Cmd}}", "imported:1"
    ).stdout.strip() == ("hello [/bin/true]")
    docker(wharfd, "rmi", "imported:1")
