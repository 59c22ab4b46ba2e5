"""The Engine API's resource routes over the in-memory backend (``fake.py``): networks and
volumes with their bodies, filters and events; /info, /events, /system/df; a container's logs
and attach (framing by API version), resize, stats, and its files (cp, export, diff)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import tarfile
import time
from typing import Any

import pytest
from tests.unit.api.fake import CID, Api, FakeBackend, container

from wharf.engine.state import Status


def _message(r: Any) -> str:
    assert r.content_type == "application/json"
    message: str = r.json()["message"]
    return message


def _events(backend: FakeBackend, type_: str) -> list[tuple[str, str, dict[str, str]]]:
    return [(e["Action"], e["Actor"]["ID"], e["Actor"]["Attributes"]) for e in backend.events.history
            if e["Type"] == type_]  # fmt: skip


# --- networks


def test_network_create_inspect_remove(api: Api, backend: FakeBackend) -> None:
    body = {"Name": "front", "Driver": "bridge", "Labels": {"tier": "web"}, "Internal": False}
    r = api.post("/networks/create", body)
    assert r.status == 201
    nid = r.json()["Id"]
    assert r.json() == {"Id": nid, "Warning": ""}
    assert backend.calls == [("net_create", body)]
    assert _events(backend, "network") == [("create", nid, {"name": "front", "type": "bridge"})]
    assert api.get("/networks/front").json()["Id"] == nid
    r = api.get("/networks/back")
    assert (r.status, _message(r)) == (404, "network back not found")
    r = api.delete("/networks/front")
    assert (r.status, r.body) == (204, b"")
    assert _events(backend, "network")[-1] == ("destroy", nid, {"name": "front", "type": "bridge"})
    assert backend.net.networks == {}


def test_network_create_needs_a_body(api: Api, backend: FakeBackend) -> None:
    r = api.request("POST", "/networks/create")
    assert (r.status, _message(r)) == (400, "invalid JSON: request body is empty")
    assert backend.calls == []


def test_network_list_filters(api: Api, backend: FakeBackend) -> None:
    api.post("/networks/create", {"Name": "front", "Labels": {"tier": "web"}})
    api.post("/networks/create", {"Name": "back"})

    def names(filters: dict[str, Any]) -> list[str]:
        r = api.get("/networks", params={"filters": json.dumps(filters)})
        assert r.status == 200, r.body
        return sorted(v["Name"] for v in r.json())

    assert names({}) == ["back", "front"]
    assert names({"name": ["fro"]}) == ["front"]
    assert names({"label": ["tier=web"]}) == ["front"]
    assert names({"label": ["tier=db"]}) == []
    assert names({"type": ["custom"]}) == ["back", "front"]
    assert names({"dangling": ["true"]}) == ["back", "front"]
    r = api.get("/networks", params={"filters": json.dumps({"colour": ["red"]})})
    assert (r.status, _message(r)) == (400, "invalid filter 'colour'")


def test_network_connect_and_disconnect_hand_their_bodies(api: Api, backend: FakeBackend) -> None:
    r = api.post("/networks/front/connect", {"Container": "web", "EndpointConfig": {"Aliases": ["db"]}})
    assert (r.status, r.body) == (200, b"")
    api.post("/networks/front/connect", {"Container": "web"})
    r = api.post("/networks/front/disconnect", {"Container": "web", "Force": True})
    assert r.status == 200
    api.post("/networks/front/disconnect", {"Container": "web"})
    assert backend.calls == [
        ("connect", "web", "front", {"Aliases": ["db"]}),
        ("connect", "web", "front", {}),
        ("disconnect", "web", "front", True),
        ("disconnect", "web", "front", False),
    ]


def test_network_prune_keeps_what_the_label_filter_does_not_name(api: Api, backend: FakeBackend) -> None:
    api.post("/networks/create", {"Name": "front", "Labels": {"tier": "web"}})
    api.post("/networks/create", {"Name": "back"})
    r = api.post("/networks/prune?filters=" + json.dumps({"label": ["tier"]}))
    assert r.json() == {"NetworksDeleted": ["front"]}
    assert [n.name for n in backend.net.networks.values()] == ["back"]
    assert api.post("/networks/prune").json() == {"NetworksDeleted": ["back"]}


# --- volumes


def test_volume_create_is_docker_view_and_one_event(api: Api, backend: FakeBackend) -> None:
    body = {"Name": "data", "Labels": {"a": "b"}, "DriverOpts": {"type": "tmpfs"}}
    r = api.post("/volumes/create", body)
    assert r.status == 201
    assert r.json() == {
        "CreatedAt": "2024-01-01T00:00:00Z",
        "Driver": "local",
        "Labels": {"a": "b"},
        "Mountpoint": backend.volumes.data_dir("data"),
        "Name": "data",
        "Options": {"type": "tmpfs"},
        "Scope": "local",
    }
    assert backend.calls == [("vol_create", "data", "local", {"type": "tmpfs"}, {"a": "b"})]
    assert api.post("/volumes/create", body).status == 201  # an existing one, as it is
    assert _events(backend, "volume") == [("create", "data", {"driver": "local"})]
    assert api.get("/volumes/data").json()["Name"] == "data"
    r = api.get("/volumes/nope")
    assert (r.status, _message(r)) == (404, "get nope: no such volume")


def test_volume_create_without_a_name_makes_one(api: Api, backend: FakeBackend) -> None:
    r = api.request("POST", "/volumes/create")
    name = r.json()["Name"]
    assert len(name) == 64 and int(name, 16) >= 0
    assert r.json()["Options"] is None


def test_volume_list_filters_by_use(api: Api, backend: FakeBackend) -> None:
    for name in ("used", "idle"):
        api.post("/volumes/create", {"Name": name})
    backend.users["used"] = [CID]

    def names(filters: dict[str, Any]) -> list[str]:
        r = api.get("/volumes", params={"filters": json.dumps(filters)})
        assert r.status == 200, r.body
        assert r.json()["Warnings"] is None
        return [v["Name"] for v in r.json()["Volumes"]]

    assert names({}) == ["used", "idle"]
    assert names({"dangling": ["true"]}) == ["idle"]
    assert names({"dangling": ["0"]}) == ["used"]
    assert names({"name": ["us"]}) == ["used"]
    r = api.get("/volumes", params={"filters": json.dumps({"dangling": ["maybe"]})})
    assert (r.status, _message(r)) == (400, "invalid filter 'dangling=maybe'")


def test_volume_remove_refuses_one_in_use(api: Api, backend: FakeBackend) -> None:
    api.post("/volumes/create", {"Name": "data"})
    backend.users["data"] = [CID]
    r = api.delete("/volumes/data")
    assert (r.status, _message(r)) == (409, f"remove data: volume is in use - [{CID}]")
    backend.users.clear()
    assert api.delete("/volumes/data").status == 204
    assert _events(backend, "volume")[-1] == ("destroy", "data", {"driver": "local"})
    assert api.delete("/volumes/data").status == 404
    assert api.delete("/volumes/data?force=1").status == 204


def test_volume_prune_takes_unused_anonymous_volumes_unless_all(api: Api, backend: FakeBackend) -> None:
    api.post("/volumes/create", {"Name": "named"})
    backend.volumes.create("anon", anonymous=True)
    backend.volumes.create("busy", anonymous=True)
    backend.users["busy"] = [CID]
    with open(os.path.join(backend.volumes.data_dir("anon"), "f"), "wb") as f:
        f.write(b"x" * 8192)
    r = api.post("/volumes/prune")
    assert r.json()["VolumesDeleted"] == ["anon"]
    assert r.json()["SpaceReclaimed"] >= 8192
    r = api.post("/volumes/prune?filters=" + json.dumps({"all": ["true"]}))
    assert r.json() == {"VolumesDeleted": ["named"], "SpaceReclaimed": 0}
    assert list(backend.volumes.volumes) == ["busy"]


# --- system


def test_info_counts_what_the_backend_holds(api: Api, backend: FakeBackend) -> None:
    backend.add(container("9" * 64, "old", Status.EXITED))
    backend.add(container("a" * 64, "held", Status.PAUSED))
    info = api.get("/info").json()
    assert (info["Containers"], info["ContainersRunning"], info["ContainersPaused"]) == (3, 1, 1)
    assert info["ContainersStopped"] == 1
    assert (info["Images"], info["DefaultRuntime"]) == (0, "wharf")
    assert info["DockerRootDir"] == backend.cfg.data_root
    assert info["Runtimes"]["wharf"] == {"path": "/usr/bin/wharf-runtime"}
    assert info["ID"] == api.get("/info").json()["ID"]  # written once, read after


def test_events_replays_the_history_asked_for(api: Api, backend: FakeBackend) -> None:
    backend.events.emit("network", "create", "n1", {"name": "front"})
    backend.events.emit("volume", "create", "v1", {"driver": "local"})
    until = time.time() + 0.05
    r = api.get(f"/events?since=1&until={until}")
    lines = [json.loads(x) for x in r.body.splitlines()]
    assert [(e["Type"], e["Actor"]["ID"]) for e in lines] == [("network", "n1"), ("volume", "v1")]
    r = api.get(f"/events?since=1&until={until}&filters=" + json.dumps({"type": ["volume"]}))
    assert [json.loads(x)["Actor"]["ID"] for x in r.body.splitlines()] == ["v1"]
    assert backend.events.subscribers == set()


def test_system_df_lists_containers_and_volumes(api: Api, backend: FakeBackend) -> None:
    api.post("/volumes/create", {"Name": "data"})
    backend.users["data"] = [CID]
    df = api.get("/system/df").json()
    assert [(c["Id"], c["SizeRw"]) for c in df["Containers"]] == [(CID, 0)]
    assert [(v["Name"], v["UsageData"]["RefCount"]) for v in df["Volumes"]] == [("data", 1)]
    assert (df["Images"], df["BuildCache"]) == ([], [])


# --- a container's output and terminal


def _write_log(backend: FakeBackend) -> None:
    path = backend.paths.log_path(CID)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for stream, text, t in [("stdout", "hi\n", 1), ("stderr", "oops\n", 2), ("stdout", "bye\n", 3)]:
            f.write(json.dumps({"log": text, "stream": stream, "time": f"2024-01-01T00:00:0{t}.5Z"}) + "\n")


def _frame(kind: int, payload: bytes) -> bytes:
    return bytes([kind, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def test_logs_are_stdcopy_frames_in_every_version(api: Api, backend: FakeBackend) -> None:
    """Without a terminal dockerd frames the streams at every API version; 1.42 changed only the
    content type that says so."""
    _write_log(backend)
    r = api.get("/v1.41/containers/web/logs?stdout=1&stderr=1")
    assert r.content_type == "application/vnd.docker.raw-stream"
    assert r.body == _frame(1, b"hi\n") + _frame(2, b"oops\n") + _frame(1, b"bye\n")
    r = api.get("/v1.47/containers/web/logs?stdout=1&stderr=1")
    assert r.content_type == "application/vnd.docker.multiplexed-stream"
    assert r.body == _frame(1, b"hi\n") + _frame(2, b"oops\n") + _frame(1, b"bye\n")


def test_logs_streams_tail_and_timestamps(api: Api, backend: FakeBackend) -> None:
    _write_log(backend)
    assert api.get("/v1.41/containers/web/logs?stderr=1").body == _frame(2, b"oops\n")
    assert api.get("/v1.41/containers/web/logs?stdout=1&tail=1").body == _frame(1, b"bye\n")
    r = api.get("/v1.41/containers/web/logs?stdout=1&timestamps=1&tail=1")
    assert r.body == _frame(1, b"2024-01-01T00:00:03.5Z bye\n")
    r = api.get("/containers/web/logs")
    assert (r.status, _message(r)) == (400, "Bad parameters: you must choose at least one stream")


def test_attach_to_a_paused_container_is_refused_before_the_connection_is_taken(
    api: Api, backend: FakeBackend
) -> None:
    backend.add(container("b" * 64, "held", Status.PAUSED))
    r = api.post("/containers/held/attach?stream=1&stdout=1")
    assert (r.status, _message(r)) == (409, "You cannot attach to a paused container, unpause it first")
    r = api.post("/containers/web/attach?stream=1&detachKeys=ctrl-1")
    assert (r.status, _message(r)) == (400, "Invalid detach keys (ctrl-1) provided")


async def _hijacked(api: Api, path: str) -> bytes:
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
    out = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return out


def test_attach_replays_the_log_over_the_hijacked_connection(api: Api, backend: FakeBackend) -> None:
    _write_log(backend)
    out = api.run(_hijacked(api, "/v1.47/containers/web/attach?logs=1&stdout=1"))
    head, _, rest = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert b"Content-Type: application/vnd.docker.multiplexed-stream" in head
    assert rest == _frame(1, b"hi\n") + _frame(1, b"bye\n")


def test_attach_before_start_joins_at_start(api: Api, backend: FakeBackend) -> None:
    """A created container: the client waits for its start (the fake's fails at once)."""
    backend.add(container("c" * 64, "new", Status.CREATED))
    out = api.run(_hijacked(api, "/containers/new/attach?stream=1&stdout=1"))
    assert out.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert ("add_pre_start", "c" * 64) in backend.calls


def test_a_start_waits_until_the_shim_has_the_attach_client(
    api: Api, backend: FakeBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-start hook returned before the pump had connected to the shim: a process that
    wrote and exited at once lost its output (1 `docker run` in ~100 under load printed nothing)."""
    from wharf.engine import shim

    hooks: list[Any] = []
    backend.add(container("c" * 64, "new", Status.CREATED))
    monkeypatch.setattr(backend, "add_pre_start", lambda cid, cb, failed: hooks.append((cb, failed)))

    async def slow_connect(paths: Any) -> Any:
        await asyncio.sleep(0.3)
        raise OSError("the shim is gone")  # the pump gives up: the hook must not wait longer

    monkeypatch.setattr(shim, "connect_attach", slow_connect)

    async def scenario() -> float:
        client = asyncio.ensure_future(_hijacked(api, "/containers/new/attach?stream=1&stdout=1"))
        while not hooks:
            await asyncio.sleep(0.01)
        t0 = time.monotonic()
        await hooks[0][0]()  # what start runs between the runtime's create and start
        took = time.monotonic() - t0
        hooks[0][1]()
        await client
        return took

    assert 0.3 <= api.run(scenario()) < 5


def test_resize_writes_to_the_shims_control_file(api: Api, backend: FakeBackend) -> None:
    ctl = backend.paths.shim_paths(CID).ctl
    os.makedirs(os.path.dirname(ctl))
    open(ctl, "w").close()
    assert api.post("/containers/web/resize?h=30&w=100").status == 200
    with open(ctl) as f:
        assert f.read() == "resize 30 100\n"
    backend.add(container("d" * 64, "old", Status.EXITED))
    r = api.post("/containers/old/resize?h=1&w=1")
    assert (r.status, _message(r)) == (409, f"Container {'d' * 64} is not running")


def test_stats_of_a_stopped_container_is_an_empty_sample(api: Api, backend: FakeBackend) -> None:
    backend.add(container("e" * 64, "old", Status.EXITED))
    r = api.get("/containers/old/stats?stream=0")
    assert (r.json()["id"], r.json()["name"], r.json()["read"]) == ("e" * 64, "/old", "0001-01-01T00:00:00Z")
    assert "stats" not in backend.names()


def test_stats_one_shot_is_one_sample(api: Api, backend: FakeBackend) -> None:
    r = api.get("/containers/web/stats?stream=0&one-shot=1").json()
    assert (r["read"], r["cpu_stats"]) == ("2024-01-01T00:00:01Z", {"n": 1})
    assert r["preread"] == "0001-01-01T00:00:00Z"
    assert r["precpu_stats"] == {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}


# --- a container's files


@pytest.fixture
def rootfs(backend: FakeBackend) -> str:
    root = str(backend.fs_root)
    os.makedirs(f"{root}/etc")
    with open(f"{root}/etc/hostname", "w") as f:
        f.write("web\n")
    return root


def test_archive_head_and_get(api: Api, backend: FakeBackend, rootfs: str) -> None:
    r = api.request("HEAD", "/containers/web/archive?path=/etc/hostname")
    assert r.status == 200
    st = json.loads(base64.b64decode(r.headers["X-Docker-Container-Path-Stat"]))
    assert (st["name"], st["size"]) == ("hostname", 4)
    r = api.get("/containers/web/archive?path=/etc/hostname")
    assert r.content_type == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        member = tar.extractfile("hostname")
        assert member is not None and member.read() == b"web\n"
    assert ("container_fs", CID, True) in backend.calls
    assert _events(backend, "container")[-1][0] == "archive-path"
    r = api.get("/containers/web/archive")
    assert (r.status, _message(r)) == (400, "path must not be empty")
    assert api.get("/containers/web/archive?path=/nope").status == 404


def test_archive_put_extracts_into_the_container(api: Api, backend: FakeBackend, rootfs: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("motd")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    r = api.request("PUT", "/containers/web/archive?path=/etc", data=buf.getvalue())
    assert r.status == 200, r.body
    with open(f"{rootfs}/etc/motd", "rb") as f:
        assert f.read() == b"hi\n"
    assert _events(backend, "container")[-1][0] == "extract-to-dir"


def test_export_is_the_rootfs_without_volumes(api: Api, backend: FakeBackend, rootfs: str) -> None:
    r = api.get("/containers/web/export")
    with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
        assert "etc/hostname" in [m.name.lstrip("./") for m in tar.getmembers()]
    assert ("container_fs", CID, False) in backend.calls
    assert _events(backend, "container")[-1][0] == "export"


def test_changes_none_is_null(api: Api, backend: FakeBackend) -> None:
    r = api.get("/containers/web/changes")
    assert (r.status, r.body) == (200, b"null")
    assert ("changes", CID) in backend.calls
