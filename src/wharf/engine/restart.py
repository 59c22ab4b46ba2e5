"""Restart policies (``no``, ``always``, ``unless-stopped``, ``on-failure[:N]``) after an exit,
and ``restart`` itself (a stop, then a start under the container's lock).

A policy restart waits 100 ms, doubling after each restart (at most 60 s), as dockerd does;
the container shows ``restarting`` meanwhile. A stop in that window calls the restart off.
"""

from __future__ import annotations

import asyncio
import logging

from wharf.engine import start as starting
from wharf.engine import stop as stopping
from wharf.engine.containers import Container
from wharf.engine.core import Core
from wharf.engine.request import RestartPolicy
from wharf.engine.state import Status
from wharf.errors import NotModified, WharfError

log = logging.getLogger("wharf.engine")


def should_restart(name: str, policy: RestartPolicy, c: Container) -> bool:
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        limit = int(policy.get("MaximumRetryCount") or 0)
        return c.state.exit_code != 0 and (limit == 0 or c.restart_count < limit)
    return False


def policy_of(c: Container) -> tuple[str, RestartPolicy]:
    policy = c.host_config.get("RestartPolicy") or RestartPolicy()
    return policy.get("Name") or "no", policy


async def after_exit(core: Core, c: Container) -> None:
    """The container has exited: restart it by its policy, else remove it if it was --rm."""
    from wharf.engine import remove

    name, policy = policy_of(c)
    if not c.manually_stopped and should_restart(name, policy, c):
        await _restart_later(core, c)
        return
    if c.host_config.get("AutoRemove"):
        try:
            await remove.remove(core, c.id, force=True, volumes=True)
        except WharfError as exc:
            log.warning("auto-remove of %s: %s", c.short_id, exc)


async def _restart_later(core: Core, c: Container) -> None:
    c.state.restarting()
    c.restart_count += 1
    core.store.save(c)
    await asyncio.sleep(min(0.1 * (2 ** min(c.restart_count - 1, 10)), 60.0))
    if c.id not in core.store.by_id or c.state.status is not Status.RESTARTING or c.manually_stopped:
        if c.state.status is Status.RESTARTING:
            c.state.restart_abandoned()
            core.store.save(c)
        return
    try:
        async with core.waiters.lock(c.id):
            await starting.run(core, c)
    except Exception as exc:  # any failure: the container must not stay "restarting"
        if not isinstance(exc, WharfError):
            log.exception("restart of %s", c.short_id)
        c.state.restart_abandoned(str(exc))
        core.store.save(c)
        core.waiters.wake_exit(c.id)


async def restart(core: Core, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
    c = core.store.get(ref)
    try:
        await stopping.stop(core, c.id, timeout, sig)
    except NotModified:
        pass
    try:
        async with core.waiters.lock(c.id):
            if not c.state.running:
                c.manually_stopped = False
                await starting.run(core, c)
    except BaseException as exc:
        await starting.start_failed(core, c, exc)
        raise
    core.emit(c, "restart")
