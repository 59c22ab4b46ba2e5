"""Answers shaped by the request's API version, as dockerd shapes them."""

from __future__ import annotations

from typing import Any

import pytest

from wharf.api import versions
from wharf.api.server import REQUEST_VERSION


def _request(version: str) -> Any:
    return {REQUEST_VERSION: version}


@pytest.mark.parametrize(
    "version,has_virtual", [("1.41", True), ("1.43", True), ("1.44", False), ("1.47", False)]
)
def test_virtual_size_is_gone_from_1_44(version: str, has_virtual: bool) -> None:
    out = versions.image_summary(_request(version), {"Id": "x", "Size": 5, "VirtualSize": 5})
    assert ("VirtualSize" in out) is has_virtual


@pytest.mark.parametrize("version,has_container", [("1.44", True), ("1.45", False)])
def test_image_inspect_loses_container_fields_at_1_45(version: str, has_container: bool) -> None:
    view = {"Id": "x", "VirtualSize": 5, "Container": "", "ContainerConfig": {}}
    out = versions.image_inspect(_request(version), view)
    assert ("Container" in out, "ContainerConfig" in out) == (has_container, has_container)


def test_unset_kernel_memory_is_left_out_from_1_42() -> None:
    view: dict[str, Any] = {"HostConfig": {"KernelMemory": 0, "KernelMemoryTCP": 0, "Memory": 1}}
    assert "KernelMemory" in versions.container_inspect(_request("1.41"), view)["HostConfig"]
    out = versions.container_inspect(_request("1.42"), {"HostConfig": {"KernelMemory": 0, "Memory": 1}})
    assert out["HostConfig"] == {"Memory": 1}
