"""A container's files from outside: `cp` (the archive endpoints), `export` and `commit`.

The view `cp` works on is Docker's: the container's rootfs with its volumes, binds and the
/etc/{hosts,hostname,resolv.conf} files laid over it (tmpfs mounts are not part of it). A stopped
container's rootfs is mounted for the operation and taken down after; the container's lock is held
throughout so a start cannot race with it. All path handling is wharf.archive.scoped's: nothing a
container plants (symlinks to /, to /etc, `..`) makes the daemon read or write host files.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import posixpath
import stat
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import IO, TYPE_CHECKING, Any

from wharf.archive import scoped
from wharf.archive.compression import Readable
from wharf.errors import Conflict, InvalidArgument, NotFound, Unsupported

if TYPE_CHECKING:
    from wharf.engine.containers import Container
    from wharf.engine.engine import Engine

# what the runtime adds to every container's rootfs as mount points: not the container's changes
RUNTIME_PATHS = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev", "/proc", "/sys"})


def view_mounts(engine: Engine, c: Container) -> list[scoped.ViewMount]:
    from wharf.engine.specgen import ContainerFiles

    binds = ContainerFiles.under(engine.container_dir(c.id)).binds()
    out = [scoped.ViewMount(dest, src) for dest, src in binds if os.path.exists(src)]
    for m in c.mounts:
        if m["Type"] in ("volume", "bind") and m.get("Source"):
            out = [x for x in out if x.destination != m["Destination"]]
            out.append(scoped.ViewMount(m["Destination"], m["Source"], bool(m.get("RW", True))))
    return out


@asynccontextmanager
async def container_fs(engine: Engine, c: Container, volumes: bool = True) -> AsyncIterator[scoped.ScopedFS]:
    """The container's view, under its lock (see the module docstring); without ``volumes``,
    its rootfs alone (what `export` archives)."""
    from wharf.snapshots.mount import mount_all, unmount

    async with engine.lock(c.id):
        if c.state.status in ("removing", "dead") or c.id not in engine.containers.by_id:
            raise Conflict(f"container {c.id} is marked for removal")
        rootfs = engine.rootfs_dir(c.id)
        mounted = False
        acquired: list[str] = []
        try:
            if not os.path.ismount(rootfs):
                mounts = await engine.blocking(engine.images.snapshots.mounts, c.snapshot_key)
                os.makedirs(rootfs, 0o700, exist_ok=True)
                await engine.blocking(mount_all, mounts, rootfs)
                mounted = True
                for m in c.mounts if volumes else ():  # a stopped container's local-driver devices
                    if m["Type"] == "volume":
                        engine.volumes.acquire_device(engine.volumes.get(m["Name"]))
                        acquired.append(m["Name"])
            fs = await engine.blocking(scoped.ScopedFS, rootfs, view_mounts(engine, c) if volumes else [])
            try:
                yield fs
            finally:
                fs.close()
        finally:
            for name in acquired:
                engine.volumes.release_device(name)
            if mounted:
                await engine.blocking(unmount, rootfs)


def _not_found(path: str, name: str) -> NotFound:
    return NotFound(f"Could not find the file {path} in container {name}")


def _abs(path: str) -> str:
    """Docker's filepath.Join("/", path) that keeps a trailing "/" or "/."."""
    return scoped.preserve_trailing(posixpath.normpath("/" + path), path)


def stat_path(fs: scoped.ScopedFS, path: str, name: str) -> dict[str, Any]:
    try:
        st = scoped.path_stat(fs, _abs(path), follow=scoped.asserts_directory(path))
        if scoped.asserts_directory(path) and not st["mode"] & scoped.GO_DIR:
            raise NotADirectoryError
        return st
    except (FileNotFoundError, NotADirectoryError):
        raise _not_found(path, name) from None


def archive_path(fs: scoped.ScopedFS, path: str, out: IO[bytes]) -> None:
    """The tar `docker cp CONTAINER:path` reads: the resource under its own base name (a
    directory's entries under it; "/." asks for the contents, "/" for the whole tree)."""
    absp = _abs(path)
    with fs.resolve(absp, follow=scoped.asserts_directory(path)) as node:
        base = posixpath.basename(absp.rstrip("/")) if absp != "/" else ""
        if absp.endswith("/."):
            base = "."
        with scoped.open_tar(out) as tar:
            scoped.TarWriter(fs, tar).add(node, base)


