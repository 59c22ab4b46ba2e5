"""Small images built in memory, for tests and benchmarks: layers as {path: bytes | None}
(None = a whiteout deleting that path), gzip-compressed, with a config and an OCI manifest."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wharf.base import trees
from wharf.oci.descriptor import Descriptor

if TYPE_CHECKING:
    from wharf.images.store import ImageRecord, ImageStore

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Blobs:
    manifest: bytes
    config: bytes
    layers: list[bytes]

    def all(self) -> list[bytes]:
        return [self.manifest, self.config, *self.layers]

    @property
    def manifest_descriptor(self) -> Descriptor:
        return Descriptor(MANIFEST, digest(self.manifest), len(self.manifest))


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for path in sorted(files):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
            data = files[path]
            name = "/".join(parts)
            if data is None:
                head, _, base = name.rpartition("/")
                info = tarfile.TarInfo(f"{head}/.wh.{base}" if head else f".wh.{base}")
                tar.addfile(info, io.BytesIO(b""))
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_blobs(
    layers: list[dict[str, bytes | None]],
    config: dict[str, Any] | None = None,
    raw_layers: list[bytes] | None = None,
) -> Blobs:
    tars = list(raw_layers or []) + [layer_tar(files) for files in layers]
    gz = [gzip.compress(t, compresslevel=1, mtime=0) for t in tars]
    cfg = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": config
        or {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [digest(t) for t in tars]},
        "history": [
            {"created": "2026-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(tars))
        ],
    }
    cfg_bytes = json.dumps(cfg, sort_keys=True).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, "digest": digest(cfg_bytes), "size": len(cfg_bytes)},
        "layers": [{"mediaType": LAYER_GZIP, "digest": digest(g), "size": len(g)} for g in gz],
    }
    return Blobs(json.dumps(manifest, sort_keys=True).encode(), cfg_bytes, gz)


def build_image(
    store: ImageStore,
    name: str,
    layers: list[dict[str, bytes | None]],
    config: dict[str, Any] | None = None,
    raw_layers: list[bytes] | None = None,
) -> ImageRecord:
    """Write the blobs, name the image and unpack it; returns its record."""
    blobs = make_blobs(layers, config, raw_layers)
    with store.lease():
        for data in blobs.all():
            store.content.put_bytes(data, digest(data))
        store.set_image(name, blobs.manifest_descriptor)
    store.unpack(blobs.manifest_descriptor.digest)
    return store.get_image(name)


def rootfs_tar(rootfs: str) -> bytes:
    """An uncompressed tar of a directory tree (e.g. the busybox rootfs) to use as a raw layer."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in trees.walk(rootfs):  # tarfile's own recursion stops near 1,000 levels
            for name in sorted(d.dirs + d.files):
                arc = d.path(name)
                tar.add(os.path.join(rootfs, arc), arcname=arc, recursive=False)
    return buf.getvalue()
