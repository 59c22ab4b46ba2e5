"""`docker save` / `docker load` archives and `docker import`.

``save`` writes what docker 25+ writes, which older docker loads too: an OCI image layout
(``oci-layout``, ``index.json``, ``blobs/sha256/...``) plus docker's ``manifest.json`` naming,
for each image, its config and its layers — uncompressed tars whose digests are the diff IDs.
``load`` reads that, docker's legacy format (``<id>/layer.tar`` entries, possibly compressed) and
plain OCI layouts, from a tar that may itself be gzip/bzip2/xz-compressed. Nothing is imported
unless the whole archive is sound: member paths must stay inside the archive, links must point
inside it, every blob must match its digest and every layer the config's diff IDs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
import tempfile
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from wharf.archive.apply import open_dir
from wharf.archive.compression import decompressed
from wharf.errors import InvalidArgument
from wharf.oci import image as ociimage
from wharf.oci.descriptor import Descriptor
from wharf.oci.reference import parse_reference

if TYPE_CHECKING:
    from wharf.images.store import ImageStore

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
CHUNK = 1 << 20


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


# --- save


def save(store: ImageStore, names: list[str], out: IO[bytes]) -> None:
    written: set[str] = set()
    entries: list[dict[str, Any]] = []
    index: list[dict[str, Any]] = []
    with (
        tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        tempfile.TemporaryDirectory() as tmp,
    ):
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        for name in names:
            record = store.resolve(name)
            _, manifest = store.platform_manifest(record.target)
            cfg_desc = ociimage.manifest_config(manifest)
            cfg_bytes = store.content.read_bytes(cfg_desc.digest)
            config = json.loads(cfg_bytes)
            diff_ids = ociimage.diff_ids(config)
            layers = ociimage.manifest_layers(manifest)
            layer_descs = []
            for blob, diff in zip(layers, diff_ids, strict=True):
                path = f"blobs/sha256/{_hex(diff)}"
                if diff not in written:
                    size = _add_uncompressed(store, tar, blob.digest, path, tmp)
                    written.add(diff)
                else:
                    size = _diff_size(store, blob)
                layer_descs.append({"mediaType": OCI_LAYER, "digest": diff, "size": size})
            if cfg_desc.digest not in written:
                _add_bytes(tar, f"blobs/sha256/{_hex(cfg_desc.digest)}", cfg_bytes)
                written.add(cfg_desc.digest)
            new_manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": cfg_desc.digest, "size": len(cfg_bytes)},
                    "layers": layer_descs,
                },
                separators=(",", ":"),
            ).encode()
            mdigest = "sha256:" + hashlib.sha256(new_manifest).hexdigest()
            if mdigest not in written:
                _add_bytes(tar, f"blobs/sha256/{_hex(mdigest)}", new_manifest)
                written.add(mdigest)
            tags = _tags_for(store, name, record.id)
            entries.append(
                {
                    "Config": f"blobs/sha256/{_hex(cfg_desc.digest)}",
                    "RepoTags": tags or None,
                    "Layers": [f"blobs/sha256/{_hex(d)}" for d in diff_ids],
                }
            )
            desc: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": mdigest, "size": len(new_manifest)}
            if tags:
                full = str(parse_reference(tags[0]))
                desc["annotations"] = {
                    "io.containerd.image.name": full,
                    "org.opencontainers.image.ref.name": full.rsplit(":", 1)[1],
                }
            index.append(desc)
        _add_bytes(
            tar,
            "index.json",
            json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}).encode(),
        )
        _add_bytes(tar, "manifest.json", json.dumps(entries).encode())
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')


def _tags_for(store: ImageStore, asked: str, image_id: str) -> list[str]:
    """The names to record, as dockerd's save chooses them: none for an image asked by its ID or
    digest, the one asked for when it has a tag, every tag of the repository for a bare name."""
    if _is_id(asked, image_id):
        return []
    try:
        ref = parse_reference(asked)
    except (InvalidArgument, ValueError):
        return []
    if ref.digest is not None:
        return []
    last = asked.rsplit("/", 1)[-1]
    if ":" in last:
        return [ref.familiar()]
    out = []
    for r in store.list_images():
        other = r.reference()
        if r.id == image_id and other is not None and other.digest is None and other.name() == ref.name():
            out.append(other.familiar())
    return sorted(out)


def _is_id(asked: str, image_id: str) -> bool:
    """``asked`` names the image by (a prefix of) its ID, as ``docker save 0fe3`` does."""
    hexpart = asked.removeprefix("sha256:")
    return (
        len(hexpart) >= 4
        and all(c in "0123456789abcdef" for c in hexpart)
        and (image_id.removeprefix("sha256:").startswith(hexpart))
    )


def _diff_size(store: ImageStore, blob: Descriptor) -> int:
    n = 0
    with store.content.open(blob.digest) as raw:
        stream = decompressed(raw)
        while chunk := stream.read(CHUNK):
            n += len(chunk)
    return n


def _add_uncompressed(store: ImageStore, tar: tarfile.TarFile, digest: str, name: str, tmp: str) -> int:
    path = os.path.join(tmp, "layer")
    with store.content.open(digest) as raw, open(path, "wb") as f:
        stream = decompressed(raw)
        while chunk := stream.read(CHUNK):
            f.write(chunk)
    size = os.path.getsize(path)
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    with open(path, "rb") as f:
        tar.addfile(info, f)
    os.unlink(path)
    return size


# --- load


def _spool(inp: IO[bytes], dest: str) -> str:
    path = os.path.join(dest, "archive")
    with open(path, "wb") as f:
        shutil.copyfileobj(inp, f, CHUNK)
    return path


def _safe_extract(archive: str, dest: str) -> None:
    """Extract with every path and link kept inside ``dest`` (refused otherwise). Directories are
    made and files written through directory fds, never by a path: the archive's tree may be of
    any depth."""
    root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for m in tar:
                _extract_member(tar, m, root)
    finally:
        os.close(root)


def _extract_member(tar: tarfile.TarFile, m: tarfile.TarInfo, root: int) -> None:
    name = os.path.normpath(m.name)
    if m.name.startswith("/") or name == ".." or name.startswith("../"):
        raise InvalidArgument(f"invalid archive: {m.name!r} is outside the archive")
    if m.isdir():
        os.close(open_dir(root, "" if name == "." else name, create=True, what=m.name))
        return
    parent, base = os.path.split(name)
    if m.issym() or m.islnk():
        link = m.linkname if m.islnk() else os.path.join(parent, m.linkname)
        resolved = os.path.normpath(link)
        if m.linkname.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise InvalidArgument(f"invalid archive: link {m.name!r} points outside the archive")
        src = _open_member_file(root, resolved)
        if src is None:
            raise InvalidArgument(f"invalid archive: link {m.name!r} to a missing file")
        with os.fdopen(src, "rb") as f:
            _write_member(root, parent, base, f, m.name)
        return
    if not m.isfile():
        raise InvalidArgument(f"invalid archive: {m.name!r} is not a regular file")
    src_f = tar.extractfile(m)
    assert src_f is not None
    _write_member(root, parent, base, src_f, m.name)


def _open_member_file(root: int, rel: str) -> int | None:
    """An fd of regular file ``rel`` under ``root`` (no symlink followed), or None."""
    parent, base = os.path.split(rel)
    try:
        pfd = open_dir(root, parent, create=False, what=rel)
    except (FileNotFoundError, InvalidArgument):
        return None
    try:
        fd = os.open(base, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=pfd)
    except OSError:
        return None
    finally:
        os.close(pfd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    os.set_blocking(fd, True)
    return fd


def _write_member(root: int, parent: str, base: str, src: IO[bytes], what: str) -> None:
    pfd = open_dir(root, parent, create=True, what=what)
    try:
        fd = os.open(
            base, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=pfd
        )
    finally:
        os.close(pfd)
    with os.fdopen(fd, "wb") as f:
        shutil.copyfileobj(src, f, CHUNK)


def _inside(root: str, rel: str) -> str:
    path = os.path.normpath(os.path.join(root, rel))
    if not path.startswith(root + os.sep):
        raise InvalidArgument(f"invalid archive: {rel!r} is outside the archive")
    return path


def _digest_file(path: str) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            n += len(chunk)
    return "sha256:" + h.hexdigest(), n


def _uncompressed_layer(path: str, tmp: str) -> str:
    """The layer as an uncompressed tar file (a new file if it was compressed)."""
    with open(path, "rb") as f:
        head = f.read(6)
    if (
        head[:2] == b"\x1f\x8b"
        or head[:4] == b"\x28\xb5\x2f\xfd"
        or head[:3] == b"BZh"
        or head[:6] == b"\xfd7zXZ\x00"
    ):
        out = os.path.join(tmp, f"layer-{os.urandom(6).hex()}")
        with open(path, "rb") as raw, open(out, "wb") as f:
            stream: Any
            if head[:3] == b"BZh":
                import bz2

                stream = bz2.open(raw)
            elif head[:6] == b"\xfd7zXZ\x00":
                import lzma

                stream = lzma.open(raw)
            else:
                stream = decompressed(raw)
            while chunk := stream.read(CHUNK):
                f.write(chunk)
        return out
    return path


def load(store: ImageStore, inp: IO[bytes]) -> list[str]:
    """Import every image of the archive; returns docker's lines ("Loaded image: busybox:latest")."""
    with store.temp_dir() as tmp:  # removed at any depth: the archive's own tree
        return _load(store, inp, tmp)