def extract_to(
    engine: Engine,
    c: Container,
    fs: scoped.ScopedFS,
    path: str,
    name: str,
    stream: Readable,
    copy_uid_gid: bool,
    no_overwrite_dir_non_dir: bool,
) -> None:
    """`docker cp SRC CONTAINER:path`: unpack the client's tar into the directory at ``path``
    (a symlink to a directory is followed), with Docker's checks and errors."""
    try:
        node = fs.resolve(_abs(path), follow=True)
    except (FileNotFoundError, NotADirectoryError):
        raise _not_found(path, name) from None
    with node:
        if not node.exists:
            raise _not_found(path, name)
        if not stat.S_ISDIR(node.lstat().st_mode):
            raise InvalidArgument("extraction point is not a directory")
        dest = node.path
    m = fs.mount_of(dest)
    if m is not None and not m.rw:
        raise InvalidArgument("mounted volume is marked read-only")
    if m is None and c.host_config.get("ReadonlyRootfs"):
        raise InvalidArgument("container rootfs is marked read-only")
    owner: tuple[int, int] | None = None
    if copy_uid_gid and c.config.get("User"):
        from wharf.engine.specgen import resolve_user

        uid, gid, _ = resolve_user(fs.root, str(c.config["User"]))
        owner = (uid, gid)
    opts = scoped.ExtractOptions(no_overwrite_dir_non_dir=no_overwrite_dir_non_dir, owner=owner)
    scoped.extract_tar(fs, dest, stream, opts)


def export_rootfs(fs: scoped.ScopedFS, out: IO[bytes]) -> None:
    """`docker export`: the tree of ``fs`` (the rootfs, opened without volumes), every entry
    relative to /."""
    with fs.resolve("/") as node, scoped.open_tar(out) as tar:
        scoped.TarWriter(fs, tar).add(node, "")


# --- commit


def runtime_only(upper: str) -> set[str]:
    """Paths of the container's layer that only the runtime made (mount points for /etc/hosts
    and friends, /proc, /sys, /dev when the image lacks them, and directories holding nothing
    else): Docker keeps these in an init layer, so `diff` and `commit` leave them out."""
    fd = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    out: set[str] = set()

    def only(path: str) -> bool:
        parent_of = any(p.startswith(path + "/") for p in RUNTIME_PATHS)
        if path not in RUNTIME_PATHS and not parent_of:
            return False
        try:
            s = os.stat(path.lstrip("/"), dir_fd=fd, follow_symlinks=False)
        except OSError:
            return False
        if stat.S_ISREG(s.st_mode):
            ok = path in RUNTIME_PATHS and s.st_size == 0
        elif stat.S_ISDIR(s.st_mode):
            dfd = os.open(path.lstrip("/"), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            try:
                children = os.listdir(dfd)
            finally:
                os.close(dfd)
            ok = all([only(f"{path}/{n}") for n in children])
        else:
            ok = False
        if ok:
            out.add(path)
        return ok

    try:
        for top in {"/" + p.strip("/").split("/")[0] for p in RUNTIME_PATHS}:
            only(top)
    finally:
        os.close(fd)
    return out


def layer_of(upper: str, out: IO[bytes]) -> None:
    """The container's layer as an OCI layer tar: its overlay upper directory, whiteouts as
    ``.wh.`` entries, without what only the runtime made."""
    skip = runtime_only(upper)
    with scoped.ScopedFS(upper) as fs:
        with fs.resolve("/") as node, scoped.open_tar(out) as tar:
            scoped.TarWriter(fs, tar, whiteouts=True, skip=skip.__contains__).add(node, "")


_CONFIG_KEYS = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts",
    "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck", "ArgsEscaped", "Image", "Volumes",
    "WorkingDir", "Entrypoint", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell",
)  # fmt: skip


