"""Pull and push images, log in: the registry side of the images issue.

``pull_image`` resolves a reference to a manifest (an index picks the host's platform), fetches
the config and the missing layers concurrently into the content store (each verified by digest
and size, resumed with an HTTP Range from what an interrupted pull left in its ingest), names the
image and unpacks it. ``push_image`` checks each blob in the target repository, mounts it from
another repository of the same registry when one is known to hold it, else uploads it (one PUT
for small blobs, PATCH chunks for large ones), then puts the manifest. Progress goes out as
Docker's JSON messages through ``emit``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from wharf.base.files import atomic_write
from wharf.distribution.client import (
    CERTS_DIRS,
    MANIFEST_TYPES,
    Registry,
    credentials_from_header,
)
from wharf.dockerconfig import Credentials, credentials_from_config, store_credentials
from wharf.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthorized, Unavailable
from wharf.oci import image as ociimage
from wharf.oci.descriptor import Descriptor
from wharf.oci.reference import Reference, parse_reference

if TYPE_CHECKING:
    from wharf.images.store import ImageRecord, ImageStore

Emit = Callable[[dict[str, Any]], None]
PARALLEL = 4
CHUNK_THRESHOLD = 64 << 20
CHUNK_SIZE = 16 << 20
READ_SIZE = 1 << 20

__all__ = ["Credentials", "login", "pull_image", "push_image"]


def _quiet(_: dict[str, Any]) -> None:
    return None


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def _registry(ref: Reference, auth: str | None, config: Any) -> Registry:
    creds = credentials_from_header(auth) or credentials_from_config(ref.domain)
    insecure = list(getattr(config, "insecure_registries", None) or [])
    return Registry(
        ref.domain, insecure_registries=insecure, credentials=creds, certs_dirs=_certs_dirs(config)
    )


def _certs_dirs(config: Any) -> tuple[str, ...] | list[str]:
    return getattr(config, "certs_dirs", None) or CERTS_DIRS


def _pull_endpoints(ref: Reference, auth: str | None, config: Any) -> list[Registry]:
    """Where a pull looks, in order: for Docker Hub images the daemon's registry-mirrors first
    (as Docker, mirrors serve docker.io only and pushes never use them), then the registry."""
    out: list[Registry] = []
    if ref.domain == "docker.io":
        for mirror in getattr(config, "registry_mirrors", None) or []:
            url = mirror.rstrip("/")
            if "://" not in url:
                url = "https://" + url
            host = url.split("://", 1)[1]
            out.append(Registry(host, certs_dirs=_certs_dirs(config), _base=url))
    out.append(_registry(ref, auth, config))
    return out


def _progress(current: int, total: int) -> str:
    width = 50
    done = int(width * current / total) if total else width
    bar = "=" * max(done - 1, 0) + (">" if done < width else "=") + " " * (width - done)
    return f"[{bar}] {_human(current)}/{_human(total)}"


def _human(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}TB"


# --- pull


def pull_image(
    store: ImageStore,
    name: str,
    emit: Emit = _quiet,
    auth: str | None = None,
    config: Any = None,
    parallel: int = PARALLEL,
) -> ImageRecord:
    ref = parse_reference(name)
    scope = f"repository:{ref.path}:pull"
    label = ref.digest or ref.tag or "latest"
    emit({"status": f"Pulling from {ref.familiar_name()}", "id": label})
    endpoints = _pull_endpoints(ref, auth, config)
    accept = {"Accept": ", ".join(MANIFEST_TYPES)}
    for i, reg in enumerate(endpoints):
        try:
            resp = reg.request("GET", f"/v2/{ref.path}/manifests/{label}", scope, headers=accept)
            break
        except (NotFound, Unauthorized, Unavailable) as exc:
            if i < len(endpoints) - 1:
                continue  # a mirror that cannot serve it: the next endpoint
            if isinstance(exc, NotFound):
                raise NotFound(f"manifest for {ref.familiar()} not found: {exc}") from None
            if isinstance(exc, Unauthorized):
                raise Unauthorized(
                    f"pull access denied for {ref.familiar_name()}, repository does not exist or may"
                    f" require 'docker login': denied: {exc}"
                ) from None
            raise
    data = bytes(resp.data)
    digest = "sha256:" + _sha256(data)
    if ref.digest and ref.digest != digest:
        raise FailedPrecondition(f"manifest verification failed for digest {ref.digest}")
    obj = ociimage.loads(data, "manifest")
    media_type = ociimage.media_type_of(obj, (resp.headers.get("Content-Type") or "").split(";")[0])
    top = Descriptor(media_type, digest, len(data))
    existed = _has_image(store, str(ref), digest)
    with store.lease():
        store.content.put_bytes(data, digest)
        manifest_desc, manifest = top, obj
        if ociimage.is_index(media_type):
            manifest_desc = ociimage.platform_manifest(obj, store.platform)
            mresp = reg.request(
                "GET", f"/v2/{ref.path}/manifests/{manifest_desc.digest}", scope, headers=accept
            )
            mdata = bytes(mresp.data)
            store.content.put_bytes(mdata, manifest_desc.digest)
            manifest = ociimage.loads(mdata, "manifest")
        cfg_desc = ociimage.manifest_config(manifest)
        layers = ociimage.manifest_layers(manifest)
        for layer in layers:
            status = "Already exists" if store.content.exists(layer.digest) else "Pulling fs layer"
            emit({"status": status, "progressDetail": {}, "id": _short(layer.digest)})
        _fetch(reg, store, ref.path, scope, cfg_desc, _quiet)
        missing = [layer for layer in layers if not store.content.exists(layer.digest)]
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(missing) or 1))) as pool:
            # each layer is extracted as soon as its blob is in, while the others download
            fetched = {x.digest: pool.submit(_fetch, reg, store, ref.path, scope, x, emit) for x in missing}
            for layer in missing:
                emit({"status": "Extracting", "progressDetail": {}, "id": _short(layer.digest)})
            store.unpack(manifest_desc.digest, fetched)  # before the name: a listed image always runs
        store.set_image(str(ref) if ref.digest is None else f"{ref.name()}@{digest}", top)
        if ref.digest is None:
            store.set_image(f"{ref.name()}@{digest}", top)
        for layer in missing:
            emit({"status": "Pull complete", "progressDetail": {}, "id": _short(layer.digest)})
    _remember_sources(store, ref, [cfg_desc.digest, *(x.digest for x in layers)])
    emit({"status": f"Digest: {digest}"})
    status = "Image is up to date for" if existed else "Downloaded newer image for"
    emit({"status": f"Status: {status} {ref.familiar()}"})
    return store.resolve(str(ref))


def _has_image(store: ImageStore, name: str, digest: str) -> bool:
    try:
        return bool(store.resolve(name).target.digest == digest)
    except NotFound:
        return False


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _fetch(reg: Registry, store: ImageStore, repo: str, scope: str, desc: Descriptor, emit: Emit) -> None:
    """One blob into the content store, resuming an interrupted ingest with a Range request."""
    if store.content.exists(desc.digest):
        return
    short = _short(desc.digest)
    w = store.content.writer(f"pull-{desc.digest}", desc.digest, desc.size)
    try:
        headers = {}
        if 0 < w.offset < desc.size:
            headers["Range"] = f"bytes={w.offset}-"
        elif w.offset >= desc.size and w.offset:
            w.abort()
            w = store.content.writer(f"pull-{desc.digest}", desc.digest, desc.size)
        resp = reg.request("GET", f"/v2/{repo}/blobs/{desc.digest}", scope, headers=headers, preload=False,
                           ok=(200, 206))  # fmt: skip
        if resp.status == 200 and w.offset:
            w.abort()  # the registry ignored the Range: start over
            w = store.content.writer(f"pull-{desc.digest}", desc.digest, desc.size)
        last = 0.0
        try:
            for chunk in resp.stream(READ_SIZE):
                w.write(chunk)
                now = time.monotonic()
                if now - last > 0.1:
                    last = now
                    emit({"status": "Downloading", "id": short,
                          "progressDetail": {"current": w.offset, "total": desc.size},
                          "progress": _progress(w.offset, desc.size)})  # fmt: skip
        finally:
            resp.release_conn()
        emit({"status": "Verifying Checksum", "progressDetail": {}, "id": short})
        w.commit()
        emit({"status": "Download complete", "progressDetail": {}, "id": short})
    finally:
        w.close()


# --- push


def _sources_path(store: ImageStore) -> str:
    return f"{store.root}/distribution-sources.json"


_sources_lock = threading.Lock()


def _load_sources(store: ImageStore) -> dict[str, list[str]]:
    try:
        with open(_sources_path(store)) as f:
            data: dict[str, list[str]] = json.load(f)
            return data
    except (OSError, ValueError):
        return {}


def _remember_sources(store: ImageStore, ref: Reference, digests: list[str]) -> None:
    """Which repositories hold which blobs: a push to another repository of the same registry can
    then mount them instead of uploading them again."""
    with _sources_lock:
        sources = _load_sources(store)
        for d in digests:
            repos = sources.setdefault(d, [])
            if ref.name() in repos:
                repos.remove(ref.name())
            repos.insert(0, ref.name())
            del repos[5:]
        atomic_write(_sources_path(store), json.dumps(sources))


def push_image(
    store: ImageStore,
    name: str,
    emit: Emit = _quiet,
    auth: str | None = None,
    config: Any = None,
    chunk_threshold: int = CHUNK_THRESHOLD,
    chunk_size: int = CHUNK_SIZE,
) -> str:
    """Push ``name``; returns the manifest digest."""
    ref = parse_reference(name)
    if ref.digest is not None:
        raise InvalidArgument("cannot push a digest reference")
    try:
        record = store.get_image(str(ref))
    except NotFound:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name()}") from None
    reg = _registry(ref, auth, config)
    scope = f"repository:{ref.path}:pull,push"
    emit({"status": f"The push refers to repository [{ref.familiar_name()}]"})
    manifest_desc, manifest = store.platform_manifest(record.target)
    layers = ociimage.manifest_layers(manifest)
    cfg = ociimage.manifest_config(manifest)
    for layer in reversed(layers):
        emit({"status": "Preparing", "progressDetail": {}, "id": _short(layer.digest)})
    sources = _load_sources(store)
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        jobs = [
            pool.submit(
                _push_blob,
                reg,
                store,
                ref,
                scope,
                d,
                sources.get(d.digest, []),
                emit,
                chunk_threshold,
                chunk_size,
            )  # fmt: skip
            for d in reversed(layers)
        ]
        for j in jobs:
            j.result()
    _push_blob(reg, store, ref, scope, cfg, sources.get(cfg.digest, []), _quiet, chunk_threshold, chunk_size)
    data = store.content.read_bytes(manifest_desc.digest)
    tag = ref.tag or "latest"
    reg.request(
        "PUT",
        f"/v2/{ref.path}/manifests/{tag}",
        scope,
        headers={"Content-Type": manifest_desc.media_type or ociimage.media_type_of(manifest)},
        body=data,
        ok=(201, 200),
    )
    store.set_image(f"{ref.name()}@{manifest_desc.digest}", manifest_desc)
    _remember_sources(store, ref, [cfg.digest, *(x.digest for x in layers)])
    emit({"status": f"{tag}: digest: {manifest_desc.digest} size: {len(data)}"})
    emit({"progressDetail": {}, "aux": {"Tag": tag, "Digest": manifest_desc.digest, "Size": len(data)}})
    return manifest_desc.digest


def _push_blob(
    reg: Registry,
    store: ImageStore,
    ref: Reference,
    scope: str,
    desc: Descriptor,
    sources: list[str],
    emit: Emit,
    chunk_threshold: int,
    chunk_size: int,
) -> None:
    short = _short(desc.digest)
    head = reg.request("HEAD", f"/v2/{ref.path}/blobs/{desc.digest}", scope, ok=(200, 404))
    if head.status == 200:
        emit({"status": "Layer already exists", "progressDetail": {}, "id": short})
        return
    for src in sources:
        src_ref = parse_reference(src, default_tag=False)
        if src_ref.domain != ref.domain or src_ref.path == ref.path:
            continue
        mount_scope = f"{scope} repository:{src_ref.path}:pull"
        r = reg.request(
            "POST",
            f"/v2/{ref.path}/blobs/uploads/?mount={desc.digest}&from={src_ref.path}",
            mount_scope,
            ok=(201, 202),
        )
        if r.status == 201:
            emit({"status": f"Mounted from {src_ref.familiar_name()}", "progressDetail": {}, "id": short})
            return
        _cancel(reg, scope, r.headers.get("Location"))
    start = reg.request("POST", f"/v2/{ref.path}/blobs/uploads/", scope, ok=(202,))
    location = _absolute(reg, start.headers.get("Location") or "")
    if desc.size < chunk_threshold:
        data = store.content.read_bytes(desc.digest)
        reg.request(
            "PUT",
            _with_query(location, f"digest={desc.digest}"),
            scope,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
            body=data,
            ok=(201,),
        )
    else:
        with store.content.open(desc.digest) as f:
            offset = 0
            while True:
                chunk = f.read(chunk_size)
                if not chunk:
                    break
                r = reg.request(
                    "PATCH",
                    location,
                    scope,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                        "Content-Length": str(len(chunk)),
                    },
                    body=chunk,
                    ok=(202,),
                )
                offset += len(chunk)
                location = _absolute(reg, r.headers.get("Location") or location)
                detail = {"current": offset, "total": desc.size}
                emit({"status": "Pushing", "id": short, "progressDetail": detail,
                      "progress": _progress(offset, desc.size)})  # fmt: skip
        reg.request("PUT", _with_query(location, f"digest={desc.digest}"), scope, body=b"", ok=(201,))
    emit({"status": "Pushed", "progressDetail": {}, "id": short})


def _cancel(reg: Registry, scope: str, location: str | None) -> None:
    if location:
        try:
            reg.request("DELETE", _absolute(reg, location), scope, ok=(204, 200, 404))
        except Exception:
            pass


def _absolute(reg: Registry, location: str) -> str:
    if location.startswith(("http://", "https://")):
        return location
    return reg.base() + (location if location.startswith("/") else "/" + location)


def _with_query(url: str, q: str) -> str:
    return url + ("&" if "?" in url else "?") + q


# --- login


def login(server: str, username: str, password: str, save_to: str | None = None) -> str:
    """Check credentials against the registry's /v2/ and, if asked, store them as `docker login`
    does (auths[server].auth = base64 user:password, written atomically). Returns "Login Succeeded"."""
    host = server.removeprefix("https://").removeprefix("http://").rstrip("/")
    if host in ("index.docker.io/v1", "index.docker.io"):
        host = "docker.io"
    reg = Registry(host, credentials=Credentials(username, password))
    try:
        reg.request("GET", "/v2/", "")
    except Unauthorized:
        raise Unauthorized("unauthorized: incorrect username or password") from None
    if save_to is not None:
        store_credentials(server, username, password, save_to or None)
    return "Login Succeeded"