def _load(store: ImageStore, inp: IO[bytes], tmp: str) -> list[str]:
    archive = _spool(inp, tmp)
    root = os.path.join(tmp, "x")
    os.makedirs(root)
    try:
        _safe_extract(archive, root)
    except tarfile.TarError as exc:
        raise InvalidArgument(f"invalid archive: {exc}") from None
    os.unlink(archive)
    if os.path.exists(os.path.join(root, "manifest.json")):
        return _load_docker(store, root, tmp)
    if os.path.exists(os.path.join(root, "index.json")):
        return _load_oci(store, root)
    raise InvalidArgument("invalid archive: neither manifest.json nor index.json found")


def _load_docker(store: ImageStore, root: str, tmp: str) -> list[str]:
    with open(os.path.join(root, "manifest.json")) as f:
        entries = json.load(f)
    if not isinstance(entries, list):
        raise InvalidArgument("invalid archive: manifest.json is not a list")
    plans = []
    for e in entries:
        cfg_path = _inside(root, e["Config"])
        with open(cfg_path, "rb") as f:
            cfg_bytes = f.read()
        config = json.loads(cfg_bytes)
        diffs = ociimage.diff_ids(config)
        layer_files = []
        for rel in e.get("Layers") or []:
            plain = _uncompressed_layer(_inside(root, rel), tmp)
            layer_files.append((plain, *_digest_file(plain)))
        got = [d for _, d, _ in layer_files]
        if got != diffs:
            raise InvalidArgument(f"invalid archive: layer diff IDs {got} do not match the config's {diffs}")
        plans.append((cfg_bytes, layer_files, list(e.get("RepoTags") or [])))
    lines = []
    with store.lease():
        for cfg_bytes, layer_files, tags in plans:
            cfg_digest = store.content.put_bytes(cfg_bytes)
            layers = []
            for path, d, size in layer_files:
                if not store.content.exists(d):
                    with open(path, "rb") as f:
                        store.content.put_file(f, d, size)
                layers.append({"mediaType": OCI_LAYER, "digest": d, "size": size})
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": cfg_digest, "size": len(cfg_bytes)},
                    "layers": layers,
                },
                separators=(",", ":"),
            ).encode()
            mdigest = store.content.put_bytes(manifest)
            target = Descriptor(OCI_MANIFEST, mdigest, len(manifest))
            store.unpack(mdigest)
            lines += _name(store, target, tags, cfg_digest)
    return lines


