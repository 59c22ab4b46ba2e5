"""A container's exit, and ``wait`` for one.

The shim's pidfd fires → the shim's exit file gives the status → runtime delete, rootfs
unmounted, network detached, volume devices released → ``exited`` with the code, OOM noted →
``die`` event, waiters woken → the restart policy (``restart.after_exit``) or ``--rm``.

Each teardown step stands alone: one that fails (a full disk, a runtime error) is logged and
the others still run, and the exit is recorded whatever happened. On a full disk the record
stays in memory (what the API shows) and is written once there is room again; a daemon that
restarts before then reads the status from the shim's exit file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from wharf.base import trace
from wharf.base.times import now_rfc3339
from wharf.engine import restart, shim
from wharf.engine import volumes as vuse
from wharf.engine.containers import Container
from wharf.engine.core import Core
from wharf.engine.runner import blocking
from wharf.errors import InvalidArgument

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")
FLUSH_EVERY = 1.0  # seconds between retries of the state writes a full disk deferred
log = logging.getLogger("wharf.engine")


def spawn_handler(core: Core, cid: str) -> None:
    """What ``Core.on_exit`` does: the exit is handled in a task of its own."""
    core.spawn(handle_exit(core, cid))


async def handle_exit(core: Core, cid: str) -> None:
    from wharf.snapshots.mount import unmount_all

    c = core.store.by_id.get(cid)
    if c is None:
        return
    trace.mark("wharfd", "exit seen", c.short_id)
    core.health.stop(cid)
    async with core.waiters.lock(cid):
        info = shim.read_exit(core.paths.shim_paths(cid))
        oom = _oom_killed(core.cfg.cgroup_parent, c)
        await _step(c, "runtime delete", core.runner.run(c.runtime, "delete", "--force", cid, check=False))
        trace.mark("wharfd", "runtime deleted")
        await _step(c, "unmount its rootfs", blocking(unmount_all, core.paths.rootfs_dir(cid)))
        trace.mark("wharfd", "rootfs unmounted")
        await _step(c, "detach its network", core.net.detach(c, exited=True))
        trace.mark("wharfd", "network detached")
        try:
            vuse.down(core.volumes, c)
        except Exception as exc:  # as in _step
            log.warning("exit of %s: could not release its volumes: %s", c.short_id, exc)
        if info is None:
            c.state.exited(255, now_rfc3339(), oom, "container monitor exited without an exit status")
        else:
            code = int(info.get("exitCode", 255))
            c.state.exited(code, info.get("exitedAt") or now_rfc3339(), oom)
        persist(core, c)
        core.emit(c, "die", exitCode=str(c.state.exit_code))
        core.waiters.wake_exit(cid)
        trace.mark("wharfd", "exit recorded")
    await restart.after_exit(core, c)


async def _step(c: Container, what: str, aw: Awaitable[Any]) -> None:
    try:
        await aw
    except Exception as exc:  # the exit is recorded whatever a teardown step met
        log.warning("exit of %s: could not %s: %s", c.short_id, what, exc)


def persist(core: Core, c: Container) -> None:
    """Write ``c``'s state now, or, on a full disk, as soon as there is room again."""
    if not core.store.save_soon(c):
        log.warning("container %s: state kept in memory until the disk has room", c.short_id)
        if not core.flushing:
            core.flushing = True
            core.spawn(_flush_later(core))


async def _flush_later(core: Core) -> None:
    try:
        while not core.store.flush():
            await asyncio.sleep(FLUSH_EVERY)
        log.info("container states deferred by a full disk are written")
    finally:
        core.flushing = False


def _oom_killed(cgroup_parent: str, c: Container) -> bool:
    base = cgroup_parent.strip("/")
    for path in (
        f"/sys/fs/cgroup/memory/{base}/{c.id}/memory.oom_control",
        f"/sys/fs/cgroup/{base}/{c.id}/memory.events",
        f"/sys/fs/cgroup/unified/{base}/{c.id}/memory.events",
    ):
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == "oom_kill" and int(v) > 0:
                        return True
        except (OSError, ValueError):
            continue
    return False


def wait_condition(condition: str | None) -> str:
    """A wait's condition, checked (the API asks before it sends its headers)."""
    condition = condition or "not-running"
    if condition not in WAIT_CONDITIONS:
        raise InvalidArgument(f"invalid condition: {condition}")
    return condition


async def wait(core: Core, ref: str, condition: str = "not-running") -> dict[str, Any]:
    """Docker's wait: until the container is not running (at once if it is not), its next exit,
    or its removal; the exit code and error then."""
    c = core.store.get(ref)
    condition = wait_condition(condition)
    if condition == "removed":
        await core.waiters.removed_future(c.id)
    elif condition == "next-exit" or c.state.running:
        await core.waiters.exit_future(c.id)
    # dockerd's "removed" answer carries no error, even of a start that failed (the CLI's
    # `run --rm` would print it again, as "Error waiting for container")
    error = c.state.error if condition != "removed" else ""
    return {"StatusCode": c.state.exit_code, "Error": {"Message": error} if error else None}
