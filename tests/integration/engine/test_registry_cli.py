"""push/pull/login/save/load/import through wharfd (docker CLI and wharf CLI), real registry."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.engine.conftest import CLI, IMAGE
from tests.registry import Registry

pytestmark = pytest.mark.root


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    r = Registry(tmp_path / "reg")
    try:
        yield r
    finally:
        r.close()


def test_push_rmi_pull_run(cli: CLI, registry: Registry) -> None:
    name = f"{registry.host}/test/busybox:1"
    cli("tag", IMAGE, name)
    out = cli("push", name).stdout
    assert "1: digest: sha256:" in out
    digest = out.split("digest: ")[1].split()[0]
    cli("rmi", name)
    pulled = cli("pull", name).stdout
    assert f"Digest: {digest}" in pulled and "Already exists" in pulled  # the layer was still local
    r = cli("run", "--rm", name, "echo", "from the registry")
    assert r.stdout == "from the registry\n"
    missing = cli("pull", f"{registry.host}/test/busybox:nope", check=False)
    assert missing.returncode == 1 and "manifest unknown" in missing.stderr
    cli("rmi", name)


def test_rmi_of_a_pulled_image_deletes_it(cli: CLI, registry: Registry, tmp_path: Path) -> None:
    """As Docker: removing the last tag of a repository takes its digest references along, so a
    pulled image goes entirely (its layers too) with one ``rmi``."""
    import io
    import os
    import tarfile

    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as t:
        data = os.urandom(4096)
        info = tarfile.TarInfo("only-here")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    name = f"{registry.host}/test/{cli.name}:1"
    cli("import", str(rootfs), name)
    digest = cli("push", name).stdout.split("digest: ")[1].split()[0]
    image_id = cli("image", "inspect", "-f", "{{.Id}}", name).stdout.strip()
    cli("rmi", name)
    assert cli("image", "inspect", image_id, check=False).returncode == 1
    assert "Pull complete" in cli("pull", name).stdout  # the layer had gone: downloaded again
    repo_digest = f"{name.rsplit(':', 1)[0]}@{digest}"
    assert cli("image", "inspect", "-f", "{{.RepoDigests}}", name).stdout.strip() == f"[{repo_digest}]"
    layer = json.loads(cli("image", "inspect", name).stdout)[0]["RootFS"]["Layers"][0]
    out = cli("rmi", name).stdout.splitlines()
    # one layer: its chain ID is its diff ID
    assert out == [
        f"Untagged: {name}",
        f"Untagged: {repo_digest}",
        f"Deleted: {image_id}",
        f"Deleted: {layer}",
    ]
    assert cli("image", "inspect", image_id, check=False).returncode == 1


def test_login_then_push_to_a_registry_with_auth(cli: CLI, tmp_path: Path) -> None:
    reg = Registry(tmp_path / "authreg", users={"bob": "pa55"})
    try:
        name = f"{reg.host}/private/busybox:1"
        cli("tag", IMAGE, name)
        denied = cli("push", name, check=False)
        assert denied.returncode == 1 and "no basic auth credentials" in denied.stderr
        bad = subprocess.run([cli.argv0, "login", "-u", "bob", "--password-stdin", reg.host], input="wrong",
                             env=cli.d.env(), capture_output=True, text=True, timeout=30)  # fmt: skip
        assert bad.returncode == 1
        ok = subprocess.run([cli.argv0, "login", "-u", "bob", "--password-stdin", reg.host], input="pa55",
                            env=cli.d.env(), capture_output=True, text=True, timeout=30)  # fmt: skip
        assert ok.returncode == 0 and "Login Succeeded" in ok.stdout
        assert "digest: sha256:" in cli("push", name).stdout
        cli("logout", reg.host)
        cli("rmi", name)
    finally:
        reg.close()


def test_save_load_import(cli: CLI, tmp_path: Path) -> None:
    tar = tmp_path / "bb.tar"
    cli("save", "-o", str(tar), IMAGE)
    cli("tag", IMAGE, "copy:1")
    cli("rmi", "copy:1")
    out = cli("load", "-i", str(tar)).stdout
    assert "Loaded image: busybox:latest" in out
    rootfs = subprocess.run(
        ["tar", "-c", "-C", str(tmp_path), "bb.tar"], capture_output=True, check=True
    ).stdout
    r = subprocess.run([cli.argv0, "import", "-m", "hello", "-c", "CMD [\"/bin/true\"]", "-", "imported:1"],
                       input=rootfs, env=cli.d.env(), capture_output=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert cli("image", "inspect", "-f", "{{.Comment}} {{.Config.Cmd}}", "imported:1").stdout.strip() == (
        "hello [/bin/true]"
    )
    cli("rmi", "imported:1")


def test_load_and_import_bodies_over_the_json_limit(cli: CLI, tmp_path: Path) -> None:
    """Archives are streamed to the store: an import and a load bigger than the API's 32 MiB
    limit for JSON bodies go through (they were refused with 413 when read whole)."""
    import io
    import os
    import tarfile

    rootfs = tmp_path / "rootfs.tar"
    payload = os.urandom(36 << 20)
    with tarfile.open(rootfs, "w") as t:
        info = tarfile.TarInfo("big")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    name = f"big-{cli.name}:1"
    try:
        cli("import", str(rootfs), name, timeout=120)
        saved = tmp_path / "saved.tar"
        cli("save", "-o", str(saved), name, timeout=120)
        assert saved.stat().st_size > 36 << 20
        cli("rmi", name)
        assert f"Loaded image: {name}" in cli("load", "-i", str(saved), timeout=120).stdout
        r = cli("image", "inspect", "-f", "{{.Size}}", name)
        assert int(r.stdout) >= 36 << 20
    finally:
        cli("rmi", "-f", name, check=False)
