"""Daemon start: adopt the containers whose shims outlived the previous daemon (live restore),
settle the ones that exited meanwhile, finish cut-short removals as ``dead``, undo creates cut
short before their record, clear what a start the previous daemon did not finish left (a shim,
the runtime's state, mounts, network), then start what ``always`` / ``unless-stopped`` asks
for."""

from __future__ import annotations

import logging
import os

from wharf.engine import exits, shim
from wharf.engine import start as starting
from wharf.engine.containers import Container
from wharf.engine.core import Core
from wharf.engine.restart import policy_of
from wharf.errors import WharfError

log = logging.getLogger("wharf.engine")


async def restore(core: Core) -> None:
    await _discard_unrecorded(core)
    for c in core.store.all():
        if c.state.found_cut_short():
            core.store.save(c)
        if not c.state.running:
            await clear_interrupted_start(core, c)
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


async def _discard_unrecorded(core: Core) -> None:
    """Container directories no record names: creates the previous daemon did not finish."""
    from wharf.engine.create import discard_unrecorded
    from wharf.engine.runner import blocking

    root = f"{core.paths.data_root}/containers"
    for cid in os.listdir(root):
        if len(cid) == 64 and cid.isalnum() and cid not in core.store.by_id:
            log.info("container %s: undoing a create that never made its record", cid[:12])
            await blocking(discard_unrecorded, core, cid)


async def clear_interrupted_start(core: Core, c: Container) -> None:
    """A container the store does not record as running may still have what a start killed
    half-way made: its shim (maybe with the process parked, or even released), the runtime's
    state ("container with id exists" on the next start), the rootfs mounted, addresses and
    links. The start never answered, so all of it goes; the container stays as recorded."""
    from wharf.engine.runner import blocking
    from wharf.snapshots.mount import unmount_all

    paths = core.paths.shim_paths(c.id)
    pid = _shim_pid(paths.pid_file)
    stale_shim = pid is not None and _is_shim_of(pid, c.id)
    stale_runtime = os.path.exists(core.paths.runtime_state(c.id))
    if not stale_shim and not stale_runtime:
        return
    log.info("container %s: clearing what an interrupted start left", c.short_id)
    if stale_shim and pid is not None:
        shim.stop_shim(pid)
    await core.runner.run(c.runtime, "delete", "--force", c.id, check=False)
    await blocking(unmount_all, core.paths.rootfs_dir(c.id))
    try:
        await core.net.detach(c)
    except Exception as exc:  # whatever it meets, the clearing goes on
        log.warning("container %s: network left by an interrupted start: %s", c.short_id, exc)
    for leftover in (paths.pid_file, paths.exit_file):
        try:
            os.unlink(leftover)
        except FileNotFoundError:
            pass


def _shim_pid(pid_file: str) -> int | None:
    try:
        with open(pid_file) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _is_shim_of(pid: int, cid: str) -> bool:
    """Whether ``pid`` still is this container's shim (a pid can have been reused)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return any(a == b"--id" and b == cid.encode() for a, b in zip(argv, argv[1:], strict=False))


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
