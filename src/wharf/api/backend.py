"""What the Engine API's routes need of the engine: one role Protocol per group of routes.

As moby's ``daemon/server/router/container/backend.go`` builds its ``Backend`` from
``stateBackend``, ``execBackend``, ``copyBackend``..., each module of ``api/routes/`` depends on
one role below and reaches it through one accessor (``backend.containers(request)``), which
reads the one app key ``make_app`` sets. A role lists the methods and read-only properties its
routes call, nothing more; ``Backend`` is every role at once, what ``make_app`` takes.

The engine's facade (``wharf.engine.engine.Engine``) is a ``Backend`` structurally (mypy checks
it in ``api/app.py``); the route tests pass an in-memory fake. What crosses is the engine's
records and typed requests (``Container``, ``Exec``, ``Network``, ``Volume``, ``CreateRequest``,
``HostConfig``, ``CommitRequest``) and Docker's JSON shapes as dicts.

    role               routes                                  module
    ContainerBackend   create, list, inspect, start ... top    routes/containers.py
    AttachBackend      logs, attach, resize                    routes/attach.py
    StatsBackend       stats                                   routes/stats.py
    ArchiveBackend     archive HEAD/GET/PUT, export, commit,   routes/archive.py
                       changes
    ExecBackend        exec create, start, resize, inspect     routes/execs.py
    SystemBackend      info, events, system df                 routes/system.py
    ImageBackend       /images/*, /auth                        routes/images.py
    NetworkBackend     /networks/*                             routes/networks.py
    VolumeBackend      /volumes/*                              routes/volumes.py
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence, Sized
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from wharf.archive.scoped import ScopedFS
    from wharf.engine.commit import CommitRequest
    from wharf.engine.containers import Container
    from wharf.engine.execs import Client, Exec
    from wharf.engine.request import CreateRequest, HostConfig
    from wharf.engine.shim import ShimPaths
    from wharf.images.store import ImageStore
    from wharf.network.store import Network
    from wharf.volumes.store import Volume

# --- the parts several roles read


class EventSink(Protocol):
    """Events the routes emit themselves (networks, volumes, images)."""

    def emit(self, type_: str, action: str, actor_id: str, attributes: dict[str, str]) -> dict[str, Any]: ...


class EventSource(EventSink, Protocol):
    """GET /events: the history, live subscriptions, and how many there are (for /info)."""

    @property
    def history(self) -> Iterable[dict[str, Any]]: ...
    @property
    def subscribers(self) -> Sized: ...
    def subscribe(self) -> asyncio.Queue[dict[str, Any]]: ...
    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None: ...


class DaemonSettings(Protocol):
    """The daemon's configuration as /info shows it and a pull or push reads it."""

    @property
    def data_root(self) -> str: ...
    @property
    def log_level(self) -> str: ...
    @property
    def default_runtime(self) -> str: ...
    @property
    def registry_mirrors(self) -> Sequence[str]: ...
    @property
    def insecure_registries(self) -> Sequence[str]: ...
    @property
    def remapped(self) -> bool: ...
    @property
    def seccomp_profile(self) -> str: ...
    @property
    def no_new_privileges(self) -> bool: ...
    def runtime_path(self, name: str | None = None) -> str: ...


class ContainerPaths(Protocol):
    """Where a container's json-file log and its shim's sockets are."""

    def log_path(self, cid: str) -> str: ...
    def shim_paths(self, cid: str) -> ShimPaths: ...


class Lookup(Protocol):
    def get(self, ref: str) -> Container:
        """By ID, name or unique ID prefix; NotFound otherwise."""
        ...

    def by_id(self, cid: str) -> Container | None:
        """Exactly this ID, or None: is the container still there?"""
        ...


# --- the roles


class ContainerBackend(Protocol):
    """The lifecycle: /containers/create, json, {id}/json, start ... wait, update, prune, top."""

    def get(self, ref: str) -> Container: ...
    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]: ...
    async def create(self, req: CreateRequest) -> tuple[str, builtins.list[str]]: ...
    async def start(self, ref: str) -> None: ...
    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None: ...
    async def restart(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None: ...
    async def kill(self, ref: str, sig: str | int | None = None) -> None: ...
    async def pause(self, ref: str) -> None: ...
    async def unpause(self, ref: str) -> None: ...
    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]: ...
    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None: ...
    async def rename(self, ref: str, new: str) -> None: ...
    def remove_link(self, name: str) -> None: ...
    async def prune(self, filters: dict[str, builtins.list[str]]) -> dict[str, Any]: ...
    async def update(self, ref: str, body: HostConfig) -> builtins.list[str]: ...
    async def top(self, c: Container, ps_args: str = "-ef") -> dict[str, Any]: ...
    def list_json(
        self,
        all_: bool = False,
        filters: dict[str, builtins.list[str]] | None = None,
        limit: int = -1,
        size: bool = False,
    ) -> str: ...


class AttachBackend(Lookup, Protocol):
    """A container's output and terminal: logs (its json-file log), attach (its shim's socket,
    joined before start when the container has not started yet), resize."""

    @property
    def paths(self) -> ContainerPaths: ...
    def add_pre_start(
        self, cid: str, cb: Callable[[], Awaitable[None]], failed: Callable[[], None]
    ) -> None: ...
    def removed_future(self, cid: str) -> asyncio.Future[None]: ...


