"""Conformance suite run against both snapshotters: lifecycle, mounts, sharing, crash sweep."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.errors import AlreadyExists, Conflict, FailedPrecondition, NotFound
from wharf.snapshots import open_snapshotter
from wharf.snapshots.base import BaseSnapshotter
from wharf.snapshots.mount import mount_all, unmount
from wharf.snapshots.overlay import supported

DRIVERS = ["native", pytest.param("overlayfs", marks=pytest.mark.root)]


@pytest.fixture(params=DRIVERS)
def sn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseSnapshotter]:
    if request.param == "overlayfs" and not supported(str(tmp_path)):
        pytest.skip("overlayfs not supported here")
    s = open_snapshotter(str(tmp_path / "snap"), request.param)
    yield s
    s.close()


def _write(sn: BaseSnapshotter, key: str, rel: str, data: bytes) -> None:
    path = Path(sn.apply_dir(key)) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_lifecycle(sn: BaseSnapshotter) -> None:
    sn.prepare("k1")
    _write(sn, "k1", "a", b"1")
    sn.commit("layer1", "k1")
    assert sn.stat("layer1").kind == "committed"
    with pytest.raises(NotFound):
        sn.stat("k1")
    sn.prepare("k2", "layer1")
    sn.commit("layer2", "k2")
    assert [i.key for i in sn.walk()] == ["layer1", "layer2"]
    with pytest.raises(Conflict):
        sn.remove("layer1")
    with pytest.raises(AlreadyExists):
        sn.prepare("layer2")
    with pytest.raises(FailedPrecondition):
        sn.commit("x", "layer2")
    sn.prepare("active", "layer2")
    with pytest.raises(FailedPrecondition):
        sn.prepare("child-of-active", "active")
    for key in ("active", "layer2", "layer1"):
        sn.remove(key)
    assert sn.walk() == []
    assert os.listdir(f"{sn.root}/snapshots") == []


@pytest.mark.root
def test_mounted_rootfs_sees_layers(sn: BaseSnapshotter, tmp_path: Path) -> None:
    sn.prepare("k1")
    _write(sn, "k1", "a", b"1")
    sn.commit("l1", "k1")
    sn.prepare("k2", "l1")
    _write(sn, "k2", "b", b"2")
    sn.commit("l2", "k2")
    target = tmp_path / "mnt"
    target.mkdir()
    mount_all(sn.prepare("ctr", "l2"), str(target))
    try:
        assert (target / "a").read_bytes() == b"1" and (target / "b").read_bytes() == b"2"
        (target / "c").write_bytes(b"3")
    finally:
        unmount(str(target))
    assert not (Path(sn.fs_dir("l2")) / "c").exists()
    mount_all(sn.view("v", "l2"), str(target))
    try:
        assert sorted(os.listdir(target)) == ["a", "b"]
        with pytest.raises(OSError):
            (target / "d").write_bytes(b"")
    finally:
        unmount(str(target))


def test_orphan_dirs_swept_on_open(sn: BaseSnapshotter) -> None:
    os.makedirs(f"{sn.root}/snapshots/999/fs")
    sn.prepare("k")
    type(sn)(sn.root).close()
    assert sorted(os.listdir(f"{sn.root}/snapshots")) == [str(sn.stat("k").id)]


def test_snapshot_directories_are_spread_over_block_groups(sn: BaseSnapshotter) -> None:
    """On ext2/3/4 the snapshots directory carries the top-directory hint (``lsattr``: T), so each
    snapshot lands in the least used block group (see docs/architecture.md, Images)."""
    if _fs_type(sn.root) != "ext4":
        pytest.skip("not on ext4")
    out = subprocess.run(["lsattr", "-d", f"{sn.root}/snapshots"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"lsattr: {out.stderr.strip()}")
    assert "T" in out.stdout.split()[0]


def _fs_type(path: str) -> str:
    best, kind = "", ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mnt, fstype = fields[4], fields[fields.index("-") + 1]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, kind = mnt, fstype
    return kind
