"""``rm`` (with ``-f``: killed first; with ``-v``: its anonymous volumes too), ``rename`` and
``container prune``. Removal marks the container ``removing`` first, so a daemon killed
half-way finds it dead rather than half there; a step that fails leaves it dead too (with
the error), so rm can be tried again, never stuck "in progress"."""

from __future__ import annotations

import asyncio
from typing import Any

from wharf.base import trees
from wharf.base.times import parse_rfc3339, parse_time_arg
from wharf.engine import links
from wharf.engine.containers import Container, validate_name
from wharf.engine.core import Core
from wharf.engine.runner import blocking
from wharf.engine.state import Status, check_remove, prunable
from wharf.errors import FailedPrecondition, InvalidArgument, NoSpace, NotFound, WharfError


async def remove(core: Core, ref: str, force: bool = False, volumes: bool = False) -> None:
    c = core.store.get(ref)
    check_remove(c.state, c.name, c.id, force)
    if c.state.running:
        await _kill_for_removal(core, c)
    async with core.waiters.lock(c.id):
        c.state.removing()
        # the mark is for a daemon killed half-way; a full disk must not keep rm from freeing
        # the space, so failing to write it only defers it
        core.store.save_soon(c)
        try:
            await _remove_files(core, c)
        except BaseException as exc:
            c.state.removal_failed(str(exc) if isinstance(exc, WharfError) else repr(exc))
            core.store.save_soon(c)
            raise
        # before the record: a daemon killed between finds it dead, and rm -v again finishes
        gone = _remove_anonymous_volumes(core, c) if volumes else []
        core.net.store.release(c.id)
        core.store.delete(c.id)
        links.forget(core.store, c.id)
    core.emit(c, "destroy")
    for name, driver in gone:  # dockerd's order: the container's event, then its volumes'
        core.events.emit("volume", "destroy", name, {"driver": driver})
    core.waiters.removed(c.id)


async def _remove_files(core: Core, c: Container) -> None:
    """The runtime's container, the rootfs mount, the snapshot, the container's directories;
    what cannot be removed fails with dockerd's "unable to remove filesystem for <id>"."""
    from wharf.snapshots.mount import unmount_all

    await core.runner.run(c.runtime, "delete", "--force", c.id, check=False)
    await blocking(unmount_all, core.paths.rootfs_dir(c.id))
    try:
        await blocking(core.images.snapshots.remove, c.id)
    except (NotFound, NoSpace):
        pass  # gone already (a retried rm); a full disk keeps the row, not the files
    except WharfError as exc:
        raise FailedPrecondition(f"unable to remove filesystem for {c.id}: {exc}") from None
    try:
        await blocking(trees.remove_tree, core.paths.container_dir(c.id))
    except OSError as exc:
        why = (exc.strerror or str(exc)).lower()
        raise FailedPrecondition(
            f"unable to remove filesystem for {c.id}: unlinkat {exc.filename}: {why}"
        ) from None
    trees.remove_tree(core.paths.state_dir(c.id), ignore_errors=True)  # the shim's files


async def _kill_for_removal(core: Core, c: Container) -> None:
    c.manually_stopped = True
    if c.state.status is Status.RESTARTING:  # between two runs: the restart is called off
        c.state.restart_abandoned()
        core.store.save(c)
        return
    waiter = core.waiters.exit_future(c.id)
    await core.runner.run(c.runtime, "kill", c.id, "KILL", check=False)
    if c.state.status is Status.PAUSED:
        await core.runner.run(c.runtime, "resume", c.id, check=False)
    try:
        await asyncio.wait_for(waiter, 10)
    except TimeoutError:
        raise FailedPrecondition(f"could not kill running container {c.id}, cannot remove") from None


def _remove_anonymous_volumes(core: Core, c: Container) -> list[tuple[str, str]]:
    """Its anonymous volumes go with it, unless another container uses them; -> (name, driver)
    of each removed."""
    gone = []
    for m in c.mounts:
        v = core.volumes.find(m.get("Name") or "") if m["Type"] == "volume" else None
        if v is not None and v.anonymous and not set(core.volume_users(v.name)) - {c.id}:
            core.volumes.remove(v.name)
            gone.append((v.name, v.driver))
    return gone


async def rename(core: Core, ref: str, new: str) -> None:
    c = core.store.get(ref)
    if not new:
        raise InvalidArgument("Neither old nor new names may be empty")
    new = validate_name(new)
    if new == c.name:
        raise InvalidArgument("Renaming a container with the same name as its current name")
    old = c.name
    core.store.rename(c, new)
    core.emit(c, "rename", oldName=f"/{old}")


async def prune(core: Core, filters: dict[str, list[str]]) -> dict[str, Any]:
    """Stopped containers that match the ``label`` and ``until`` filters go."""
    from wharf.engine.views import match_container

    label_filters = {k: v for k, v in filters.items() if k == "label"}
    until = parse_time_arg(filters["until"][0]) if filters.get("until") else None
    deleted, space = [], 0
    for c in core.store.all():
        if not prunable(c.state):
            continue
        if label_filters and not match_container(c, label_filters):
            continue
        if until is not None and parse_rfc3339(c.created) >= until:
            continue
        space += await blocking(_usage, core, c.snapshot_key)
        await remove(core, c.id, force=False)
        deleted.append(c.id)
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": space}


def _usage(core: Core, key: str) -> int:
    """The bytes of a container's writable layer (what its removal frees)."""
    try:
        return core.images.snapshots.usage(key)
    except WharfError:
        return 0