def _name(store: ImageStore, target: Descriptor, tags: list[str], image_id: str) -> list[str]:
    from wharf.images.store import DANGLING_PREFIX

    if not tags:
        if not store.names_of(image_id):
            store.set_image(DANGLING_PREFIX + target.digest, target)
        return [f"Loaded image ID: {image_id}"]
    out = []
    for t in tags:
        ref = parse_reference(t)
        store.set_image(str(ref), target)
        out.append(f"Loaded image: {ref.familiar()}")
    return out


def _oci_blobs(blobs: str) -> list[tuple[str, str]]:
    """The layout's blobs, blobs/<algorithm>/<encoded>, as (algorithm, encoded); anything
    nested deeper is no blob of the layout and is not looked at."""
    out = []
    for alg in sorted(os.listdir(blobs)) if os.path.isdir(blobs) else ():
        path = os.path.join(blobs, alg)
        if os.path.isdir(path) and not os.path.islink(path):
            out += [(alg, n) for n in sorted(os.listdir(path)) if os.path.isfile(os.path.join(path, n))]
    return out


def _load_oci(store: ImageStore, root: str) -> list[str]:
    with open(os.path.join(root, "index.json")) as f:
        index = json.load(f)
    blobs = os.path.join(root, "blobs")
    found = _oci_blobs(blobs)
    for alg, name in found:
        d, _ = _digest_file(os.path.join(blobs, alg, name))
        if d != f"{alg}:{name}":
            raise InvalidArgument(f"invalid archive: blob {alg}:{name} does not match its content")
    lines = []
    with store.lease():
        for alg, name in found:
            with open(os.path.join(blobs, alg, name), "rb") as f:
                store.content.put_file(f, f"{alg}:{name}")
        for m in index.get("manifests") or []:
            target = Descriptor(m.get("mediaType") or OCI_MANIFEST, m["digest"], int(m["size"]))
            mdesc, _ = store.platform_manifest(target)
            store.unpack(mdesc.digest)
            ann = m.get("annotations") or {}
            name = ann.get("io.containerd.image.name") or ""
            ref_name = ann.get("org.opencontainers.image.ref.name") or ""
            tags = (
                [name] if name else ([ref_name] if ref_name and ":" in ref_name or "/" in ref_name else [])
            )
            config = ociimage.manifest_config(store.read_json(mdesc.digest, "manifest")).digest
            lines += _name(store, target, tags, config)
    return lines


