"""Descriptors and platforms: how one OCI object points at another.

A descriptor is (media type, digest, size) plus optional annotations, platform and urls. Manifests
point at a config and layers with descriptors, indexes point at manifests, and an image record
points at what was pulled. ``to_json``/``from_json`` use the OCI field names, so a descriptor
round-trips through any manifest unchanged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from wharf.errors import InvalidArgument
from wharf.oci.digest import parse_digest

# OCI image spec
MEDIA_TYPE_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_TYPE_OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
MEDIA_TYPE_OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MEDIA_TYPE_OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
# Docker image manifest v2 schema 2
MEDIA_TYPE_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_TYPE_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_TYPE_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_TYPE_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MEDIA_TYPE_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_TYPE_DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
MEDIA_TYPE_DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFEST_TYPES = frozenset({MEDIA_TYPE_OCI_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST})
INDEX_TYPES = frozenset({MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_DOCKER_MANIFEST_LIST})
CONFIG_TYPES = frozenset({MEDIA_TYPE_OCI_CONFIG, MEDIA_TYPE_DOCKER_CONFIG})
GZIP_LAYER_TYPES = frozenset(
    {
        MEDIA_TYPE_OCI_LAYER_GZIP,
        MEDIA_TYPE_OCI_LAYER_NONDIST_GZIP,
        MEDIA_TYPE_DOCKER_LAYER_GZIP,
        MEDIA_TYPE_DOCKER_FOREIGN_LAYER,
    }
)
ZSTD_LAYER_TYPES = frozenset(
    {MEDIA_TYPE_OCI_LAYER_ZSTD, MEDIA_TYPE_OCI_LAYER_NONDIST_ZSTD, MEDIA_TYPE_DOCKER_LAYER_ZSTD}
)
PLAIN_LAYER_TYPES = frozenset({MEDIA_TYPE_OCI_LAYER, MEDIA_TYPE_OCI_LAYER_NONDIST, MEDIA_TYPE_DOCKER_LAYER})
LAYER_TYPES = GZIP_LAYER_TYPES | ZSTD_LAYER_TYPES | PLAIN_LAYER_TYPES
FOREIGN_LAYER_TYPES = frozenset(
    {
        MEDIA_TYPE_DOCKER_FOREIGN_LAYER,
        MEDIA_TYPE_OCI_LAYER_NONDIST,
        MEDIA_TYPE_OCI_LAYER_NONDIST_GZIP,
        MEDIA_TYPE_OCI_LAYER_NONDIST_ZSTD,
    }
)

_ARCH_FROM_UNAME = {
    "x86_64": ("amd64", None),
    "aarch64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i686": ("386", None),
    "i386": ("386", None),
    "ppc64le": ("ppc64le", None),
    "s390x": ("s390x", None),
    "riscv64": ("riscv64", None),
}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    @classmethod
    def host(cls) -> Platform:
        machine = os.uname().machine
        arch, variant = _ARCH_FROM_UNAME.get(machine, (machine, None))
        return cls("linux", arch, variant)

    def matches(self, other: Platform) -> bool:
        """True if an image for ``other`` runs on ``self`` (arm64's variant defaults to v8)."""
        if self.os != other.os or self.architecture != other.architecture:
            return False
        if other.variant is None or self.variant is None:
            return True
        return self.variant == other.variant

    def __str__(self) -> str:
        s = f"{self.os}/{self.architecture}"
        return f"{s}/{self.variant}" if self.variant else s

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            d["os.version"] = self.os_version
        if self.variant:
            d["variant"] = self.variant
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Platform:
        return cls(d.get("os", ""), d.get("architecture", ""), d.get("variant"), d.get("os.version"))


def parse_platform(s: str) -> Platform:
    """``linux/amd64``, ``linux/arm64/v8`` (``docker --platform`` syntax)."""
    parts = s.lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidArgument(f"invalid platform {s!r}: want os/arch[/variant]")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    urls: list[str] | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            d["urls"] = list(self.urls)
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        if self.platform is not None:
            d["platform"] = self.platform.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Descriptor:
        try:
            media_type, digest, size = d.get("mediaType", ""), d["digest"], d["size"]
        except (KeyError, TypeError) as e:
            raise InvalidArgument(f"invalid descriptor: missing {e}") from None
        if not isinstance(size, int) or size < 0:
            raise InvalidArgument(f"invalid descriptor {digest}: bad size {size!r}")
        platform = d.get("platform")
        return cls(
            media_type=media_type,
            digest=parse_digest(digest),
            size=size,
            annotations=d.get("annotations") or None,
            platform=Platform.from_json(platform) if platform else None,
            urls=d.get("urls") or None,
        )
