"""ps rows kept as JSON text between requests (views.SummaryCache): a row must be exactly what
container_summary makes, and must change when its record is written, its state moves in memory
or the clock moves its Status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

from wharf.base.times import now_rfc3339
from wharf.engine import views
from wharf.engine.containers import Container, ContainerStore
from wharf.engine.state import State, Status


def _container(cid: str, name: str) -> Container:
    return Container(
        id=cid,
        name=name,
        created="2024-01-01T00:00:00Z",
        config={"Image": "busybox", "Cmd": ["sh"], "Labels": {"a": "1"}},
        host_config={"NetworkMode": "bridge"},
        image_id="sha256:" + "1" * 64,
        image_name="busybox",
        path="sh",
        args=[],
        networking={
            "Networks": {"bridge": {"IPAddress": "172.17.0.2", "_private": 1}},
            "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
        },  # fmt: skip
        state=State(),
    )


def _row(cache: views.SummaryCache, store: ContainerStore, c: Container, links: Any = None) -> Any:
    return json.loads(cache.row(c, store.revs.get(c.id, 0), links))


def test_row_is_the_summary_and_follows_writes(tmp_path: Path) -> None:
    store = ContainerStore(str(tmp_path / "engine.db"))
    c = _container("a" * 64, "web")
    store.add(c)
    cache = views.SummaryCache()
    assert _row(cache, store, c) == views.container_summary(c)
    assert _row(cache, store, c, ["/other/web"])["Names"] == ["/web", "/other/web"]

    # a written change (a new label) shows at once
    c.config["Labels"] = {"a": "2"}
    store.save(c)
    assert _row(cache, store, c)["Labels"] == {"a": "2"}

    # a state moved in memory without a write shows too
    c.state.status = Status.RUNNING
    c.state.started_at = now_rfc3339()
    row = _row(cache, store, c)
    assert row["State"] == "running" and row["Status"].startswith("Up ")
    assert row == views.container_summary(c)

    # a network entry replaced in memory
    c.networking["Networks"] = {"mynet": {"IPAddress": "10.0.0.2"}}
    assert list(_row(cache, store, c)["NetworkSettings"]["Networks"]) == ["mynet"]


def test_status_follows_the_clock(tmp_path: Path) -> None:
    store = ContainerStore(str(tmp_path / "engine.db"))
    c = _container("b" * 64, "db")
    c.state.status = Status.EXITED
    c.state.exit_code = 3
    c.state.finished_at = "2024-01-01T00:00:00Z"
    store.add(c)
    cache = views.SummaryCache()
    start = 1704067200.0  # the finish time above
    with mock.patch.object(views.time, "time", return_value=start + 30):
        assert _row(cache, store, c)["Status"] == "Exited (3) 30 seconds ago"
    with mock.patch.object(views.time, "time", return_value=start + 7200):
        assert _row(cache, store, c)["Status"] == "Exited (3) 2 hours ago"


def test_forget_others_drops_removed(tmp_path: Path) -> None:
    store = ContainerStore(str(tmp_path / "engine.db"))
    cache = views.SummaryCache()
    cs = [_container(ch * 64, f"c{ch}") for ch in "cdef"]
    for c in cs:
        store.add(c)
        cache.row(c, store.revs[c.id], None)
    store.delete(cs[0].id)
    assert cs[0].id not in store.revs
    cache.forget_others(set(store.revs))
    assert len(cache) == 3
