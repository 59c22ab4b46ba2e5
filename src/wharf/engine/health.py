"""Health checks (HEALTHCHECK in the image, --health-* flags), run as Docker runs them.

Every ``Interval`` (``StartInterval`` during ``StartPeriod``) the test command is exec'd in the
container with a ``Timeout``; exit 0 is healthy, anything else a failure. ``Retries``
consecutive failures make the container unhealthy; failures during the start period do not
count. State.Health keeps the status, the failing streak and the last five results; each change
of status is a ``health_status: <status>`` event.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wharf.base.times import now_rfc3339
from wharf.engine.state import can_run_probe

if TYPE_CHECKING:
    from wharf.engine.containers import Container, ContainerStore
    from wharf.engine.paths import Paths
    from wharf.engine.request import HealthConfig
    from wharf.engine.runner import RuntimeRunner

Emit = Callable[["Container", str], None]

NS = 1_000_000_000
DEFAULT_INTERVAL = 30 * NS
DEFAULT_TIMEOUT = 30 * NS
DEFAULT_RETRIES = 3
DEFAULT_START_INTERVAL = 5 * NS
MAX_OUTPUT = 4096
KEEP = 5


def test_command(hc: HealthConfig | None) -> list[str] | None:
    """The argv to run, or None when there is no check (absent, [] or ["NONE"])."""
    if not hc:
        return None
    test = hc.get("Test") or []
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return list(test[1:]) or None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return list(test)


class HealthMonitor:
    def __init__(self, store: ContainerStore, paths: Paths, runner: RuntimeRunner, emit: Emit) -> None:
        self.store = store
        self.paths = paths
        self.runner = runner
        self.emit = emit
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, c: Container) -> None:
        hc = c.config.get("Healthcheck")
        argv = test_command(hc)
        self.stop(c.id)
        if argv is None:
            return
        c.state.health = {"Status": "starting", "FailingStreak": 0, "Log": []}
        self.tasks[c.id] = asyncio.get_running_loop().create_task(self._loop(c.id, argv, hc or {}))

    def stop(self, cid: str) -> None:
        task = self.tasks.pop(cid, None)
        if task is not None:
            task.cancel()

    async def _loop(self, cid: str, argv: list[str], hc: HealthConfig) -> None:
        interval = (hc.get("Interval") or DEFAULT_INTERVAL) / NS
        timeout = (hc.get("Timeout") or DEFAULT_TIMEOUT) / NS
        retries = hc.get("Retries") or DEFAULT_RETRIES
        start_period = (hc.get("StartPeriod") or 0) / NS
        start_interval = (hc.get("StartInterval") or DEFAULT_START_INTERVAL) / NS
        loop = asyncio.get_running_loop()
        began = loop.time()
        while True:
            in_start = loop.time() - began < start_period
            await asyncio.sleep(start_interval if in_start and start_period else interval)
            c = self.store.by_id.get(cid)
            if c is None or not can_run_probe(c.state):
                return
            result = await self._probe(c, argv, timeout)
            health = c.state.health or {"Status": "starting", "FailingStreak": 0, "Log": []}
            health["Log"] = (health.get("Log") or [])[-(KEEP - 1) :] + [result]
            before = health["Status"]
            if result["ExitCode"] == 0:
                health["Status"] = "healthy"
                health["FailingStreak"] = 0
            elif not (loop.time() - began < start_period):
                health["FailingStreak"] = health.get("FailingStreak", 0) + 1
                if health["FailingStreak"] >= retries:
                    health["Status"] = "unhealthy"
            c.state.health = health
            self.store.save(c)
            if health["Status"] != before:
                self.emit(c, f"health_status: {health['Status']}")

    async def _probe(self, c: Container, argv: list[str], timeout: float) -> dict[str, Any]:
        start = now_rfc3339()
        with open(self.paths.bundle_config(c.id)) as f:
            proc = dict(json.load(f)["process"])
        proc["args"] = argv
        proc["terminal"] = False
        fd, path = tempfile.mkstemp(prefix="health-", dir=self.paths.state_dir(c.id))
        with os.fdopen(fd, "w") as f:
            json.dump(proc, f)
        p = await asyncio.create_subprocess_exec(
            *self.runner.argv(c.runtime, "exec", "--process", path, c.id),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(p.communicate(), timeout)
            code = p.returncode if p.returncode is not None else -1
            text = out.decode("utf-8", "replace")[:MAX_OUTPUT]
        except TimeoutError:
            p.kill()
            await p.wait()
            code = -1
            text = f"Health check exceeded timeout ({timeout:g}s)"
        finally:
            os.unlink(path)
        return {"Start": start, "End": now_rfc3339(), "ExitCode": code, "Output": text}
