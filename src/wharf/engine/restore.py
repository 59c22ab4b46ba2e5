"""Daemon start: adopt the containers whose shims outlived the previous daemon (live restore),
settle the ones that exited meanwhile, finish cut-short removals as ``dead``, then start what
``always`` / ``unless-stopped`` asks for."""

from __future__ import annotations

import logging

from wharf.engine import exits, shim
from wharf.engine import start as starting
from wharf.engine.containers import Container
from wharf.engine.core import Core
from wharf.engine.restart import policy_of
from wharf.errors import WharfError

log = logging.getLogger("wharf.engine")


async def restore(core: Core) -> None:
    for c in core.store.all():
        if c.state.found_cut_short():
            core.store.save(c)
        if not c.state.running:
            continue
        if _adopt(core, c):
            continue
        await exits.handle_exit(core, c.id)
    for c in core.store.all():
        name, _ = policy_of(c)
        wanted = name == "always" or (name == "unless-stopped" and not c.manually_stopped)
        if not c.state.running and wanted and c.has_been_started:
            try:
                await starting.start(core, c.id)
            except WharfError as exc:
                log.warning("restart of %s on daemon start failed: %s", c.short_id, exc)


def _adopt(core: Core, c: Container) -> bool:
    """Watch a container whose shim still runs it; False if it has exited (or cannot be watched)."""
    pid = c.state.shim_pid
    if not pid or not shim.alive(pid) or shim.read_exit(core.paths.shim_paths(c.id)) is not None:
        return False
    if not shim.watch(pid, lambda: core.on_exit(c.id)):
        return False
    log.info("adopted container %s (shim %d)", c.short_id, pid)
    core.health.start(c)
    return True