class StatsBackend(Lookup, Protocol):
    def stats(self, c: Container) -> dict[str, Any]:
        """One sample of a running container's counters, in Docker's stats shape."""
        ...


class ArchiveBackend(Protocol):
    """A container's files: cp (archive), export, commit, diff (changes)."""

    def get(self, ref: str) -> Container: ...
    def container_fs(self, c: Container, volumes: bool = True) -> AbstractAsyncContextManager[ScopedFS]: ...
    def emit(self, c: Container, action: str, **extra: str) -> None: ...
    async def pause(self, ref: str) -> None: ...
    async def unpause(self, ref: str) -> None: ...
    async def commit(self, c: Container, req: CommitRequest) -> str: ...
    async def changes(self, c: Container) -> builtins.list[dict[str, Any]]: ...


class ExecBackend(Protocol):
    """Exec instances: made in a running container, started detached or over a hijacked
    connection (``conn``), resized, inspected."""

    def create(self, ref: str, config: dict[str, Any]) -> str: ...
    def get(self, eid: str) -> Exec: ...
    def inspect(self, eid: str) -> dict[str, Any]: ...
    async def start(self, eid: str, detach: bool, conn: Client | None, multiplexed: bool) -> None: ...
    def resize(self, eid: str, h: int, w: int) -> None: ...


class VolumeRecords(Protocol):
    """The local volume driver's volumes (``wharf.volumes.store.VolumeStore``)."""

    def data_dir(self, name: str) -> str: ...
    def get(self, name: str) -> Volume: ...
    def find(self, name: str) -> Volume | None: ...
    def create(
        self,
        name: str,
        driver: str = "local",
        options: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        anonymous: bool = False,
    ) -> tuple[Volume, bool]: ...
    def remove(self, name: str) -> None: ...
    def all(self) -> builtins.list[Volume]: ...


class SystemBackend(Protocol):
    """/info, /events and /system/df (the image store is read through wharf.images.ops)."""

    @property
    def cfg(self) -> DaemonSettings: ...
    @property
    def events(self) -> EventSource: ...
    @property
    def images(self) -> ImageStore: ...
    @property
    def volumes(self) -> VolumeRecords: ...
    def volume_users(self, name: str) -> builtins.list[str]: ...
    def all_containers(self) -> builtins.list[Container]: ...


class ImageBackend(Protocol):
    """The image store (for wharf.images.ops and .archive, wharf.distribution), the containers
    made from images (an image in use is not removed or pruned), the registry settings."""

    @property
    def images(self) -> ImageStore: ...
    @property
    def events(self) -> EventSink: ...
    @property
    def cfg(self) -> DaemonSettings: ...
    def all_containers(self) -> builtins.list[Container]: ...


class Networks(Protocol):
    """The network manager as /networks uses it (``wharf.network.manager.NetworkManager``)."""

    @property
    def networks(self) -> Mapping[str, Network]: ...
    def all_views(self) -> builtins.list[dict[str, Any]]: ...
    def view(self, ref: str) -> dict[str, Any]: ...
    async def create(self, body: dict[str, Any]) -> tuple[str, str]: ...
    async def remove(self, ref: str) -> Network: ...
    async def prune(self, keep: Callable[[Network], bool]) -> builtins.list[str]: ...


class NetworkBackend(Protocol):
    @property
    def net(self) -> Networks: ...
    @property
    def events(self) -> EventSink: ...
    async def connect(self, ref: str, network: str, endpoint: dict[str, Any]) -> None: ...
    async def disconnect(self, ref: str, network: str, force: bool = False) -> None: ...


class VolumeBackend(Protocol):
    @property
    def volumes(self) -> VolumeRecords: ...
    @property
    def events(self) -> EventSink: ...
    def volume_users(self, name: str) -> builtins.list[str]:
        """The IDs of the containers that mount this volume."""
        ...


class Backend(
    ContainerBackend,
    AttachBackend,
    StatsBackend,
    ArchiveBackend,
    SystemBackend,
    ImageBackend,
    NetworkBackend,
    VolumeBackend,
    Protocol,
):
    """Every role: what ``make_app`` serves."""

    @property
    def execs(self) -> ExecBackend: ...
    @property
    def events(self) -> EventSource: ...


# --- the one app key and the accessors, one per role

BACKEND: web.AppKey[Backend] = web.AppKey("backend")


def containers(request: web.Request) -> ContainerBackend:
    return request.app[BACKEND]


def attach(request: web.Request) -> AttachBackend:
    return request.app[BACKEND]


def stats(request: web.Request) -> StatsBackend:
    return request.app[BACKEND]


def archive(request: web.Request) -> ArchiveBackend:
    return request.app[BACKEND]


def execs(request: web.Request) -> ExecBackend:
    return request.app[BACKEND].execs


def system(request: web.Request) -> SystemBackend:
    return request.app[BACKEND]


def images(request: web.Request) -> ImageBackend:
    return request.app[BACKEND]


def networks(request: web.Request) -> NetworkBackend:
    return request.app[BACKEND]


def volumes(request: web.Request) -> VolumeBackend:
    return request.app[BACKEND]
