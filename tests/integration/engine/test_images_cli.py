"""Image operations through the docker CLI and the wharf CLI: images, tag, inspect, history, rmi."""

from __future__ import annotations

import json

import pytest
from tests.integration.engine.conftest import CLI, IMAGE

pytestmark = pytest.mark.root


def test_images_tag_inspect_history_rmi(cli: CLI) -> None:
    listing = cli("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "busybox:latest" in listing
    cli("tag", IMAGE, "example.com/team/tool:1.0")
    table = cli("images").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.startswith("example.com/team/tool") and " 1.0 " in line for line in table)
    info = json.loads(cli("image", "inspect", "example.com/team/tool:1.0").stdout)[0]
    assert info["Id"].startswith("sha256:") and "busybox:latest" in info["RepoTags"]
    assert info["Os"] == "linux" and info["RootFS"]["Type"] == "layers"
    short = info["Id"][7:19]
    hist = cli("history", "--format", "{{.ID}} {{.CreatedBy}}", IMAGE).stdout.splitlines()
    assert hist[0].startswith(short)
    filtered = cli("images", "--filter", "reference=example.com/*/*", "-q").stdout.split()
    assert filtered == [short]
    # two names: removing one only untags
    out = cli("rmi", "example.com/team/tool:1.0").stdout.strip()
    assert out == "Untagged: example.com/team/tool:1.0"
    assert cli("image", "inspect", "-f", "{{.Id}}", IMAGE).stdout.strip() == info["Id"]


def test_rmi_refuses_an_image_in_use(cli: CLI) -> None:
    cli("tag", IMAGE, "inuse:1")
    cli("create", "--name", "user", "inuse:1", "true")
    try:
        short = cli("image", "inspect", "-f", "{{.Id}}", IMAGE).stdout.strip()[7:19]
        r = cli("rmi", short, check=False)
        assert r.returncode == 1
        assert "must be forced" in r.stderr
        r = cli("rmi", "nosuch:image", check=False)
        assert r.returncode == 1 and "No such image: nosuch:image" in r.stderr
    finally:
        cli("rm", "-f", "user", check=False)
        cli("rmi", "inuse:1", check=False)
