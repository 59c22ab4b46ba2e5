"""Veths left to the kernel: after a container's exit its network namespace is going, and the
kernel deletes the veth pair with it.

Deleting the host end ourselves on the exit's path costs as long (~15 ms on this project's
2-core VM: the deletion waits for the same RTNL lock and RCU grace periods the namespace's
teardown holds), so the exit path hands the host end's name to ``Leaving`` instead: a task
checks that the veth has gone, and deletes it if it is still there after a second (the namespace
may outlive the container: a container that shares it, a process that entered it). The daemon's
stop deletes what is still pending.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wharf.network.netlink import Host

log = logging.getLogger("wharf.network")
CHECK_EVERY, CHECKS = 0.02, 50  # seconds, times: a second in all


class Leaving:
    def __init__(self, host: Host) -> None:
        self.host = host
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def add(self, host_if: str) -> None:
        task = asyncio.get_running_loop().create_task(self._gone(host_if))
        self.tasks[host_if] = task
        task.add_done_callback(lambda _: self.tasks.pop(host_if, None))

    async def _gone(self, host_if: str) -> None:
        for _ in range(CHECKS):
            await asyncio.sleep(CHECK_EVERY)
            if await self.host.index(host_if) is None:
                return
        await delete(self.host, host_if)

    async def close(self) -> None:
        """Delete now what is still pending, not left to a namespace that may live on."""
        pending = dict(self.tasks)
        for task in pending.values():
            task.cancel()
        await asyncio.gather(*pending.values(), return_exceptions=True)
        for host_if in pending:  # Host.delete finds one already gone and leaves it
            await delete(self.host, host_if)


async def delete(host: Host, host_if: str) -> None:
    try:
        await host.delete(host_if)
    except Exception as exc:
        log.warning("removing the veth %s: %s", host_if, exc)
