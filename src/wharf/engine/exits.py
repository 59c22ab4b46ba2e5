"""A container's exit, and ``wait`` for one.

The shim's pidfd fires → the shim's exit file gives the status → runtime delete, rootfs
unmounted, network detached, volume devices released → ``exited`` with the code, OOM noted →
``die`` event, waiters woken → the restart policy (``restart.after_exit``) or ``--rm``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from wharf.base.times import now_rfc3339
from wharf.engine import restart, shim
from wharf.engine import volumes as vuse
from wharf.engine.containers import Container
from wharf.engine.core import Core
from wharf.engine.runner import blocking
from wharf.errors import InvalidArgument

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


def spawn_handler(core: Core, cid: str) -> None:
    """What ``Core.on_exit`` does: the exit is handled in a task of its own."""
    asyncio.get_running_loop().create_task(handle_exit(core, cid))


async def handle_exit(core: Core, cid: str) -> None:
    from wharf.snapshots.mount import unmount_all

    c = core.store.by_id.get(cid)
    if c is None:
        return
    core.health.stop(cid)
    async with core.waiters.lock(cid):
        info = shim.read_exit(core.paths.shim_paths(cid))
        oom = _oom_killed(core.cfg.cgroup_parent, c)
        await core.runner.run(c.runtime, "delete", "--force", cid, check=False)
        await blocking(unmount_all, core.paths.rootfs_dir(cid))
        await core.net.detach(c)
        vuse.down(core.volumes, c)
        if info is None:
            c.state.exited(255, now_rfc3339(), oom, "container monitor exited without an exit status")
        else:
            code = int(info.get("exitCode", 255))
            c.state.exited(code, info.get("exitedAt") or now_rfc3339(), oom)
        core.store.save(c)
        core.emit(c, "die", exitCode=str(c.state.exit_code))
        core.waiters.wake_exit(cid)
    await restart.after_exit(core, c)


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
    return {"StatusCode": c.state.exit_code, "Error": {"Message": c.state.error} if c.state.error else None}