def merge_config(user: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """Docker's commit merge: what the request (and --change) set wins; the rest comes from the
    container's config; Env, ExposedPorts, Volumes and Labels are unions."""
    out = {k: container.get(k) for k in _CONFIG_KEYS if k in container}
    for k, v in user.items():
        if v in (None, "", [], {}):
            continue
        if k == "Env":
            from wharf.engine.specgen import merge_env

            out["Env"] = merge_env(list(container.get("Env") or []), list(v))
        elif k in ("ExposedPorts", "Volumes", "Labels"):
            out[k] = {**(container.get(k) or {}), **v}
        else:
            out[k] = v
    return out


def commit(
    engine: Engine,
    c: Container,
    repo: str,
    tag: str,
    comment: str,
    author: str,
    user_config: dict[str, Any],
    changes: list[str],
) -> str:
    """A new image: the container's image plus one layer holding the container's changes."""
    from wharf.images.archive import apply_changes
    from wharf.images.store import DANGLING_PREFIX
    from wharf.oci import descriptor as d
    from wharf.oci.reference import parse_reference

    ref = ""
    if repo:
        try:
            ref = str(parse_reference(f"{repo}:{tag or 'latest'}"))
        except (InvalidArgument, ValueError) as exc:
            raise InvalidArgument(str(exc)) from None
    images = engine.images
    if not images.snapshots.overlay_whiteouts:
        raise Unsupported("commit needs the overlay snapshotter (the native one keeps no diff to commit)")
    record = images.resolve(c.image_id)
    parent_manifest = images.manifest(record)
    parent_config = images.config(record)
    config_section = merge_config(apply_changes(dict(user_config), changes), c.config)
    config_section.pop("Image", None)
    upper = images.snapshots.fs_dir(c.snapshot_key)
    docker = parent_manifest.get("mediaType") == d.MEDIA_TYPE_DOCKER_MANIFEST
    with tempfile.TemporaryDirectory(dir=images.root) as tmp:
        raw, gz = f"{tmp}/layer.tar", f"{tmp}/layer.tar.gz"
        with open(raw, "wb") as f:
            layer_of(upper, f)
        diff_id = _sha256_file(raw)
        with open(raw, "rb") as src, open(gz, "wb") as dst:
            with gzip.GzipFile(fileobj=dst, mode="wb", compresslevel=1, mtime=0) as z:
                while chunk := src.read(1 << 20):
                    z.write(chunk)
        digest, size = _sha256_file(gz), os.path.getsize(gz)
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())
        history = {"created": now, "created_by": " ".join(c.config.get("Cmd") or [])}
        if author:
            history["author"] = author
        if comment:
            history["comment"] = comment
        config = dict(parent_config)
        config.update(
            created=now,
            config=config_section,
            container=c.id,
            rootfs={"type": "layers", "diff_ids": [*parent_config["rootfs"]["diff_ids"], diff_id]},
            history=[*(parent_config.get("history") or []), history],
        )
        for key, value in (("author", author), ("comment", comment)):
            if value:
                config[key] = value
            else:
                config.pop(key, None)
        cfg_bytes = json.dumps(config, separators=(",", ":")).encode()
        layer_type = d.MEDIA_TYPE_DOCKER_LAYER_GZIP if docker else d.MEDIA_TYPE_OCI_LAYER_GZIP
        with images.lease():
            with open(gz, "rb") as f:
                images.content.put_file(f, digest, size)
            cfg_digest: str = images.content.put_bytes(cfg_bytes)
            manifest = {
                "schemaVersion": 2,
                "mediaType": d.MEDIA_TYPE_DOCKER_MANIFEST if docker else d.MEDIA_TYPE_OCI_MANIFEST,
                "config": {
                    "mediaType": d.MEDIA_TYPE_DOCKER_CONFIG if docker else d.MEDIA_TYPE_OCI_CONFIG,
                    "digest": cfg_digest,
                    "size": len(cfg_bytes),
                },
                "layers": [
                    *parent_manifest["layers"],
                    {"mediaType": layer_type, "digest": digest, "size": size},
                ],
            }
            m_bytes = json.dumps(manifest, separators=(",", ":")).encode()
            m_digest = images.content.put_bytes(m_bytes)
            images.unpack(m_digest)
            target = d.Descriptor(str(manifest["mediaType"]), m_digest, len(m_bytes))
            images.set_image(ref or DANGLING_PREFIX + m_digest, target)
    return cfg_digest


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
