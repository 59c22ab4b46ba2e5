"""The parts every container operation works with, wired once by ``Engine``.

Each operation is a module of functions over a ``Core`` (``create.py``, ``start.py``,
``stop.py``, ``remove.py``, ``exits.py``, ``restart.py``, ``restore.py``, ``update.py``), as
youki keeps one operation per file; ``engine.py`` is the facade the API calls. The modules that
serve a container from the side (``execs``, ``health``, ``views``, and the network manager)
take only the narrow parts they use, not the core.

The one upward call, a container's exit (the shim's pidfd fires), goes through ``on_exit``,
which ``Engine`` points at ``exits.handle_exit``: start arms it without importing the exit
path (which imports start back, for restart policies).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from wharf.engine import shim
from wharf.engine.config import DaemonConfig
from wharf.engine.containers import Container, ContainerStore
from wharf.engine.events import EventBus
from wharf.engine.paths import Paths
from wharf.engine.runner import RuntimeRunner
from wharf.engine.waiters import Waiters

log = logging.getLogger("wharf.engine")

if TYPE_CHECKING:
    from wharf.engine.health import HealthMonitor
    from wharf.images.store import ImageStore
    from wharf.network.manager import NetworkManager
    from wharf.volumes.store import VolumeStore


class Core:
    def __init__(
        self,
        cfg: DaemonConfig,
        paths: Paths,
        store: ContainerStore,
        events: EventBus,
        runner: RuntimeRunner,
        net: NetworkManager,
        volumes: VolumeStore,
        health: HealthMonitor,
    ) -> None:
        self.cfg = cfg
        self.paths = paths
        self.store = store
        self.events = events
        self.runner = runner
        self.net = net
        self.volumes = volumes
        self.health = health
        self.waiters = Waiters()
        # wharf's own runtime creates containers from a warm process (engine/shim.py)
        self.spawner = shim.Spawner(cfg.runtime_path("wharf"))
        self.on_exit: Callable[[str], None] = _unwired
        self._images: ImageStore | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.flushing = False  # a task retries the state writes a full disk deferred (exits.py)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` as a task the core holds until it ends (the loop keeps only weak
        references to tasks); its exception, if any, is logged with the traceback."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    @property
    def images(self) -> ImageStore:
        """The image store, opened on first use (the daemon answers /_ping before it is needed)."""
        if self._images is None:
            import importlib

            store = importlib.import_module("wharf.images.store")
            remap = self.cfg.remap
            self._images = store.ImageStore(
                f"{self.paths.data_root}/images", id_map=remap.ids if remap else None
            )
        return self._images

    def emit(self, c: Container, action: str, **extra: str) -> None:
        self.events.container(c, action, **extra)

    def volume_users(self, name: str) -> list[str]:
        return [c.id for c in self.store.all() if any(m.get("Name") == name for m in c.mounts)]

    def close_images(self) -> None:
        if self._images is not None:
            self._images.close()


def _unwired(cid: str) -> None:
    raise RuntimeError(f"exit of {cid}: Core.on_exit was never wired")
