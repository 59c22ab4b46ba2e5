"""The engine: Docker's container semantics over the image store, the OCI runtime and wharf-shim.

``Engine`` is a facade: it wires the parts once (``Core``: store, events, paths, runtime
runner, waiters, network, volumes, images, health) and hands each call to the module of its
operation. One ``Engine`` per daemon, driven from the asyncio loop; blocking work (mounts,
snapshots, spawning the shim) runs in the default executor; everything that changes a
container holds that container's lock, so a ``stop`` and a ``start`` of one container never
interleave, while different containers proceed in parallel.

``run`` as data: create (resolve image → prepare snapshot → files → record) → start (mount
rootfs → specgen → shim: runtime create → attach clients join → runtime start) → the shim's
pidfd fires on exit → exit file → runtime delete, unmount → state, events, waiters → restart
policy or auto-remove. ``<data-root>/engine.db`` holds the containers (``containers.py``),
``paths.py`` says where their files are.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from wharf.engine import changes as diff
from wharf.engine import commit as committing
from wharf.engine import create as creating
from wharf.engine import exits, files, links, remove, restart, restore, start, stop, update, userns, views
from wharf.engine import stats as sampling
from wharf.engine import volumes as vuse
from wharf.engine.commit import CommitRequest
from wharf.engine.config import DaemonConfig
from wharf.engine.containers import Container, ContainerStore
from wharf.engine.core import Core
from wharf.engine.events import EventBus
from wharf.engine.execs import ExecManager
from wharf.engine.health import HealthMonitor
from wharf.engine.paths import Paths
from wharf.engine.request import CreateRequest, HostConfig
from wharf.engine.runner import RuntimeRunner, blocking
from wharf.errors import WharfError

if TYPE_CHECKING:
    from wharf.archive.scoped import ScopedFS
    from wharf.images.store import ImageStore
    from wharf.network.manager import NetworkManager
    from wharf.volumes.store import VolumeStore


log = logging.getLogger("wharf.engine")


class Engine:
    def __init__(self, cfg: DaemonConfig) -> None:
        from wharf.network.manager import NetworkManager
        from wharf.volumes.store import VolumeStore

        self.cfg = cfg
        self.paths = Paths(cfg.data_root, cfg.exec_root)
        self.paths.make_roots()
        self.containers = ContainerStore(f"{cfg.data_root}/engine.db")
        self.summaries = views.SummaryCache()
        self.events = EventBus()
        self.started_at = time.time()
        net = NetworkManager(
            cfg.data_root,
            bridge=cfg.bridge,
            bip=cfg.bip,
            pools=cfg.address_pools,
            table=cfg.firewall_table,
            mtu=cfg.mtu,
            dns=cfg.dns,
            icc=cfg.icc,
        )
        net.containers = self.containers.all
        volumes = VolumeStore(f"{cfg.data_root}/volumes", owner=cfg.remap.ids.root if cfg.remap else None)
        if cfg.remap is not None:
            userns.traversable(f"{cfg.data_root}/containers", cfg.remap)
        runner = RuntimeRunner(cfg, self.paths.runtime_root)
        self.health = HealthMonitor(self.containers, self.paths, runner, self.events.container)
        self.execs = ExecManager(self.containers, self.paths, runner, self.events.container)
        self.core = Core(cfg, self.paths, self.containers, self.events, runner, net, volumes, self.health)
        self.core.on_exit = lambda cid: exits.spawn_handler(self.core, cid)

    # --- the parts, for the API and the daemon

    @property
    def net(self) -> NetworkManager:
        return self.core.net

    @property
    def volumes(self) -> VolumeStore:
        return self.core.volumes

    @property
    def images(self) -> ImageStore:
        return self.core.images

    def get(self, ref: str) -> Container:
        return self.containers.get(ref)

    def by_id(self, cid: str) -> Container | None:
        """The container of exactly this ID, or None: no lookup by name or prefix, no error (a
        stream asking whether its container is still there)."""
        return self.containers.by_id.get(cid)

    def all_containers(self) -> list[Container]:
        return self.containers.all()

    def emit(self, c: Container, action: str, **extra: str) -> None:
        self.core.emit(c, action, **extra)

    def volume_users(self, name: str) -> list[str]:
        return self.core.volume_users(name)

    def add_pre_start(self, cid: str, cb: Callable[[], Awaitable[None]], failed: Callable[[], None]) -> None:
        self.core.waiters.add_pre_start(cid, cb, failed)

    def removed_future(self, cid: str) -> Any:
        return self.core.waiters.removed_future(cid)

    # --- daemon start and stop

    async def restore(self) -> None:
        try:
            self.core.spawner.start()
        except OSError as exc:  # each create tries again, then spawns the shim itself
            log.warning("starting the runtime's spawner: %s", exc)
        await restore.restore(self.core)

    def restore_volumes(self) -> None:
        vuse.restore(self.core.volumes, self.containers)

    def restore_links(self) -> None:
        """After the network's start (its table made anew): the legacy links of the running
        parents opened again on a default bridge without icc."""
        for c in self.core.store.all():
            if c.links and c.state.running:
                try:
                    self.core.net.open_links(c, links.holes(self.core.store, c))
                except WharfError as exc:
                    log.warning("re-opening the links of %s: %s", c.short_id, exc)

    async def close(self) -> None:
        """A clean stop. Running containers keep running (live restore) and keep their network
        and cgroups; with none running, the bridges, the nftables table and the default cgroup
        parent (when empty) go as well, to be made again at the next start."""
        idle = not any(c.state.status.has_process for c in self.core.store.all())
        await self.core.net.close(teardown=idle)
        parent = self.core.cfg.cgroup_parent
        if idle and os.path.basename(parent.rstrip("/")).startswith("wharf"):
            # only a parent of wharf's own naming: one the operator chose may not be ours
            from wharf.runtime import cgroups

            cgroups.remove_empty(parent)
        self.core.spawner.close()
        self.core.volumes.close()
        self.containers.close()
        self.core.close_images()

    # --- operations

    async def create(self, req: CreateRequest) -> tuple[str, list[str]]:
        return await creating.create(self.core, req)

    async def start(self, ref: str) -> None:
        await start.start(self.core, ref)

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        await stop.stop(self.core, ref, timeout, sig)

    async def restart(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        await restart.restart(self.core, ref, timeout, sig)

    async def kill(self, ref: str, sig: str | int | None = None) -> None:
        await stop.kill(self.core, ref, sig)

    async def pause(self, ref: str) -> None:
        await stop.pause(self.core, ref)

    async def unpause(self, ref: str) -> None:
        await stop.unpause(self.core, ref)

    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        return await exits.wait(self.core, ref, condition)

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        await remove.remove(self.core, ref, force, volumes)

    async def rename(self, ref: str, new: str) -> None:
        await remove.rename(self.core, ref, new)

    async def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        return await remove.prune(self.core, filters)

    async def update(self, ref: str, body: HostConfig) -> list[str]:
        return await update.update(self.core, ref, body)

    async def commit(self, c: Container, req: CommitRequest) -> str:
        """The container's changes as a new image; its ID."""
        return await blocking(committing.commit, self.images, c, req)

    async def connect(self, ref: str, network: str, endpoint: dict[str, Any]) -> None:
        c = self.get(ref)
        async with self.core.waiters.lock(c.id):
            await self.net.connect(c, network, endpoint)
            self.containers.save(c)
        n = self.net.resolve(network)
        self.events.emit("network", "connect", n.id, {"container": c.id, "name": n.name, "type": n.driver})

    async def disconnect(self, ref: str, network: str, force: bool = False) -> None:
        c = self.get(ref)
        async with self.core.waiters.lock(c.id):
            await self.net.disconnect(c, network, force)
            self.containers.save(c)
        self.events.emit("network", "disconnect", network, {"container": c.id, "name": network})

    # --- a container's files and processes

    def container_fs(self, c: Container, volumes: bool = True) -> AbstractAsyncContextManager[ScopedFS]:
        """The container's files as `cp` sees them (its rootfs alone without ``volumes``), mounted
        for the ``async with`` under the container's lock."""
        return files.container_fs(self.core, c, volumes)

    async def changes(self, c: Container) -> list[dict[str, Any]]:
        """`docker diff`: what the container changed in its image's files."""
        return await blocking(diff.changes, self.images.snapshots, c)

    async def top(self, c: Container, ps_args: str = "-ef") -> dict[str, Any]:
        return await blocking(sampling.top, c, self.cfg.cgroup_parent, ps_args)

    def stats(self, c: Container) -> dict[str, Any]:
        """One sample of a running container's cgroup counters, in Docker's stats shape."""
        return sampling.sample(c, self.cfg.cgroup_parent)

    # --- views

    def list_json(
        self,
        all_: bool = False,
        filters: dict[str, list[str]] | None = None,
        limit: int = -1,
        size: bool = False,
    ) -> str:
        """The JSON text /containers/json answers: the containers ``_listed`` picks, each row from
        ``summaries``."""
        names = links.link_names(self.containers)
        revs = self.containers.revs
        rows = [self.summaries.row(c, revs.get(c.id, 0), names.get(c.id))
                for c in self._listed(all_, filters, limit)]  # fmt: skip
        if len(self.summaries) > 2 * len(revs) + 64:
            self.summaries.forget_others(set(revs))
        return "[" + ", ".join(rows) + "]"

    def _listed(self, all_: bool, filters: dict[str, list[str]] | None, limit: int) -> list[Container]:
        filters = filters or {}
        views.check_filters(filters)
        cs = self.containers.all()
        if filters.get("before"):
            ref = self.get(filters["before"][0])
            cs = [c for c in cs if c.created < ref.created]
        if filters.get("since"):
            ref = self.get(filters["since"][0])
            cs = [c for c in cs if c.created > ref.created]
        # -n/--last, a status filter and an exited filter imply --all, as in Docker
        show_all = all_ or limit > 0 or "status" in filters or "exited" in filters
        out: list[Container] = []
        for c in cs:
            if (show_all or c.state.running) and views.match_container(c, filters):
                out.append(c)
                if 0 < limit <= len(out):
                    break
        return out

    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        c = self.get(ref)
        return views.container_inspect(c, self.paths, links.inspect_view(self.containers, c))

    def remove_link(self, name: str) -> None:
        """DELETE /containers/{parent}/{alias}?link=1."""
        links.remove_link(self.containers, name)
