"""Signals and the freezer: ``kill``, ``stop`` (the stop signal, then SIGKILL after the
timeout), ``pause`` and ``unpause``. A kill or stop of a paused container resumes it so the
signal is delivered, as dockerd does."""

from __future__ import annotations

import asyncio
import signal

from wharf.base.signals import signal_number
from wharf.engine.containers import Container
from wharf.engine.core import Core
from wharf.engine.state import Status, check_kill, check_pause, check_unpause
from wharf.errors import InvalidArgument, NotModified

DEFAULT_STOP_TIMEOUT = 10
KILL_WAIT = 10  # seconds a SIGKILL's answer waits for the exit


def parse_signal(s: str | int | None, default: int = signal.SIGKILL) -> int:
    """A signal as the API takes it (a name with or without SIG, or a number); Docker's 400."""
    if s is None or s == "":
        return default
    num = signal_number(s)
    if num is None:
        raise InvalidArgument(f"Invalid signal: {s}")
    return num


async def kill(core: Core, ref: str, sig: str | int | None = None) -> None:
    c = core.store.get(ref)
    signum = parse_signal(sig)
    check_kill(c.state, ref, c.id)
    waiter = None
    if signum == signal.SIGKILL:  # dockerd answers once the container is dead
        c.manually_stopped = True
        waiter = core.waiters.exit_future(c.id)
    await core.runner.run(c.runtime, "kill", c.id, str(signum))
    if signum in (signal.SIGKILL, signal.SIGTERM):
        await _resume_if_paused(core, c)
    core.emit(c, "kill", signal=str(signum))
    if waiter is not None:
        try:
            await asyncio.wait_for(waiter, KILL_WAIT)
        except TimeoutError:
            pass


async def stop(core: Core, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
    c = core.store.get(ref)
    if c.state.status is Status.RESTARTING:  # between two runs: the restart is called off
        c.manually_stopped = True
        c.state.restart_abandoned()
        core.store.save(c)
        return
    if not c.state.running:
        raise NotModified("container already stopped")
    c.manually_stopped = True
    core.store.save(c)
    signum = parse_signal(sig or c.config.get("StopSignal"), signal.SIGTERM)
    if timeout is None:
        timeout = c.config.get("StopTimeout")
        if timeout is None:
            timeout = DEFAULT_STOP_TIMEOUT
    waiter = core.waiters.exit_future(c.id)
    if timeout != 0:
        await core.runner.run(c.runtime, "kill", c.id, str(signum), check=False)
        await _resume_if_paused(core, c)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), None if timeout < 0 else timeout)
        except TimeoutError:
            pass
    if not waiter.done():
        await core.runner.run(c.runtime, "kill", c.id, "KILL", check=False)
        await _resume_if_paused(core, c)
        await waiter
    core.emit(c, "stop")


async def _resume_if_paused(core: Core, c: Container) -> None:
    if c.state.status is Status.PAUSED:
        await core.runner.run(c.runtime, "resume", c.id, check=False)


async def pause(core: Core, ref: str) -> None:
    await _freezer(core, ref, pause=True)


async def unpause(core: Core, ref: str) -> None:
    await _freezer(core, ref, pause=False)


async def _freezer(core: Core, ref: str, pause: bool) -> None:
    """The cgroup freezer through the runtime (``pause`` / ``resume``), under the lock."""
    c = core.store.get(ref)
    async with core.waiters.lock(c.id):
        (check_pause if pause else check_unpause)(c.state, c.id)
        await core.runner.run(c.runtime, "pause" if pause else "resume", c.id)
        if pause:
            c.state.paused()
        else:
            c.state.unpaused()
        core.store.save(c)
    core.emit(c, "pause" if pause else "unpause")
