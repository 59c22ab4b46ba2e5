"""Pull and push against a real registry (Debian's docker-registry on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.pki import make_pki
from tests.registry import Registry, docker_config

from wharf.distribution import pull_image, push_image
from wharf.errors import NotFound, Unauthorized, Unavailable
from wharf.images.store import ImageStore
from wharf.images.testimage import build_image, digest

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    r = Registry(tmp_path / "registry")
    try:
        yield r
    finally:
        r.close()


def _store(path: Path) -> ImageStore:
    return ImageStore(str(path))


def _layers() -> list[dict[str, bytes | None]]:
    return [
        {"bin/a": b"a" * 1000, "etc/conf": b"v1"},
        {"etc/conf": b"v2", "usr/share/doc": os.urandom(2000)},
        {"etc/conf": None, "var/data": b"x" * 5000},
    ]


def test_push_then_pull_into_an_empty_store(registry: Registry, tmp_path: Path) -> None:
    src = _store(tmp_path / "src")
    dst = _store(tmp_path / "dst")
    try:
        rec = build_image(src, f"{registry.host}/team/app:1", _layers())
        events: list[dict[str, object]] = []
        pushed = push_image(src, f"{registry.host}/team/app:1", events.append)
        assert pushed == rec.target.digest
        assert sum(1 for e in events if e.get("status") == "Pushed") == 3
        pulled = pull_image(dst, f"{registry.host}/team/app:1")
        assert pulled.id == rec.id and pulled.target.digest == rec.target.digest
        for layer in dst.manifest(pulled)["layers"]:
            data = dst.content.read_bytes(layer["digest"])
            assert digest(data) == layer["digest"]
        chain = dst.top_chain_id(pulled)
        assert dst.snapshots.exists(chain)  # run-ready
        again: list[dict[str, object]] = []
        pull_image(dst, f"{registry.host}/team/app:1", again.append)
        assert again[-1]["status"] == f"Status: Image is up to date for {registry.host}/team/app:1"
    finally:
        src.close()
        dst.close()


def test_push_mounts_blobs_across_repositories_and_skips_existing(
    registry: Registry, tmp_path: Path
) -> None:
    s = _store(tmp_path / "s")
    try:
        build_image(s, f"{registry.host}/one/app:1", _layers())
        push_image(s, f"{registry.host}/one/app:1")
        s.set_image(f"{registry.host}/two/app:1", s.resolve(f"{registry.host}/one/app:1").target)
        events: list[dict[str, object]] = []
        push_image(s, f"{registry.host}/two/app:1", events.append)
        mounted = [e for e in events if str(e.get("status", "")).startswith("Mounted from")]
        assert len(mounted) == 3
        events.clear()
        push_image(s, f"{registry.host}/two/app:1", events.append)
        assert sum(1 for e in events if e.get("status") == "Layer already exists") == 3
    finally:
        s.close()


def test_chunked_upload(registry: Registry, tmp_path: Path) -> None:
    s = _store(tmp_path / "s")
    d = _store(tmp_path / "d")
    try:
        rec = build_image(s, f"{registry.host}/big/app:1", [{"blob": os.urandom(300_000)}])
        push_image(s, f"{registry.host}/big/app:1", chunk_threshold=1000, chunk_size=64 * 1024)
        assert registry.requests("PATCH", "/v2/big/app/blobs/uploads/") >= 5
        assert pull_image(d, f"{registry.host}/big/app:1").id == rec.id
    finally:
        s.close()
        d.close()


def test_unknown_tag_is_dockers_manifest_unknown(registry: Registry, tmp_path: Path) -> None:
    s = _store(tmp_path / "s")
    try:
        with pytest.raises(NotFound) as err:
            pull_image(s, f"{registry.host}/nothing/here:nope")
        assert str(err.value) == (
            f"manifest for {registry.host}/nothing/here:nope not found: manifest unknown: manifest unknown"
        )
    finally:
        s.close()


def test_basic_auth_from_docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reg = Registry(tmp_path / "authreg", users={"alice": "s3cret"})
    s = _store(tmp_path / "s")
    try:
        build_image(s, f"{reg.host}/private/app:1", _layers()[:1])
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nocreds"))
        with pytest.raises(Unauthorized, match="no basic auth credentials"):
            push_image(s, f"{reg.host}/private/app:1")
        docker_config(tmp_path / "creds", reg.host, "alice", "wrong")
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "creds"))
        with pytest.raises(Unauthorized):
            push_image(s, f"{reg.host}/private/app:1")
        docker_config(tmp_path / "creds", reg.host, "alice", "s3cret")
        push_image(s, f"{reg.host}/private/app:1")
        d = _store(tmp_path / "d")
        try:
            assert pull_image(d, f"{reg.host}/private/app:1").id == s.resolve(f"{reg.host}/private/app:1").id
        finally:
            d.close()
    finally:
        s.close()
        reg.close()


PULLER = """
import sys
sys.path.insert(0, {src!r})
from wharf.images.store import ImageStore
from wharf.distribution import pull_image
pull_image(ImageStore({store!r}), {ref!r}, parallel=1)
"""


def test_killed_pull_resumes_without_refetching_verified_blobs(registry: Registry, tmp_path: Path) -> None:
    src = _store(tmp_path / "src")
    ref = f"{registry.host}/heavy/app:1"
    try:
        build_image(src, ref, [{"small": b"s" * 100}, {"big": os.urandom(48 << 20)}])
        push_image(src, ref)
    finally:
        src.close()
    store_dir = tmp_path / "dst"
    code = PULLER.format(src=str(REPO / "src"), store=str(store_dir), ref=ref)
    proc = subprocess.Popen([sys.executable, "-c", code])
    ingest = store_dir / "content" / "ingest"
    deadline = time.time() + 60
    try:
        while time.time() < deadline:  # kill it once the big layer is partly downloaded
            sizes = [f.stat().st_size for f in ingest.glob("*/data")] if ingest.exists() else []
            if any(s > (4 << 20) for s in sizes):
                break
            if proc.poll() is not None:
                pytest.fail("the pull finished before it could be interrupted")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    dst = _store(store_dir)
    try:
        committed = [d for d, _ in dst.content.list()]
        assert committed  # the manifest, config and small layer made it
        before = {d: registry.requests("GET", d) for d in committed}
        rec = pull_image(dst, ref)
        for d in committed:
            assert registry.requests("GET", d) == before[d], f"{d} was downloaded again"
        big = dst.manifest(rec)["layers"][1]["digest"]
        log = registry.log.read_text()
        assert log.count(f"GET /v2/heavy/app/blobs/{big}") == 2  # the killed request and one resume
        for d, _ in dst.content.list():
            assert digest(dst.content.read_bytes(d)) == d  # no corrupt blob
        assert json.loads(dst.content.read_bytes(rec.id))["rootfs"]["diff_ids"]
    finally:
        dst.close()


def test_registry_mirrors_serve_docker_hub_pulls(registry: Registry, tmp_path: Path) -> None:
    """daemon.json registry-mirrors: a Docker Hub name is pulled from the first mirror that can
    serve it (a dead one is skipped); the registry (docker.io) itself is never contacted."""
    from types import SimpleNamespace

    from tests.registry import free_port

    src, dst = _store(tmp_path / "src"), _store(tmp_path / "dst")
    try:
        rec = build_image(src, f"{registry.host}/library/mirrored:1", _layers())
        push_image(src, f"{registry.host}/library/mirrored:1")
        dead = f"http://127.0.0.1:{free_port()}"
        cfg = SimpleNamespace(registry_mirrors=[dead, f"http://{registry.host}/"], insecure_registries=[])
        pulled = pull_image(dst, "mirrored:1", config=cfg)
        assert pulled.id == rec.id and pulled.target.digest == rec.target.digest
        assert dst.resolve("docker.io/library/mirrored:1").id == rec.id
        assert registry.requests("GET", "/v2/library/mirrored/manifests/1") == 1
        # mirrors serve docker.io names only: another registry's image never goes to them
        before = registry.requests("GET", "/v2/")
        with pytest.raises(Exception):  # noqa: B017 - the dead host's own error
            pull_image(dst, f"127.0.0.1:{free_port()}/library/mirrored:1", config=cfg)
        assert registry.requests("GET", "/v2/") == before
    finally:
        src.close()
        dst.close()


def test_index_with_two_platforms_picks_the_asked_one(registry: Registry, tmp_path: Path) -> None:
    """An OCI index with linux/amd64 and linux/arm64/v8 manifests: each store pulls the one for
    its platform (and only that one's layers)."""
    import urllib.request

    from wharf.oci.descriptor import Platform

    src = _store(tmp_path / "src")
    try:
        amd = build_image(src, f"{registry.host}/multi/app:amd", [{"arch": b"amd64"}])
        arm = build_image(src, f"{registry.host}/multi/app:arm", [{"arch": b"arm64"}, {"extra": b"v8"}])
        for tag in ("amd", "arm"):
            push_image(src, f"{registry.host}/multi/app:{tag}")
        layer_digests = {r.id: {x["digest"] for x in src.manifest(r)["layers"]} for r in (amd, arm)}
        platforms = [(amd, {"os": "linux", "architecture": "amd64"}),
                     (arm, {"os": "linux", "architecture": "arm64", "variant": "v8"})]  # fmt: skip
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": r.target.media_type,
                    "digest": r.target.digest,
                    "size": r.target.size,
                    "platform": p,
                }
                for r, p in platforms
            ],
        }
        body = json.dumps(index).encode()
        req = urllib.request.Request(
            f"http://{registry.host}/v2/multi/app/manifests/both", data=body, method="PUT",
            headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
        )  # fmt: skip
        urllib.request.urlopen(req, timeout=10).close()
    finally:
        src.close()
    for record, platform in ((amd, Platform("linux", "amd64")), (arm, Platform("linux", "arm64", "v8"))):
        dst = ImageStore(str(tmp_path / f"dst-{platform.architecture}"), platform=platform)
        try:
            pulled = pull_image(dst, f"{registry.host}/multi/app:both")
            assert pulled.id == record.id
            assert pulled.target.digest == digest(body)  # the name points at the index
            layers = dst.manifest(pulled)["layers"]
            assert all(dst.content.exists(x["digest"]) for x in layers)
            assert dst.snapshots.exists(dst.top_chain_id(pulled))
            other = amd if record is arm else arm
            assert not any(dst.content.exists(d) for d in layer_digests[other.id])
        finally:
            dst.close()
    s390 = ImageStore(str(tmp_path / "dst-s390x"), platform=Platform("linux", "s390x"))
    try:
        with pytest.raises(NotFound, match="no matching manifest for linux/s390x"):
            pull_image(s390, f"{registry.host}/multi/app:both")
    finally:
        s390.close()


def test_bearer_token_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry with token auth: a 401 challenge names the realm, the client fetches a token
    there with the docker config's credentials (one per scope, reused), then pushes and pulls.
    Wrong or missing credentials are Docker's errors."""
    from tests.registry import TokenServer

    tokens = TokenServer(tmp_path / "tokens", {"bob": "t0ken-pass"})
    reg = Registry(tmp_path / "registry", auth=tokens.registry_auth())
    s, d = _store(tmp_path / "s"), _store(tmp_path / "d")
    try:
        ref = f"{reg.host}/secure/app:1"
        rec = build_image(s, ref, _layers())
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "nocreds"))
        with pytest.raises(Unauthorized):
            push_image(s, ref)
        docker_config(tmp_path / "creds", reg.host, "bob", "wrong")
        monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "creds"))
        with pytest.raises(Unauthorized, match="incorrect username or password"):
            push_image(s, ref)
        assert tokens.issued == []
        docker_config(tmp_path / "creds", reg.host, "bob", "t0ken-pass")
        push_image(s, ref)
        assert tokens.issued == [
            "repository:secure/app:pull,push"
        ]  # one token, shared by the parallel uploads
        pulled = pull_image(d, ref)
        assert pulled.id == rec.id and d.snapshots.exists(d.top_chain_id(pulled))
        assert tokens.issued[1:] == ["repository:secure/app:pull"]  # one token for all the pull's requests
        assert reg.requests("GET", "/v2/secure/app/blobs/") == 4  # config + 3 layers, each once
    finally:
        s.close()
        d.close()
        reg.close()
        tokens.close()


# --- https: Docker's rules for secure and insecure registries


def _tls_round_trip(reg: Registry, tmp_path: Path, config: object) -> None:
    src = _store(tmp_path / "tls-src")
    dst = _store(tmp_path / "tls-dst")
    try:
        ref = f"{reg.host}/tls/img:1"
        build_image(src, ref, _layers())
        pushed = push_image(src, ref, config=config)
        rec = pull_image(dst, ref, config=config)
        assert rec.target.digest == pushed
        assert dst.top_chain_id(rec) == src.top_chain_id(src.resolve(ref))
    finally:
        src.close()
        dst.close()


def test_https_registry_verified_with_a_ca_from_certs_d(tmp_path: Path) -> None:
    """[::1] is not insecure by default (Docker: only 127.0.0.0/8): its certificate must verify,
    against the CAs of certs.d/<host>/*.crt (dockerd's layout)."""
    pki = tmp_path / "pki"
    make_pki(pki, "IP:::1")
    reg = Registry(tmp_path / "registry", ip="::1", tls=pki)
    try:
        certs = tmp_path / "certs.d"
        no_ca = SimpleNamespace(certs_dirs=[str(certs)])
        store = _store(tmp_path / "untrusting")
        try:
            with pytest.raises(Unavailable, match="CERTIFICATE_VERIFY_FAILED"):
                pull_image(store, f"{reg.host}/tls/img:1", config=no_ca)
        finally:
            store.close()
        (certs / reg.host).mkdir(parents=True)
        (certs / reg.host / "ca.crt").write_bytes((pki / "ca.pem").read_bytes())
        _tls_round_trip(reg, tmp_path, no_ca)
        assert reg.requests("GET", "/v2/tls/img/manifests/1") == 1  # over https: the registry logged it
    finally:
        reg.close()


def test_https_registry_requiring_a_client_certificate(tmp_path: Path) -> None:
    """certs.d/<host>/<name>.cert + <name>.key: the client certificate dockerd presents."""
    pki = tmp_path / "pki"
    make_pki(pki, "IP:::1")
    reg = Registry(tmp_path / "registry", ip="::1", tls=pki, client_ca=True)
    try:
        certs = tmp_path / "certs.d"
        config = SimpleNamespace(certs_dirs=[str(certs)])
        (certs / reg.host).mkdir(parents=True)
        (certs / reg.host / "ca.crt").write_bytes((pki / "ca.pem").read_bytes())
        store = _store(tmp_path / "anonymous")
        try:
            with pytest.raises(Unavailable):
                pull_image(store, f"{reg.host}/tls/img:1", config=config)
        finally:
            store.close()
        (certs / reg.host / "client.cert").write_bytes((pki / "client.pem").read_bytes())
        (certs / reg.host / "client.key").write_bytes((pki / "client-key.pem").read_bytes())
        _tls_round_trip(reg, tmp_path, config)
    finally:
        reg.close()


def test_https_loopback_registry_is_insecure_by_default(tmp_path: Path) -> None:
    """127.0.0.1 with a certificate no CA vouches for: Docker talks https to it unverified."""
    pki = tmp_path / "pki"
    make_pki(pki, "IP:127.0.0.1")
    reg = Registry(tmp_path / "registry", tls=pki)
    try:
        _tls_round_trip(reg, tmp_path, None)
    finally:
        reg.close()
