"""Image operations through the real docker CLI: images, tag, inspect, history, rmi, prune."""

from __future__ import annotations

import json

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import IMAGE, docker

pytestmark = pytest.mark.root


def test_images_tag_inspect_history_rmi(wharfd: Daemon) -> None:
    listing = docker(wharfd, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert "busybox:latest" in listing
    docker(wharfd, "tag", IMAGE, "example.com/team/tool:1.0")
    table = docker(wharfd, "images").stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.startswith("example.com/team/tool") and " 1.0 " in line for line in table)
    info = json.loads(docker(wharfd, "image", "inspect", "example.com/team/tool:1.0").stdout)[0]
    assert info["Id"].startswith("sha256:") and "busybox:latest" in info["RepoTags"]
    assert info["Os"] == "linux" and info["RootFS"]["Type"] == "layers"
    short = info["Id"][7:19]
    hist = docker(wharfd, "history", "--format", "{{.ID}} {{.CreatedBy}}", IMAGE).stdout.splitlines()
    assert hist[0].startswith(short)
    filtered = docker(wharfd, "images", "--filter", "reference=example.com/*/*", "-q").stdout.split()
    assert filtered == [short]
    # two names: removing one only untags
    out = docker(wharfd, "rmi", "example.com/team/tool:1.0").stdout.strip()
    assert out == "Untagged: example.com/team/tool:1.0"
    assert docker(wharfd, "image", "inspect", "-f", "{{.Id}}", IMAGE).stdout.strip() == info["Id"]


def test_rmi_refuses_an_image_in_use(wharfd: Daemon) -> None:
    docker(wharfd, "tag", IMAGE, "inuse:1")
    docker(wharfd, "create", "--name", "user", "inuse:1", "true")
    try:
        short = docker(wharfd, "image", "inspect", "-f", "{{.Id}}", IMAGE).stdout.strip()[7:19]
        r = docker(wharfd, "rmi", short, check=False)
        assert r.returncode == 1
        assert "must be forced" in r.stderr
        r = docker(wharfd, "rmi", "nosuch:image", check=False)
        assert r.returncode == 1 and "No such image: nosuch:image" in r.stderr
    finally:
        docker(wharfd, "rm", "-f", "user", check=False)
        docker(wharfd, "rmi", "inuse:1", check=False)
