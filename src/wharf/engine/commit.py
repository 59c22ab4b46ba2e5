"""``commit``: a new image, the container's image plus one layer holding the container's changes.

The layer is the overlay upper directory written as an OCI layer (``files.layer_of``: 0/0 char
devices → ``.wh.`` files, opaque directories → ``.wh..wh..opq``), gzip level 1; the config is
the parent's with the container's configuration merged in (Docker's rules) and one history
entry more; the manifest keeps the parent's media-type family (Docker or OCI).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wharf.base.idmap import IdMap
from wharf.engine.files import layer_of
from wharf.errors import InvalidArgument, Unsupported

if TYPE_CHECKING:
    from wharf.engine.containers import Container
    from wharf.images.store import ImageRecord, ImageStore

_CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts",
    "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes",
    "WorkingDir", "Entrypoint", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell",
)  # fmt: skip


@dataclass(frozen=True)
class CommitRequest:
    """What POST /commit asks: the new name (empty for a dangling image), the history's words,
    the configuration to set (the body) and Dockerfile-like --change instructions."""

    repo: str = ""
    tag: str = ""
    comment: str = ""
    author: str = ""
    config: dict[str, Any] | None = None
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Layer:
    path: str  # the gzipped tar
    diff_id: str
    digest: str
    size: int


def merge_config(user: dict[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """Docker's commit merge: what the request (and --change) set wins; the rest comes from the
    container's config; Env, ExposedPorts, Volumes and Labels are unions."""
    from wharf.engine.specgen import merge_env

    out = {k: container.get(k) for k in _CONFIG_KEYS if k in container}
    for k, v in user.items():
        if v in (None, "", [], {}):
            continue
        if k == "Env":
            out["Env"] = merge_env(list(container.get("Env") or []), list(v))
        elif k in ("ExposedPorts", "Volumes", "Labels"):
            out[k] = {**(container.get(k) or {}), **v}
        else:
            out[k] = v
    return out


def commit(images: ImageStore, c: Container, req: CommitRequest) -> str:
    """Blocking (run it in an executor thread); returns the new image's ID."""
    from wharf.images.archive import apply_changes
    from wharf.images.ops import PARENT_LABEL

    ref = _reference(req.repo, req.tag)
    if not images.snapshots.overlay_whiteouts:
        raise Unsupported("commit needs the overlay snapshotter (the native one keeps no diff to commit)")
    record = images.resolve(c.image_id)
    parent_config = images.config(record)
    section = merge_config(apply_changes(dict(req.config or {}), list(req.changes)), c.config)
    section.pop("Image", None)
    config = _image_config(parent_config, section, c, req)
    labels = {PARENT_LABEL: c.image_id}
    return write_image(images, record, config, images.snapshots.fs_dir(c.snapshot_key), ref, labels)


def write_image(
    images: ImageStore,
    parent: ImageRecord | None,
    config: dict[str, Any],
    upper: str | None,
    ref: str = "",
    labels: dict[str, str] | None = None,
    unnamed: str = "",
    adopt: str = "",
) -> str:
    """Blocking: a new image of ``config`` (its rootfs the parent's layers), plus one layer of
    the overlay upper directory ``upper`` (None: no layer, an ``empty_layer`` step), named
    ``ref`` or ``unnamed`` + its manifest digest (default: dangling); returns its ID. The
    manifest keeps the parent's media-type family (Docker's without a parent). ``adopt``: the
    active snapshot whose upper directory ``upper`` is (a container that never ran, unmounted):
    it becomes the new layer's snapshot as it is, instead of the layer unpacked again (and an
    empty one of the same key is left for the container's removal)."""
    from wharf.images.store import DANGLING_PREFIX
    from wharf.oci import descriptor as d

    parent_manifest = images.manifest(parent) if parent is not None else {"layers": []}
    docker = parent is None or parent_manifest.get("mediaType") == d.MEDIA_TYPE_DOCKER_MANIFEST
    with images.temp_dir() as tmp:
        layer = _write_layer(upper, tmp, images.snapshots.id_map) if upper is not None else None
        if layer is not None:
            config["rootfs"] = {"type": "layers", "diff_ids": [*config["rootfs"]["diff_ids"], layer.diff_id]}
        cfg_bytes = json.dumps(config, separators=(",", ":")).encode()
        with images.lease():
            if layer is not None:
                with open(layer.path, "rb") as f:
                    images.content.put_file(f, layer.digest, layer.size)
            cfg_digest: str = images.content.put_bytes(cfg_bytes)
            manifest = _manifest(parent_manifest, docker, cfg_digest, len(cfg_bytes), layer)
            m_bytes = json.dumps(manifest, separators=(",", ":")).encode()
            m_digest = images.content.put_bytes(m_bytes)
            if adopt and layer is not None:
                _adopt(images, manifest, adopt, upper or "")
            images.unpack(m_digest)
            target = d.Descriptor(str(manifest["mediaType"]), m_digest, len(m_bytes))
            images.set_image(ref or (unnamed or DANGLING_PREFIX) + m_digest, target, labels=labels)
    return cfg_digest


