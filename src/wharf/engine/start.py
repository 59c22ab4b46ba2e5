"""``start``: a created or exited container's process running, its network and volumes up.

mount the rootfs → addresses (IPAM) → /etc/hosts, resolv.conf → volume devices, copy-up →
OCI spec (specgen) → the shim: runtime create → network attached inside the new namespace →
attach clients joined → runtime start (the process is released) → running, exit watched.

A failure at any step undoes the steps before it (network, volumes, rootfs), whatever the
exception; the container keeps its status and records the error and exit code (126/127 when
the command cannot be invoked or found), its waiters are released, and a ``--rm`` container
goes, as dockerd does.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable

from wharf.base import trace, units
from wharf.base.files import atomic_write
from wharf.base.idmap import IdMap
from wharf.base.times import now_rfc3339
from wharf.engine import links, netfiles, shim, userns
from wharf.engine import volumes as vuse
from wharf.engine.containers import Container
from wharf.engine.core import Core
from wharf.engine.runner import blocking, start_error_code
from wharf.engine.state import check_start
from wharf.errors import Conflict, FailedPrecondition, InvalidArgument, StartError, WharfError

log = logging.getLogger("wharf.engine")


async def start(core: Core, ref: str) -> None:
    c = core.store.get(ref)
    async with core.waiters.lock(c.id):
        check_start(c.state)
        c.manually_stopped = False
        try:
            await run(core, c)
            return
        except BaseException as exc:
            failed = exc
    await start_failed(core, c, failed)
    raise failed


async def start_failed(core: Core, c: Container, exc: BaseException) -> None:
    """A start (or restart) that did not get the process running: recorded as dockerd does."""
    from wharf.engine import remove

    if not c.state.error:
        msg = str(exc) if isinstance(exc, WharfError) else f"{type(exc).__name__}: {exc}"
        c.state.error = msg
        c.state.exit_code = start_error_code(msg)
        core.store.save(c)
    core.waiters.wake_exit(c.id)
    if c.host_config.get("AutoRemove") and c.id in core.store.by_id:
        try:
            await remove.remove(core, c.id, force=True)
        except WharfError as e:
            log.warning("auto-remove of %s: %s", c.short_id, e)


async def run(core: Core, c: Container) -> None:
    """Bring the container's process up (the container's lock is held by the caller)."""
    from wharf.snapshots.mount import mount_all, unmount_all

    rootfs = core.paths.rootfs_dir(c.id)
    if os.path.exists(core.paths.runtime_state(c.id)):
        # the runtime's state of a run that ended without its exit being handled: the id
        # would be taken ("container with id exists")
        await core.runner.run(c.runtime, "delete", "--force", c.id, check=False)
    trace.mark("wharfd", "start", c.short_id)
    mounts = await blocking(core.images.snapshots.mounts, c.snapshot_key)
    if not os.path.ismount(rootfs):
        await blocking(mount_all, mounts, rootfs)
    trace.mark("wharfd", "rootfs mounted")
    started = networked = volumes_up = False
    try:
        core.net.prepare(c)
        networked = True
        trace.mark("wharfd", "network prepared")
        link_hosts, link_env = links.at_start(core.store, c)
        netfiles.write_before_start(
            core.paths.container_dir(c.id), core.cfg, c, core.net, core.net.uses_embedded_dns(c), link_hosts
        )
        if core.cfg.remap is not None:  # the files were written anew
            userns.own_container_files(core.cfg.remap, core.paths.container_dir(c.id), None)
        await blocking(vuse.up, core.volumes, c, rootfs)
        volumes_up = True
        trace.mark("wharfd", "files and volumes")
        shim_pid = await _create(core, c, rootfs, link_env)
        core.net.open_links(c, links.holes(core.store, c))
        for cb, _ in core.waiters.take_pre_start(c.id):
            await cb()
        try:
            await core.runner.run(c.runtime, "start", c.id)
            trace.mark("wharfd", "runtime start")
        except BaseException:
            shim.stop_shim(shim_pid)
            await core.runner.run(c.runtime, "delete", "--force", c.id, check=False)
            raise
        started = True
    finally:
        if not started:
            for _, failed in core.waiters.take_pre_start(c.id):
                failed()
            if networked:
                await core.net.detach(c)
            if volumes_up:
                vuse.down(core.volumes, c)
            await blocking(unmount_all, rootfs)
    c.state.started(now_rfc3339(), first=not c.has_been_started)
    c.has_been_started = True
    core.store.save(c)
    if not shim.watch(shim_pid, lambda: core.on_exit(c.id)):
        core.on_exit(c.id)
    core.health.start(c)
    core.emit(c, "start")
    trace.mark("wharfd", "started", c.short_id)


async def _create(core: Core, c: Container, rootfs: str, link_env: list[str]) -> int:
    """The spec written, the shim spawned (the runtime creates the container, its process
    parked), the network attached in its namespace; returns the shim's pid."""
    bundle = core.paths.state_dir(c.id)
    os.makedirs(bundle, 0o700, exist_ok=True)
    ns = _userns_for(core, c)
    owner = core.cfg.remap.ids.root if ns is not None and core.cfg.remap is not None else None
    pins = _Pins(core.paths.container_dir(c.id), owner)  # the runtime binds from these as it creates
    try:
        atomic_write(core.paths.bundle_config(c.id), _spec_json(core, c, rootfs, link_env, pins.pin, ns))
        trace.mark("wharfd", "spec written")
        try:
            opts = _shim_options(core, c, bundle)
            spawner = core.spawner if opts.runtime == core.spawner.runtime else None
            shim_pid, pid = await blocking(shim.spawn, opts, core.paths.shim_paths(c.id), spawner)
        except FailedPrecondition as exc:
            msg = str(exc)
            c.state.error = msg
            c.state.exit_code = start_error_code(msg)
            core.store.save(c)
            raise StartError(msg, c.state.exit_code) from None
    finally:
        pins.release()
    c.state.shim_pid = shim_pid
    c.state.pid = pid
    trace.mark("wharfd", "shim: runtime created", f"pid={pid}")
    try:
        await core.net.attach(c, pid)
        trace.mark("wharfd", "network attached")
    except BaseException:
        shim.stop_shim(shim_pid)
        await core.runner.run(c.runtime, "delete", "--force", c.id, check=False)
        c.state.shim_pid = c.state.pid = 0
        raise
    return shim_pid


