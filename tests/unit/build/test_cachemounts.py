"""The cache mounts' store: one directory per key kept between uses, its sharing modes (shared
at once, private per user, locked one after the other), and prune/usage that never touch an
instance in use."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from wharf.build import cachemounts as cm
from wharf.build.cachemounts import CacheSpec


def test_a_cache_is_kept_and_found_again(tmp_path: Path) -> None:
    async def go() -> None:
        lease = await cm.acquire(str(tmp_path), CacheSpec("/cache"))
        Path(lease.path, "x").write_text("kept")
        lease.release()
        again = await cm.acquire(str(tmp_path), CacheSpec("/cache"))
        assert again.path == lease.path and Path(again.path, "x").read_text() == "kept"
        again.release()
        other = await cm.acquire(str(tmp_path), CacheSpec("/cache", "dir:700:0:0", mode=0o700))
        assert other.path != lease.path and os.stat(other.path).st_mode & 0o777 == 0o700
        other.release()

    asyncio.run(go())
    assert Path(tmp_path, cm.CACHE_DIR).is_dir()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_new_instance_takes_mode_owner_and_seed(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "f").write_text("seeded")

    async def go() -> None:
        owned = await cm.acquire(
            str(tmp_path), CacheSpec("a", "dir:710:123:45", mode=0o710, uid=123, gid=45)
        )
        st = os.stat(owned.path)
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (123, 45, 0o710)
        seeded = await cm.acquire(str(tmp_path), CacheSpec("a", "from:x:/", str(seed)))
        assert Path(seeded.path, "f").read_text() == "seeded"
        owned.release()
        seeded.release()

    asyncio.run(go())


def test_shared_users_see_one_directory_private_ones_their_own(tmp_path: Path) -> None:
    async def go() -> None:
        root = str(tmp_path)
        a = await cm.acquire(root, CacheSpec("c"), "shared")
        b = await cm.acquire(root, CacheSpec("c"), "shared")
        assert a.path == b.path
        p1 = await cm.acquire(root, CacheSpec("p"), "private")
        p2 = await cm.acquire(root, CacheSpec("p"), "private")
        assert p1.path != p2.path
        p1.release()
        p3 = await cm.acquire(root, CacheSpec("p"), "private")
        assert p3.path == p1.path  # an instance nobody uses is taken again
        for lease in (a, b, p2, p3):
            lease.release()

    asyncio.run(go())


def test_a_locked_cache_waits_for_its_user(tmp_path: Path) -> None:
    async def go() -> None:
        root = str(tmp_path)
        first = await cm.acquire(root, CacheSpec("l"), "locked")
        second = asyncio.ensure_future(cm.acquire(root, CacheSpec("l"), "locked"))
        await asyncio.sleep(0.3)
        assert not second.done()
        first.release()
        lease = await asyncio.wait_for(second, 5)
        assert lease.path == first.path
        lease.release()

    asyncio.run(go())


def test_prune_spares_what_is_in_use(tmp_path: Path) -> None:
    async def go() -> tuple[cm.Lease, cm.Lease]:
        root = str(tmp_path)
        used = await cm.acquire(root, CacheSpec("used"))
        idle = await cm.acquire(root, CacheSpec("idle"))
        Path(idle.path, "blob").write_bytes(b"x" * 1000)
        Path(used.path, "blob").write_bytes(b"y" * 10)
        idle.release()
        return used, idle

    used, idle = asyncio.run(go())
    usage = sorted(cm.cache_mounts_usage(str(tmp_path)))
    assert [(u.id, u.size, u.in_use) for u in usage] == [("idle", 1000, False), ("used", 10, True)]
    assert abs(usage[0].last_used - time.time()) < 60
    assert cm.prune_cache_mounts(str(tmp_path), keep_used_since=time.time() - 3600) == (0, 0)
    assert cm.prune_cache_mounts(str(tmp_path)) == (1, 1000)
    assert not os.path.exists(idle.path) and Path(used.path, "blob").exists()
    used.release()
    assert cm.prune_cache_mounts(str(tmp_path)) == (1, 10)
    assert os.listdir(cm.cache_root(str(tmp_path))) == []
    assert cm.cache_mounts_usage(str(tmp_path)) == []


def test_a_lease_of_a_pruned_instance_is_not_handed_out(tmp_path: Path) -> None:
    async def go() -> None:
        root = str(tmp_path)
        lease = await cm.acquire(root, CacheSpec("gone"))
        Path(lease.path, "old").touch()
        lease.release()
        cm.prune_cache_mounts(root)
        fresh = await cm.acquire(root, CacheSpec("gone"))
        assert os.listdir(fresh.path) == []
        fresh.release()

    asyncio.run(go())
