"""docker save/load archives: round trip, interop with skopeo (a third-party implementation of
docker-archive and OCI layouts), hostile archives, import."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.errors import InvalidArgument
from wharf.images import archive
from wharf.images.store import ImageStore
from wharf.images.testimage import build_image

pytestmark = pytest.mark.root
SKOPEO = shutil.which("skopeo")


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[ImageStore, ImageStore]]:
    a = ImageStore(str(tmp_path / "a"))
    b = ImageStore(str(tmp_path / "b"))
    try:
        yield a, b
    finally:
        a.close()
        b.close()


LAYERS: list[dict[str, bytes | None]] = [
    {"etc/os": b"wharf\n", "bin/x": b"x"},
    {"etc/os": None, "etc/new": b"n"},
]


def test_save_then_load_round_trip(stores: tuple[ImageStore, ImageStore], tmp_path: Path) -> None:
    a, b = stores
    rec = build_image(a, "roundtrip:1", LAYERS)
    out = tmp_path / "img.tar"
    with open(out, "wb") as f:
        archive.save(a, ["roundtrip:1"], f)
    names = set(tarfile.open(out).getnames())
    assert {"manifest.json", "index.json", "oci-layout"} <= names
    with open(out, "rb") as f:
        assert archive.load(b, f) == ["Loaded image: roundtrip:1"]
    loaded = b.resolve("roundtrip:1")
    assert loaded.id == rec.id
    assert b.top_chain_id(loaded) == a.top_chain_id(rec)


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
def test_skopeo_reads_what_wharf_saves(stores: tuple[ImageStore, ImageStore], tmp_path: Path) -> None:
    a, _ = stores
    rec = build_image(a, "interop:1", LAYERS)
    out = tmp_path / "img.tar"
    with open(out, "wb") as f:
        archive.save(a, ["interop:1"], f)
    layout = tmp_path / "layout"
    r = subprocess.run([str(SKOPEO), "copy", f"docker-archive:{out}", f"oci:{layout}:interop"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    index = json.loads((layout / "index.json").read_text())
    mdigest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / mdigest).read_text())
    config = json.loads(
        (layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_text()
    )
    assert config["rootfs"]["diff_ids"] == json.loads(a.content.read_bytes(rec.id))["rootfs"]["diff_ids"]


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
def test_wharf_loads_what_skopeo_writes(stores: tuple[ImageStore, ImageStore], tmp_path: Path) -> None:
    a, b = stores
    rec = build_image(a, "fromskopeo:1", LAYERS)
    src = tmp_path / "src.tar"
    with open(src, "wb") as f:
        archive.save(a, ["fromskopeo:1"], f)
    layout = tmp_path / "layout"
    subprocess.run([str(SKOPEO), "copy", f"docker-archive:{src}", f"oci:{layout}:x"], check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    dockerarchive = tmp_path / "skopeo.tar"
    dest = f"docker-archive:{dockerarchive}:other/name:2"
    r = subprocess.run(
        [str(SKOPEO), "copy", f"oci:{layout}:x", dest], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    with open(dockerarchive, "rb") as f:
        assert archive.load(b, f) == ["Loaded image: other/name:2"]
    loaded = b.resolve("other/name:2")
    # skopeo rewrites the config (so the ID changes); the layers must be the very same
    assert b.config(loaded)["rootfs"]["diff_ids"] == a.config(rec)["rootfs"]["diff_ids"]
    assert b.top_chain_id(loaded) == a.top_chain_id(rec)


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            t.addfile(info, io.BytesIO(data) if info.isfile() else None)
    buf.seek(0)
    return buf


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    i = tarfile.TarInfo(name)
    i.type = kind
    i.linkname = link
    return i


@pytest.mark.parametrize(
    "members",
    [
        [(_info("../escape"), b"x")],
        [(_info("/etc/evil"), b"x")],
        [(_info("manifest.json", tarfile.SYMTYPE, "/etc/passwd"), b"")],
        [(_info("a", tarfile.SYMTYPE, "../../outside"), b"")],
        [(_info("dev", tarfile.CHRTYPE), b"")],
    ],
    ids=["dotdot", "absolute", "symlink-absolute", "symlink-up", "device"],
)
def test_hostile_archives_are_refused(
    members: list[tuple[tarfile.TarInfo, bytes]], stores: tuple[ImageStore, ImageStore], tmp_path: Path
) -> None:
    _, b = stores
    with pytest.raises(InvalidArgument, match="invalid archive"):
        archive.load(b, _tar(members))
    assert b.list_images() == []
    assert not (tmp_path / "escape").exists()


def test_load_refuses_layers_that_do_not_match_the_config(stores: tuple[ImageStore, ImageStore]) -> None:
    _, b = stores
    config = {"rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64]}, "config": {}}
    layer = _tar([(_info("f"), b"data")]).getvalue()
    members = [
        (_info("config.json"), json.dumps(config).encode()),
        (_info("l/layer.tar"), layer),
        (
            _info("manifest.json"),
            json.dumps([{"Config": "config.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]).encode(),
        ),  # fmt: skip
    ]
    with pytest.raises(InvalidArgument, match="diff IDs"):
        archive.load(b, _tar(members))
    assert b.list_images() == []


def test_import_rootfs_with_changes(stores: tuple[ImageStore, ImageStore]) -> None:
    a, _ = stores
    tar = _tar([(_info("bin/hello"), b"#!/bin/sh\necho hi\n")])
    image_id = archive.import_rootfs(a, tar, "imported:1", ['CMD ["/bin/hello"]', "ENV A=1"], "from a test")
    rec = a.resolve("imported:1")
    assert rec.id == image_id
    cfg = a.config(rec)
    assert cfg["config"]["Cmd"] == ["/bin/hello"] and cfg["config"]["Env"] == ["A=1"]
    assert cfg["history"][0]["comment"] == "from a test"
    with pytest.raises(InvalidArgument, match="not a valid change command"):
        archive.import_rootfs(a, _tar([(_info("x"), b"")]), "bad:1", ["RUN rm -rf /"])
