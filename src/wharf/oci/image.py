"""Manifests, indexes and image configs: pure functions over their JSON.

A pulled or loaded image is a graph in the content store: (index →) manifest → config + layers.
``platform_manifest`` picks the manifest for a platform out of an index, ``chain_ids`` turns the
config's DiffIDs into the keys layer snapshots are stored under, and ``children`` lists the
descriptors an object points at (for GC and for save).
"""

from __future__ import annotations

import json
from typing import Any

from wharf.errors import InvalidArgument, NotFound
from wharf.oci.descriptor import CONFIG_TYPES, INDEX_TYPES, MANIFEST_TYPES, Descriptor, Platform
from wharf.oci.digest import sha256_digest


def loads(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError as e:
        raise InvalidArgument(f"invalid {what} json: {e}") from None
    if not isinstance(obj, dict):
        raise InvalidArgument(f"invalid {what} json: not an object")
    return obj


def dumps(obj: dict[str, Any]) -> bytes:
    """Canonical-enough JSON for new objects (compact, sorted keys would change digests of others)."""
    return json.dumps(obj, separators=(",", ":")).encode()


def media_type_of(obj: dict[str, Any], fallback: str = "") -> str:
    mt = obj.get("mediaType")
    if isinstance(mt, str) and mt:
        return mt
    if "manifests" in obj:
        return "application/vnd.oci.image.index.v1+json"
    if "layers" in obj and "config" in obj:
        return "application/vnd.oci.image.manifest.v1+json"
    return fallback


def is_index(media_type: str) -> bool:
    return media_type in INDEX_TYPES


def is_manifest(media_type: str) -> bool:
    return media_type in MANIFEST_TYPES


def is_config(media_type: str) -> bool:
    return media_type in CONFIG_TYPES


def index_manifests(index: dict[str, Any]) -> list[Descriptor]:
    return [Descriptor.from_json(d) for d in index.get("manifests") or []]


def manifest_config(manifest: dict[str, Any]) -> Descriptor:
    if "config" not in manifest:
        raise InvalidArgument("invalid manifest: no config")
    return Descriptor.from_json(manifest["config"])


def manifest_layers(manifest: dict[str, Any]) -> list[Descriptor]:
    return [Descriptor.from_json(d) for d in manifest.get("layers") or []]


def children(media_type: str, obj: dict[str, Any]) -> list[Descriptor]:
    if is_index(media_type):
        return index_manifests(obj)
    if is_manifest(media_type):
        return [manifest_config(obj), *manifest_layers(obj)]
    return []


def platform_manifest(index: dict[str, Any], platform: Platform) -> Descriptor:
    """The first manifest of ``index`` that runs on ``platform`` (attestations skipped)."""
    for desc in index_manifests(index):
        if desc.annotations and desc.annotations.get("vnd.docker.reference.type"):
            continue
        if desc.platform is None or platform.matches(desc.platform):
            return desc
    raise NotFound(f"no matching manifest for {platform} in the manifest list entries")


def diff_ids(config: dict[str, Any]) -> list[str]:
    rootfs = config.get("rootfs") or {}
    ids = rootfs.get("diff_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidArgument("invalid image config: rootfs.diff_ids")
    return ids


def chain_ids(diffs: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for d in diffs:
        out.append(d if not out else sha256_digest(f"{out[-1]} {d}".encode()))
    return out


def config_platform(config: dict[str, Any]) -> Platform:
    return Platform(config.get("os", "linux"), config.get("architecture", ""), config.get("variant"))