# --- import


def import_rootfs(
    store: ImageStore, inp: IO[bytes], ref: str | None, changes: list[str] | None = None, message: str = ""
) -> str:
    """`docker import`: a rootfs tar (possibly compressed) becomes a one-layer image. Returns its ID."""
    from wharf.images.store import DANGLING_PREFIX

    config_section = apply_changes({}, changes or [])
    with store.temp_dir() as tmp:
        raw = _spool(inp, tmp)
        plain = _uncompressed_layer(raw, tmp)
        try:
            with tarfile.open(plain, mode="r:") as t:
                for _ in t:
                    pass
        except tarfile.TarError as exc:
            raise InvalidArgument(f"invalid tar archive: {exc}") from None
        diff, size = _digest_file(plain)
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
        config = {
            "architecture": arch,
            "os": "linux",
            "created": now,
            "config": config_section,
            "rootfs": {"type": "layers", "diff_ids": [diff]},
            "history": [
                {
                    "created": now,
                    "created_by": "Imported from -",
                    **({"comment": message} if message else {}),
                }
            ],
        }
        if message:
            config["comment"] = message
        cfg_bytes = json.dumps(config, separators=(",", ":")).encode()
        with store.lease():
            with open(plain, "rb") as f:
                store.content.put_file(f, diff, size)
            cfg_digest = store.content.put_bytes(cfg_bytes)
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": cfg_digest, "size": len(cfg_bytes)},
                    "layers": [{"mediaType": OCI_LAYER, "digest": diff, "size": size}],
                },
                separators=(",", ":"),
            ).encode()
            mdigest = store.content.put_bytes(manifest)
            target = Descriptor(OCI_MANIFEST, mdigest, len(manifest))
            store.unpack(mdigest)
            store.set_image(str(parse_reference(ref)) if ref else DANGLING_PREFIX + mdigest, target)
    return cfg_digest


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """The Dockerfile instructions `docker import --change` accepts: CMD, ENTRYPOINT, ENV, EXPOSE,
    LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL."""
    out = dict(config)
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        word = word.upper()
        rest = rest.strip()
        if word in ("CMD", "ENTRYPOINT"):
            try:
                value = json.loads(rest)
                if not isinstance(value, list):
                    raise ValueError
            except ValueError:
                value = ["/bin/sh", "-c", rest]
            out["Cmd" if word == "CMD" else "Entrypoint"] = value
        elif word == "ENV":
            key, sep, val = rest.partition("=")
            if not sep:
                key, _, val = rest.partition(" ")
            env = [e for e in out.get("Env") or [] if not e.startswith(f"{key}=")]
            out["Env"] = [*env, f"{key}={val.strip()}"]
        elif word == "EXPOSE":
            ports = dict(out.get("ExposedPorts") or {})
            for p in rest.split():
                ports[p if "/" in p else f"{p}/tcp"] = {}
            out["ExposedPorts"] = ports
        elif word == "LABEL":
            labels = dict(out.get("Labels") or {})
            key, _, val = rest.partition("=")
            labels[key.strip()] = val.strip().strip('"')
            out["Labels"] = labels
        elif word == "USER":
            out["User"] = rest
        elif word == "WORKDIR":
            out["WorkingDir"] = rest
        elif word == "VOLUME":
            vols = dict(out.get("Volumes") or {})
            for v in json.loads(rest) if rest.startswith("[") else rest.split():
                vols[v] = {}
            out["Volumes"] = vols
        elif word == "STOPSIGNAL":
            out["StopSignal"] = rest
        else:
            raise InvalidArgument(f"{word} is not a valid change command")
    return out


def iter_chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk
