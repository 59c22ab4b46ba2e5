"""The image store on the real kernel: names → content → overlay snapshots, sharing, GC."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wharf.errors import NotFound
from wharf.images.store import ImageStore
from wharf.images.testimage import build_image, digest, make_blobs
from wharf.snapshots.mount import mount_all, unmount

pytestmark = pytest.mark.root


def _read_tree(store: ImageStore, chain: str, tmp: Path, paths: list[str]) -> dict[str, str | None]:
    target = tmp / f"view-{os.urandom(3).hex()}"
    target.mkdir()
    key = f"view-{os.urandom(4).hex()}"
    mount_all(store.snapshots.view(key, chain), str(target))
    try:
        out: dict[str, str | None] = {}
        for p in paths:
            f = target / p
            out[p] = f.read_text() if f.exists() else None
        return out
    finally:
        unmount(str(target))
        store.snapshots.remove(key)


def test_layers_unpack_into_a_chain_with_whiteouts(store: ImageStore, tmp_path: Path) -> None:
    rec = build_image(
        store,
        "example.com/app:1",
        [{"etc/a": b"one", "etc/b": b"two"}, {"etc/a": None, "etc/c": b"three"}],
    )
    assert rec.name == "example.com/app:1"
    chain = store.top_chain_id(rec)
    seen = _read_tree(store, chain, tmp_path, ["etc/a", "etc/b", "etc/c"])
    assert seen == {"etc/a": None, "etc/b": "two", "etc/c": "three"}
    assert store.resolve("example.com/app:1").id == rec.id
    assert store.resolve(rec.id[7:19]).id == rec.id  # short id, as docker accepts it


def test_images_share_their_base_layer_snapshots(store: ImageStore) -> None:
    base = {"bin/tool": b"v1"}
    a = build_image(store, "a:latest", [base, {"a": b"a"}])
    before = {i.key for i in store.snapshots.walk()}
    b = build_image(store, "b:latest", [base, {"b": b"b"}])
    after = {i.key for i in store.snapshots.walk()}
    assert len(after - before) == 1  # only b's own layer was extracted
    assert store.layers(store.manifest(a))[0].chain_id == store.layers(store.manifest(b))[0].chain_id


def test_gc_removes_what_no_name_holds(store: ImageStore) -> None:
    build_image(store, "keep:1", [{"k": b"k"}])
    gone = build_image(store, "gone:1", [{"g": b"g"}, {"h": b"h"}])
    manifest = store.manifest(gone)
    gone_blobs = [layer["digest"] for layer in manifest["layers"]] + [gone.target.digest, gone.id]
    chains = [layer.chain_id for layer in store.layers(manifest)]
    store.delete_name("docker.io/library/gone:1")
    result = store.gc()
    assert result["blobs"] == 4 and result["snapshots"] == 2
    for d in gone_blobs:
        assert not store.content.exists(d)
    for c in chains:
        assert not store.snapshots.exists(c)
    keep = store.resolve("keep:1")
    assert store.snapshots.exists(store.top_chain_id(keep))
    with pytest.raises(NotFound, match="No such image: gone:1"):
        store.resolve("gone:1")


def test_gc_keeps_blobs_of_a_pull_in_progress(store: ImageStore) -> None:
    blobs = make_blobs([{"x": b"x"}])
    with store.lease():
        for data in blobs.all():
            store.content.put_bytes(data, digest(data))
        assert store.gc()["blobs"] == 0  # not named yet, but inside a lease
        assert all(store.content.exists(digest(d)) for d in blobs.all())
    assert store.gc()["blobs"] == 3  # the lease ended: nothing holds them


def test_metadata_survives_reopen(tmp_path: Path) -> None:
    s = ImageStore(str(tmp_path / "images"))
    rec = build_image(s, "persist:1", [{"f": b"1"}])
    s.close()
    s2 = ImageStore(str(tmp_path / "images"))
    try:
        assert s2.resolve("persist:1").id == rec.id
        assert s2.db.version() == 3
    finally:
        s2.close()


def test_migration_3_adds_the_build_cache_to_a_version_2_store(tmp_path: Path) -> None:
    from wharf.build import cache
    from wharf.metadata.db import MIGRATIONS, MetadataDB

    os.makedirs(tmp_path / "images")
    db = MetadataDB(str(tmp_path / "images" / "metadata.db"), MIGRATIONS[:2])  # as wharf wrote it before
    assert db.version() == 2
    db.close()
    s2 = ImageStore(str(tmp_path / "images"))
    try:
        assert s2.db.version() == 3
        rec = build_image(s2, "old:1", [{"f": b"1"}])
        cache.record(s2, "k" * 64, "", rec.id, "RUN true")
        assert cache.lookup(s2, "k" * 64) == rec.id
        s2.delete_name("docker.io/library/old:1")
        assert cache.lookup(s2, "k" * 64) is None  # the image went: a miss, and the row with it
        assert s2.db.conn.execute("SELECT COUNT(*) FROM build_cache").fetchone()[0] == 0
    finally:
        s2.close()


def _pull_like(store: ImageStore, layers: list[dict[str, bytes | None]], fail: int | None = None) -> str:
    """The blobs written by threads, as a pull's downloads are, and unpacked with their futures:
    each layer waits for its own blob (``fail``: that layer's download fails instead)."""
    import threading
    from concurrent.futures import Future

    blobs = make_blobs(layers)
    with store.lease():
        for data in (blobs.manifest, blobs.config):
            store.content.put_bytes(data, digest(data))
        fetched: dict[str, Future[None]] = {}
        for k, data in enumerate(blobs.layers):
            job: Future[None] = Future()
            fetched[digest(data)] = job

            def arrive(data: bytes = data, job: Future[None] = job, k: int = k) -> None:
                if k == fail:
                    job.set_exception(ConnectionResetError("the registry went away"))
                    return
                store.content.put_bytes(data, digest(data))
                job.set_result(None)

            threading.Timer(0.05 * (len(blobs.layers) - k), arrive).start()  # the last layer first
        return store.unpack(blobs.manifest_descriptor.digest, fetched)


def test_layers_are_extracted_as_their_blobs_arrive(store: ImageStore, tmp_path: Path) -> None:
    layers: list[dict[str, bytes | None]] = [{"a": b"1"}, {"b": b"2", "a": None}, {"c": b"3"}]
    top = _pull_like(store, layers)
    assert _read_tree(store, top, tmp_path, ["a", "b", "c"]) == {"a": None, "b": "2", "c": "3"}


def test_a_failed_download_leaves_no_half_unpacked_layer(store: ImageStore) -> None:
    layers: list[dict[str, bytes | None]] = [{"a": b"1"}, {"b": b"2"}, {"c": b"3"}]
    with pytest.raises(ConnectionResetError):
        _pull_like(store, layers, fail=1)
    left = [(i.key, i.kind) for i in store.snapshots.walk()]
    assert all(kind != "active" for _, kind in left), left