def _adopt(images: ImageStore, manifest: dict[str, Any], key: str, upper: str) -> None:
    """The container snapshot ``key`` committed as the manifest's top layer (see write_image),
    when that layer has no snapshot yet and the upper holds nothing the runtime made."""
    from wharf.engine.files import runtime_only
    from wharf.errors import AlreadyExists

    snaps = images.snapshots
    top = images.layers(manifest)[-1]
    if not snaps.overlay_whiteouts or snaps.exists(top.chain_id) or runtime_only(upper):
        return
    try:
        snaps.commit(top.chain_id, key)
    except AlreadyExists:  # another build made the same layer meanwhile: unpack finds it
        return
    snaps.prepare(key, top.chain_id)


def _reference(repo: str, tag: str) -> str:
    from wharf.oci.reference import parse_reference

    if not repo:
        return ""
    try:
        return str(parse_reference(f"{repo}:{tag or 'latest'}"))
    except (InvalidArgument, ValueError) as exc:
        raise InvalidArgument(str(exc)) from None


def _write_layer(upper: str, tmp: str, ids: IdMap | None) -> _Layer:
    from wharf.archive import gnutar
    from wharf.engine.files import runtime_only

    raw, gz = f"{tmp}/layer.tar", f"{tmp}/layer.tar.gz"
    fast = ids is None and not runtime_only(upper) and gnutar.create_layer(upper, raw)
    if not fast:
        with open(raw, "wb") as f:
            layer_of(upper, f, ids)
    diff_id = _sha256_file(raw)
    with open(raw, "rb") as src, open(gz, "wb") as dst:
        with gzip.GzipFile(fileobj=dst, mode="wb", compresslevel=1, mtime=0) as z:
            while chunk := src.read(1 << 20):
                z.write(chunk)
    return _Layer(gz, diff_id, _sha256_file(gz), os.path.getsize(gz))


def _image_config(
    parent: dict[str, Any], section: dict[str, Any], c: Container, req: CommitRequest
) -> dict[str, Any]:
    from wharf.base.times import now_rfc3339

    now = now_rfc3339()
    history = {"created": now, "created_by": " ".join(c.config.get("Cmd") or [])}
    if req.author:
        history["author"] = req.author
    if req.comment:
        history["comment"] = req.comment
    config = dict(parent)
    config.update(
        created=now,
        config=section,
        container=c.id,
        rootfs={"type": "layers", "diff_ids": list(parent["rootfs"]["diff_ids"])},
        history=[*(parent.get("history") or []), history],
    )
    for key, value in (("author", req.author), ("comment", req.comment)):
        if value:
            config[key] = value
        else:
            config.pop(key, None)
    return config


def _manifest(
    parent: dict[str, Any], docker: bool, cfg_digest: str, cfg_size: int, layer: _Layer | None
) -> dict[str, Any]:
    from wharf.oci import descriptor as d

    layer_type = d.MEDIA_TYPE_DOCKER_LAYER_GZIP if docker else d.MEDIA_TYPE_OCI_LAYER_GZIP
    return {
        "schemaVersion": 2,
        "mediaType": d.MEDIA_TYPE_DOCKER_MANIFEST if docker else d.MEDIA_TYPE_OCI_MANIFEST,
        "config": {
            "mediaType": d.MEDIA_TYPE_DOCKER_CONFIG if docker else d.MEDIA_TYPE_OCI_CONFIG,
            "digest": cfg_digest,
            "size": cfg_size,
        },
        "layers": [
            *parent["layers"],
            *([{"mediaType": layer_type, "digest": layer.digest, "size": layer.size}] if layer else []),
        ],
    }


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