def _spec_json(
    core: Core,
    c: Container,
    rootfs: str,
    link_env: list[str],
    pin: Callable[[int], str],
    ns: IdMap | str | None,
) -> str:
    import json

    from wharf.engine import specgen
    from wharf.volumes import mounts as vmounts

    spec = specgen.generate(
        c.id,
        c.config,
        c.host_config,
        {},
        rootfs,
        specgen.ContainerFiles.under(core.paths.container_dir(c.id)),
        netns=_netns_for(core, c),
        cgroup_parent=core.cfg.cgroup_parent,
        extra_mounts=vmounts.oci_mounts(c.mounts, pin),
        init=core.cfg.init_path if _wants_init(core, c) else "",
        extra_env=link_env,
        userns=ns,
        no_new_privileges=c.no_new_privileges,
        daemon_seccomp=core.cfg.container_seccomp(),
    )
    return json.dumps(spec)


def _userns_for(core: Core, c: Container) -> IdMap | str | None:
    """The remap's maps for a new user namespace; the user namespace of the container whose
    network namespace this one joins (a network namespace is used by the user namespace that
    owns it, so dockerd joins both); None with no remap or ``--userns=host``."""
    remap = core.cfg.remap
    if remap is None or not userns.is_remapped(remap, c.host_config.get("UsernsMode")):
        return None
    mode = c.host_config.get("NetworkMode") or "bridge"
    if mode.startswith("container:"):
        other = core.store.get(mode.split(":", 1)[1])
        if userns.is_remapped(remap, other.host_config.get("UsernsMode")):
            return f"/proc/{other.state.pid}/ns/user"
    return remap.ids


class _Pins:
    """Private mounts, under the container's directory (no container reaches it), of the fds a
    volume subpath resolved to: the runtime binds from these, then they go (the container's
    mount is a bind of its own). See ``volumes.mounts._source``."""

    def __init__(self, container_dir: str, owner: tuple[int, int] | None = None) -> None:
        self.base = f"{container_dir}/subpaths"
        self.owner = owner  # the remapped root, that binds from here inside its user namespace
        self.made: list[str] = []

    def pin(self, fd: int) -> str:
        from wharf.runtime import syscalls as s

        os.makedirs(self.base, 0o700, exist_ok=True)
        if self.owner is not None:
            os.chown(self.base, *self.owner)
        path = f"{self.base}/{len(self.made)}"
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            os.mkdir(path, 0o700)
        else:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        self.made.append(path)
        s.mount(f"/proc/self/fd/{fd}", path, None, s.MS_BIND)
        s.mount(None, path, None, s.MS_PRIVATE)
        return path

    def release(self) -> None:
        from wharf.runtime import syscalls as s

        for path in reversed(self.made):
            try:
                s.umount2(path, s.MNT_DETACH)
            except OSError:
                pass
            try:
                (os.rmdir if os.path.isdir(path) else os.unlink)(path)
            except OSError:
                pass


def _wants_init(core: Core, c: Container) -> bool:
    """--init, or (when the container says nothing) the daemon's "init"."""
    asked = c.host_config.get("Init")
    return core.cfg.init if asked is None else asked


def _shim_options(core: Core, c: Container, bundle: str) -> shim.ShimOptions:
    log_cfg = (c.host_config.get("LogConfig") or {}).get("Config") or {}
    max_size = log_cfg.get("max-size") or core.cfg.log_opts.get("max-size") or "0"
    try:
        size = units.ram_in_bytes(str(max_size))
    except ValueError:
        raise InvalidArgument(f"invalid size: '{max_size}'") from None
    return shim.ShimOptions(
        shim=core.cfg.shim,
        cid=c.id,
        bundle=bundle,
        runtime=core.cfg.runtime_path(c.runtime),
        runtime_root=core.paths.runtime_root,
        tty=bool(c.config.get("Tty")),
        stdin=bool(c.config.get("OpenStdin")),
        stdin_once=bool(c.config.get("StdinOnce")),
        log_path=core.paths.log_path(c.id),
        log_max_size=size,
        log_max_files=int(log_cfg.get("max-file") or core.cfg.log_opts.get("max-file") or 1),
    )


def _netns_for(core: Core, c: Container) -> str | None:
    mode = c.host_config.get("NetworkMode") or "bridge"
    if mode.startswith("container:"):
        other = core.store.get(mode.split(":", 1)[1])
        if not other.state.status.has_process:
            raise Conflict(f"cannot join network of a non running container: {other.id}")
        return f"/proc/{other.state.pid}/ns/net"
    return None
