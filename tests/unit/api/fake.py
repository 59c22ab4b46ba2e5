"""An in-memory backend for the API's route tests: every role of ``wharf.api.backend`` over
plain records (the engine's own ``Container``, ``Exec``, ``Network``, ``Volume`` dataclasses and
its in-memory ``EventBus``), no root, no daemon, no kernel. Each backend call is recorded in
``calls`` as (name, args...); ``fail`` is raised by the next call (then cleared), so a test
can make any route meet any error.

``Api`` runs ``make_app(fake)`` on aiohttp's test server in a loop of its own and answers
``Reply`` values, so tests read as plain calls."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from wharf.api.app import make_app
from wharf.archive.scoped import ScopedFS
from wharf.engine.commit import CommitRequest
from wharf.engine.containers import Container
from wharf.engine.events import EventBus
from wharf.engine.execs import Client, Exec
from wharf.engine.paths import Paths
from wharf.engine.request import CreateRequest, HostConfig
from wharf.engine.state import State, Status
from wharf.errors import NotFound
from wharf.network.store import Network
from wharf.volumes.store import Volume

CID = "c0ffee" + "0" * 58


def container(
    cid: str = CID, name: str = "web", status: Status = Status.RUNNING, tty: bool = False
) -> Container:
    return Container(
        id=cid,
        name=name,
        created="2024-01-01T00:00:00Z",
        config={"Image": "busybox", "Cmd": ["sh"], "Tty": tty},
        host_config={},
        image_id="sha256:" + "1" * 64,
        image_name="busybox",
        path="sh",
        args=[],
        state=State(status=status, pid=42 if status.alive else 0),
    )


@dataclass
class Settings:
    data_root: str
    log_level: str = "info"
    default_runtime: str = "wharf"
    registry_mirrors: list[str] = field(default_factory=list)
    insecure_registries: list[str] = field(default_factory=list)
    remapped: bool = False
    seccomp_profile: str = "builtin"
    no_new_privileges: bool = False

    def runtime_path(self, name: str | None = None) -> str:
        return f"/usr/bin/{name or self.default_runtime}-runtime"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.fail: BaseException | None = None

    def call(self, *entry: Any) -> None:
        self.calls.append(entry)
        if self.fail is not None:
            exc, self.fail = self.fail, None
            raise exc

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class FakeExecs:
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.execs: dict[str, Exec] = {}
        self.output = b"hello from exec\n"

    def create(self, ref: str, config: dict[str, Any]) -> str:
        self.rec.call("exec_create", ref, config)
        eid = f"e{len(self.execs):063d}"
        self.execs[eid] = Exec(eid, ref, config)
        return eid

    def get(self, eid: str) -> Exec:
        self.rec.call("exec_get", eid)
        if eid not in self.execs:
            raise NotFound(f"No such exec instance: {eid}")
        return self.execs[eid]

    def inspect(self, eid: str) -> dict[str, Any]:
        self.rec.call("exec_inspect", eid)
        return {"ID": self.get(eid).id, "Running": False}

    async def start(self, eid: str, detach: bool, conn: Client | None, multiplexed: bool) -> None:
        self.rec.call("exec_start", eid, detach, conn is not None, multiplexed)
        if conn is not None:
            await conn.write(self.output)

    def resize(self, eid: str, h: int, w: int) -> None:
        self.rec.call("exec_resize", eid, h, w)


class FakeNetworks:
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.networks: dict[str, Network] = {}

    def _view(self, n: Network) -> dict[str, Any]:
        return {"Name": n.name, "Id": n.id, "Driver": n.driver, "Labels": n.labels, "Containers": {}}

    def all_views(self) -> list[dict[str, Any]]:
        self.rec.call("net_all_views")
        return [self._view(n) for n in self.networks.values()]

    def view(self, ref: str) -> dict[str, Any]:
        self.rec.call("net_view", ref)
        for n in self.networks.values():
            if ref in (n.id, n.name):
                return self._view(n)
        raise NotFound(f"network {ref} not found")

    async def create(self, body: dict[str, Any]) -> tuple[str, str]:
        self.rec.call("net_create", body)
        nid = f"{len(self.networks) + 1:064x}"
        self.networks[nid] = Network(
            nid, body["Name"], body.get("Driver") or "bridge", "br-x", "10.9.0.0/24", "10.9.0.1",
            labels=dict(body.get("Labels") or {}),
        )  # fmt: skip
        return nid, ""

    async def remove(self, ref: str) -> Network:
        self.rec.call("net_remove", ref)
        for nid, n in list(self.networks.items()):
            if ref in (n.id, n.name):
                return self.networks.pop(nid)
        raise NotFound(f"network {ref} not found")

    async def prune(self, keep: Callable[[Network], bool]) -> list[str]:
        self.rec.call("net_prune")
        gone = [n for n in self.networks.values() if not keep(n)]
        for n in gone:
            del self.networks[n.id]
        return [n.name for n in gone]


class FakeVolumes:
    def __init__(self, rec: Recorder, root: Path) -> None:
        self.rec = rec
        self.root = root
        self.volumes: dict[str, Volume] = {}

    def data_dir(self, name: str) -> str:
        return f"{self.root}/volumes/{name}/_data"

    def get(self, name: str) -> Volume:
        self.rec.call("vol_get", name)
        if name not in self.volumes:
            raise NotFound(f"get {name}: no such volume")
        return self.volumes[name]

    def find(self, name: str) -> Volume | None:
        return self.volumes.get(name)

    def create(
        self,
        name: str,
        driver: str = "local",
        options: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> tuple[Volume, bool]:
        self.rec.call("vol_create", name, driver, options, labels)
        if name in self.volumes:
            return self.volumes[name], False
        v = Volume(name, driver, dict(labels or {}), dict(options or {}), "2024-01-01T00:00:00Z", anonymous)
        self.volumes[name] = v
        os.makedirs(self.data_dir(name), exist_ok=True)
        return v, True

    def remove(self, name: str) -> None:
        self.rec.call("vol_remove", name)
        del self.volumes[name]

    def all(self) -> list[Volume]:
        return list(self.volumes.values())


class FakeImages:
    """The image store as /info counts it (the image routes are the integration tests')."""

    def list_images(self) -> list[Any]:
        return []


class FakeBackend(Recorder):
    def __init__(self, root: Path) -> None:
        super().__init__()
        self.records: dict[str, Container] = {}
        self.cfg = Settings(data_root=str(root))
        self.paths = Paths(str(root / "data"), str(root / "exec"))
        self.events = EventBus()
        self.execs = FakeExecs(self)
        self.net = FakeNetworks(self)
        self.volumes = FakeVolumes(self, root)
        self.images: Any = FakeImages()
        self.users: dict[str, list[str]] = {}  # volume name → container IDs
        self.wait_result: dict[str, Any] = {"StatusCode": 0}
        self.wait_gate: asyncio.Event | None = None
        self.fs_root = root / "rootfs"
        self.samples = 0

    def add(self, c: Container) -> Container:
        self.records[c.id] = c
        return c

    # --- lookup

    def get(self, ref: str) -> Container:
        self.call("get", ref)
        for c in self.records.values():
            if ref in (c.id, c.name) or (len(ref) >= 3 and c.id.startswith(ref)):
                return c
        raise NotFound(f"No such container: {ref}")

    def by_id(self, cid: str) -> Container | None:
        return self.records.get(cid)

    def all_containers(self) -> list[Container]:
        return list(self.records.values())

    # --- ContainerBackend

    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        self.call("inspect", ref, size)
        c = self.get(ref)
        return {"Id": c.id, "Name": "/" + c.name, "State": c.state.to_docker()}

    async def create(self, req: CreateRequest) -> tuple[str, list[str]]:
        self.call("create", req)
        c = self.add(container(f"{len(self.records) + 1:064x}", req.name or "random_name", Status.CREATED))
        return c.id, ["a warning"]

    async def start(self, ref: str) -> None:
        self.call("start", ref)

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        self.call("stop", ref, timeout, sig)

    async def restart(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        self.call("restart", ref, timeout, sig)

    async def kill(self, ref: str, sig: str | int | None = None) -> None:
        self.call("kill", ref, sig)

    async def pause(self, ref: str) -> None:
        self.call("pause", ref)

    async def unpause(self, ref: str) -> None:
        self.call("unpause", ref)

    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        self.call("wait", ref, condition)
        if self.wait_gate is not None:
            await self.wait_gate.wait()
        return self.wait_result

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        self.call("remove", ref, force, volumes)

    async def rename(self, ref: str, new: str) -> None:
        self.call("rename", ref, new)

    def remove_link(self, name: str) -> None:
        self.call("remove_link", name)

    async def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        self.call("prune", filters)
        return {"ContainersDeleted": ["x"], "SpaceReclaimed": 0}

    async def update(self, ref: str, body: HostConfig) -> list[str]:
        self.call("update", ref, body)
        return []

    async def top(self, c: Container, ps_args: str = "-ef") -> dict[str, Any]:
        self.call("top", c.id, ps_args)
        return {"Titles": ["PID", "CMD"], "Processes": [["42", "sh"]]}

    def list_json(
        self,
        all_: bool = False,
        filters: dict[str, list[str]] | None = None,
        limit: int = -1,
        size: bool = False,
    ) -> str:
        self.call("list_json", all_, filters, limit, size)
        return json.dumps([{"Id": c.id, "Names": ["/" + c.name]} for c in self.records.values()])

    # --- AttachBackend, StatsBackend

    def add_pre_start(self, cid: str, cb: Callable[[], Awaitable[None]], failed: Callable[[], None]) -> None:
        self.call("add_pre_start", cid)
        failed()

    def removed_future(self, cid: str) -> asyncio.Future[None]:
        return asyncio.get_running_loop().create_future()

    def stats(self, c: Container) -> dict[str, Any]:
        self.call("stats", c.id)
        self.samples += 1
        return {"read": f"2024-01-01T00:00:0{self.samples}Z", "cpu_stats": {"n": self.samples}, "id": c.id}

    # --- ArchiveBackend

    @asynccontextmanager
    async def _fs(self, c: Container, volumes: bool) -> AsyncIterator[ScopedFS]:
        self.call("container_fs", c.id, volumes)
        with ScopedFS(str(self.fs_root)) as fs:
            yield fs

    def container_fs(self, c: Container, volumes: bool = True) -> Any:
        return self._fs(c, volumes)

    def emit(self, c: Container, action: str, **extra: str) -> None:
        self.events.container(c, action, **extra)

    async def commit(self, c: Container, req: CommitRequest) -> str:
        self.call("commit", c.id, req)
        return "sha256:" + "2" * 64

    async def changes(self, c: Container) -> list[dict[str, Any]]:
        self.call("changes", c.id)
        return []

    # --- networks, volumes

    async def connect(self, ref: str, network: str, endpoint: dict[str, Any]) -> None:
        self.call("connect", ref, network, endpoint)

    async def disconnect(self, ref: str, network: str, force: bool = False) -> None:
        self.call("disconnect", ref, network, force)

    def volume_users(self, name: str) -> list[str]:
        return self.users.get(name, [])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


class Api:
    """``make_app(backend)`` served on a loop of its own; ``api.get("/_ping")`` and friends."""

    def __init__(self, backend: FakeBackend) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = self.run(self._client(backend))

    @staticmethod
    async def _client(backend: FakeBackend) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(TestServer(make_app(backend)))
        await client.start_server()
        return client

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    async def areq(self, method: str, path: str, **kw: Any) -> Reply:
        body = kw.pop("json_body", None)
        if body is not None:
            kw["data"] = json.dumps(body)
        async with self.client.request(method, path, **kw) as resp:
            return Reply(resp.status, dict(resp.headers), await resp.read())

    def request(self, method: str, path: str, **kw: Any) -> Reply:
        reply: Reply = self.run(self.areq(method, path, **kw))
        self.run(asyncio.sleep(0.01))  # what a handler left running (a detached exec start) runs
        return reply

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.request("POST", path, json_body=body, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.request("DELETE", path, **kw)

    def close(self) -> None:
        self.run(self.client.close())
        self.loop.close()


def serve(backend: FakeBackend) -> Iterator[Api]:
    api = Api(backend)
    try:
        yield api
    finally:
        api.close()
