"""The engine: Docker's container semantics over the image store, the OCI runtime and wharf-shim.

One ``Engine`` per daemon, driven from the asyncio loop. Blocking work (mounts, snapshot
preparation, spawning the shim) runs in the default executor; everything that changes a
container holds that container's lock, so a ``stop`` and a ``start`` of one container never
interleave, while different containers proceed in parallel.

Layout on disk::

    <data-root>/engine.db                      containers (see containers.py)
    <data-root>/images/                        the image store (content, snapshots, metadata)
    <data-root>/containers/<id>/               hostname, hosts, resolv.conf, <id>-json.log, rootfs/
    <exec-root>/containers/<id>/               bundle (config.json) and the shim's state dir
    <exec-root>/runtime/                       the OCI runtime's --root

``run`` as data: create (resolve image → prepare snapshot → files → record) → start (mount
rootfs → specgen → shim: runtime create → attach clients join → runtime start) → the shim's
pidfd fires on exit → exit file → runtime delete, unmount → state, events, waiters → restart
policy or auto-remove.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from wharf.base.times import ZERO_TIME, now_rfc3339, parse_rfc3339
from wharf.engine import shim
from wharf.engine.config import DaemonConfig
from wharf.engine.containers import (
    Container,
    ContainerStore,
    new_id,
    random_name,
    validate_name,
)
from wharf.engine.events import EventBus
from wharf.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    NotModified,
    StartError,
    WharfError,
)

log = logging.getLogger("wharf.engine")
# the first lines of every container's /etc/hosts, as Docker writes them
HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
)

SIGNALS = {
    name[3:]: int(getattr(signal, name))
    for name in dir(signal)
    if name.startswith("SIG") and "_" not in name
}
DEFAULT_STOP_TIMEOUT = 10
DEFAULT_SHM = 64 << 20


def parse_signal(s: str | int | None, default: int = signal.SIGKILL) -> int:
    if s is None or s == "":
        return default
    if isinstance(s, int) or (isinstance(s, str) and s.isdigit()):
        n = int(s)
        if not 0 < n < 65:
            raise InvalidArgument(f"Invalid signal: {s}")
        return n
    name = s.upper()
    name = name[3:] if name.startswith("SIG") else name
    if name not in SIGNALS:
        raise InvalidArgument(f"Invalid signal: {s}")
    return SIGNALS[name]


class Engine:
    def __init__(self, cfg: DaemonConfig) -> None:
        self.cfg = cfg
        self.data_root = cfg.data_root
        self.exec_root = cfg.exec_root
        for d in (f"{self.data_root}/containers", f"{self.exec_root}/containers", self.runtime_root):
            os.makedirs(d, 0o710, exist_ok=True)
        self.containers = ContainerStore(f"{self.data_root}/engine.db")
        self.events = EventBus()
        self._locks: dict[str, asyncio.Lock] = {}
        self._exit_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._removed_waiters: dict[str, list[asyncio.Future[None]]] = {}
        # attach clients waiting for the next start: cid -> callbacks run between create and start
        self._pre_start: dict[str, list[tuple[Callable[[], Awaitable[None]], Callable[[], None]]]] = {}
        self._images: Any = None
        self.started_at = time.time()
        from wharf.engine.execs import ExecManager
        from wharf.engine.health import HealthMonitor

        self.health = HealthMonitor(self)
        self.execs = ExecManager(self)
        from wharf.network.manager import NetworkManager

        self.net = NetworkManager(
            self.data_root,
            bridge=cfg.bridge,
            bip=cfg.bip,
            pools=cfg.address_pools,
            table=cfg.firewall_table,
            mtu=cfg.mtu,
            dns=cfg.dns,
        )
        self.net.containers = self.containers.all
        from wharf.volumes.store import VolumeStore

        self.volumes = VolumeStore(f"{self.data_root}/volumes")

    # --- plumbing

    @property
    def runtime_root(self) -> str:
        return f"{self.exec_root}/runtime"

    @property
    def images(self) -> Any:
        """The image store, opened on first use (the daemon answers /_ping before it is needed)."""
        if self._images is None:
            import importlib

            store = importlib.import_module("wharf.images.store")
            self._images = store.ImageStore(f"{self.data_root}/images")
        return self._images

    def lock(self, cid: str) -> asyncio.Lock:
        lk = self._locks.get(cid)
        if lk is None:
            lk = self._locks[cid] = asyncio.Lock()
        return lk

    def container_dir(self, cid: str) -> str:
        return f"{self.data_root}/containers/{cid}"

    def state_dir(self, cid: str) -> str:
        return f"{self.exec_root}/containers/{cid}"

    def rootfs_dir(self, cid: str) -> str:
        return f"{self.container_dir(cid)}/rootfs"

    def log_path(self, cid: str) -> str:
        return f"{self.container_dir(cid)}/{cid}-json.log"

    def shim_paths(self, cid: str) -> shim.ShimPaths:
        return shim.ShimPaths(self.state_dir(cid))

    def get(self, ref: str) -> Container:
        return self.containers.get(ref)

    def _attrs(self, c: Container, **extra: str) -> dict[str, str]:
        attrs = dict(c.config.get("Labels") or {})
        attrs.update({"image": c.image_name, "name": c.name})
        attrs.update(extra)
        return attrs

    def emit(self, c: Container, action: str, **extra: str) -> None:
        self.events.emit("container", action, c.id, self._attrs(c, **extra))

    async def blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def runtime(self, c: Container, *args: str, check: bool = True) -> tuple[int, str]:
        """Run the container's OCI runtime with ``args``; returns (status, output).

        With wharf's own runtime, the operations that need no new process (start, kill, pause,
        resume, delete: a fifo write, a signal, cgroup files) run in-process through the
        runtime's library: each saves a Python interpreter start (~15 ms) per operation."""
        if c.runtime == "wharf" and args and args[0] in _LIBRARY_OPS:
            try:
                await self.blocking(_library_op, self.runtime_root, list(args))
            except WharfError as exc:
                if check:
                    raise FailedPrecondition(str(exc)) from None
                return 1, str(exc)
            return 0, ""
        argv = [self.cfg.runtime_path(c.runtime), "--root", self.runtime_root, *args]
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        text = out.decode("utf-8", "replace").strip()
        if check and proc.returncode != 0:
            raise FailedPrecondition(runtime_message(text))
        return proc.returncode or 0, text

    # --- daemon start: adopt what runs

    async def restore(self) -> None:
        """Adopt the containers whose shims outlived the previous daemon; settle the others."""
        for c in self.containers.all():
            if c.state.status == "removing":
                c.state.status = "dead"
                self.containers.save(c)
            if not c.state.running:
                continue
            if (
                c.state.shim_pid
                and shim.alive(c.state.shim_pid)
                and shim.read_exit(self.shim_paths(c.id)) is None
            ):
                if shim.watch(c.state.shim_pid, lambda cid=c.id: self._spawn_exit(cid)):  # type: ignore[misc]
                    log.info("adopted container %s (shim %d)", c.short_id, c.state.shim_pid)
                    self.health.start(c)
                    continue
            await self._handle_exit(c.id)
        for c in self.containers.all():
            policy = (c.host_config.get("RestartPolicy") or {}).get("Name") or "no"
            if (
                not c.state.running
                and (policy == "always" or (policy == "unless-stopped" and not c.manually_stopped))
                and c.has_been_started
            ):
                try:
                    await self.start(c.id)
                except WharfError as exc:
                    log.warning("restart of %s on daemon start failed: %s", c.short_id, exc)

    # --- create

    async def create(self, name: str | None, body: dict[str, Any]) -> tuple[str, list[str]]:
        specgen = _specgen()

        config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
        host_config = dict(body.get("HostConfig") or {})
        warnings: list[str] = []
        image_ref = config.get("Image") or ""
        if not image_ref:
            raise InvalidArgument("config cannot be empty in order to create a container")
        validate_host_config(host_config)
        validate_create(config, host_config)
        record = await self.blocking(self.images.resolve, image_ref)
        try:
            endpoints = self.net.endpoints_at_create(host_config, body.get("NetworkingConfig") or {})
        except NotFound as exc:
            # dockerd reports a missing network when the container starts; clients (the docker
            # CLI among them) read a 404 from create as a missing image and go pulling: refuse
            # here, with the same words, as a bad request, before anything is made
            raise InvalidArgument(str(exc)) from None
        image_config = ((await self.blocking(self.images.config, record)).get("config")) or {}
        from wharf.volumes import mounts as vmounts

        try:
            planned = vmounts.plan(
                host_config,
                {"Volumes": {**(image_config.get("Volumes") or {}), **(config.get("Volumes") or {})}},
                lambda ref: [dict(m) for m in self.get(ref).mounts],
            )
        except NotFound as exc:  # --volumes-from an unknown container: not a missing image (see above)
            raise InvalidArgument(str(exc)) from None
        argv = specgen.command(config, image_config)
        if name:
            name = validate_name(name)
        else:
            name = random_name(self.containers.names())
        if self.containers.by_name(name) is not None:
            other = self.containers.by_name(name)
            assert other is not None
            raise Conflict(
                f'Conflict. The container name "/{name}" is already in use by container "{other.id}".'
                " You have to remove (or rename) that container to be able to reuse that name."
            )
        cid = new_id(self.containers.by_id)
        chain = await self.blocking(self.images.top_chain_id, record)
        made = await self.blocking(vmounts.realize, planned, self.volumes)
        try:
            await self.blocking(self.images.snapshots.prepare, cid, chain)
            self._write_files(cid, config, host_config)
            merged = _merge_image_config(config, image_config)
            host_config.setdefault("NetworkMode", "default")
            if host_config["NetworkMode"] == "default":
                host_config["NetworkMode"] = "bridge"
            host_config.setdefault("LogConfig", {"Type": "json-file", "Config": {}})
            host_config.setdefault("RestartPolicy", {"Name": "no", "MaximumRetryCount": 0})
            c = Container(
                id=cid,
                name=name,
                created=now_rfc3339(),
                config=merged,
                host_config=host_config,
                image_id=record.id,
                image_name=image_ref,
                path=argv[0],
                args=argv[1:],
                snapshot_key=cid,
                runtime=host_config.get("Runtime") or self.cfg.default_runtime,
                networking={"Networks": endpoints, "Ports": {}},
                mounts=planned,
            )
            self.containers.add(c)
        except BaseException:
            await self.blocking(self._discard_files, cid)
            for v in made:
                self.volumes.remove(v)
            raise
        self.emit(c, "create")
        return cid, warnings

    def _write_files(self, cid: str, config: dict[str, Any], host_config: dict[str, Any]) -> None:
        d = self.container_dir(cid)
        os.makedirs(f"{d}/rootfs", 0o710, exist_ok=True)
        hostname = config.get("Hostname") or cid[:12]
        if config.get("Domainname"):
            hostname_line = f"{hostname}"
        else:
            hostname_line = hostname
        _write(f"{d}/hostname", hostname_line + "\n")
        hosts = HOSTS_HEADER
        for extra in host_config.get("ExtraHosts") or []:
            host, _, ip = extra.partition(":")
            hosts += f"{ip}\t{host}\n"
        _write(f"{d}/hosts", hosts)
        _write(f"{d}/resolv.conf", resolv_conf(self._dns_defaults(host_config)))

    def _write_net_files(self, c: Container) -> None:
        """/etc/hosts with the container's own addresses and /etc/resolv.conf (the embedded DNS
        server on user-defined networks), rewritten before each start as Docker does."""
        d = self.container_dir(c.id)
        hostname = c.config.get("Hostname") or c.id[:12]
        mode = c.host_config.get("NetworkMode") or "bridge"
        if mode == "host":
            hostname = os.uname().nodename
        hosts = HOSTS_HEADER
        for extra in c.host_config.get("ExtraHosts") or []:
            host, _, ip = extra.partition(":")
            if ip == "host-gateway":
                ip = self.net.default().gateway
            hosts += f"{ip}\t{host}\n"
        names = hostname + (f".{c.config['Domainname']} {hostname}" if c.config.get("Domainname") else "")
        for ep in (c.networking.get("Networks") or {}).values():
            if ep.get("IPAddress"):
                hosts += f"{ep['IPAddress']}\t{names}\n"
            if ep.get("GlobalIPv6Address"):
                hosts += f"{ep['GlobalIPv6Address']}\t{names}\n"
        _write(f"{d}/hosts", hosts)
        _write(
            f"{d}/resolv.conf", resolv_conf(self._dns_defaults(c.host_config), self.net.uses_embedded_dns(c))
        )

    def _dns_defaults(self, host_config: dict[str, Any]) -> dict[str, Any]:
        """--dns/--dns-search/--dns-option, else the daemon's dns/dns-search/dns-opts."""
        out = dict(host_config)
        for key, default in (("Dns", self.cfg.dns), ("DnsSearch", self.cfg.dns_search),
                             ("DnsOptions", self.cfg.dns_opts)):  # fmt: skip
            if not out.get(key) and default:
                out[key] = list(default)
        return out

    def _discard_files(self, cid: str) -> None:
        try:
            self.images.snapshots.remove(cid)
        except WharfError:
            pass
        shutil.rmtree(self.container_dir(cid), ignore_errors=True)

    # --- start

    async def start(self, ref: str) -> None:
        c = self.get(ref)
        async with self.lock(c.id):
            if c.state.status == "paused":
                raise Conflict("cannot start a paused container, try unpause instead")
            if c.state.status in ("running", "restarting"):
                raise NotModified("container already started")
            if c.state.status in ("removing", "dead"):
                raise Conflict("container is marked for removal and cannot be started")
            c.manually_stopped = False
            try:
                await self._start(c)
            except WharfError as exc:
                failed = exc
            else:
                return
        # as dockerd: a container whose process could not start keeps its status, records the
        # error and exit code (126/127), releases its waiters, and goes if it was --rm
        if not c.state.error:
            c.state.error = str(failed)
            c.state.exit_code = start_error_code(str(failed))
            self.containers.save(c)
        self._wake(self._exit_waiters, c.id)
        if c.host_config.get("AutoRemove"):
            try:
                await self.remove(c.id, force=True)
            except WharfError as exc:
                log.warning("auto-remove of %s: %s", c.short_id, exc)
        raise failed

    async def _start(self, c: Container) -> None:
        specgen = _specgen()
        from wharf.snapshots.mount import mount_all

        rootfs = self.rootfs_dir(c.id)
        mounts = await self.blocking(self.images.snapshots.mounts, c.snapshot_key)
        if not os.path.ismount(rootfs):
            await self.blocking(mount_all, mounts, rootfs)
        from wharf.volumes import mounts as vmounts

        started = False
        networked = False
        volumes_up = False
        try:
            image_cfg: dict[str, Any] = {}
            d = self.container_dir(c.id)
            self.net.prepare(c)
            networked = True
            self._write_net_files(c)
            files = specgen.ContainerFiles.under(d)
            await self.blocking(self._volumes_up, c, rootfs)
            volumes_up = True
            spec = specgen.generate(
                c.id,
                c.config,
                c.host_config,
                image_cfg,
                rootfs,
                files,
                netns=self._netns_for(c),
                cgroup_parent=self.cfg.cgroup_parent,
                extra_mounts=vmounts.oci_mounts(c.mounts),
            )
            bundle = self.state_dir(c.id)
            os.makedirs(bundle, 0o700, exist_ok=True)
            _write(f"{bundle}/config.json", json.dumps(spec))
            log_cfg = (c.host_config.get("LogConfig") or {}).get("Config") or {}
            opts = shim.ShimOptions(
                shim=self.cfg.shim,
                cid=c.id,
                bundle=bundle,
                runtime=self.cfg.runtime_path(c.runtime),
                runtime_root=self.runtime_root,
                tty=bool(c.config.get("Tty")),
                stdin=bool(c.config.get("OpenStdin")),
                stdin_once=bool(c.config.get("StdinOnce")),
                log_path=self.log_path(c.id),
                log_max_size=parse_size(log_cfg.get("max-size") or self.cfg.log_opts.get("max-size") or "0"),
                log_max_files=int(log_cfg.get("max-file") or self.cfg.log_opts.get("max-file") or 1),
            )
            try:
                shim_pid, pid = await self.blocking(shim.spawn, opts, self.shim_paths(c.id))
            except FailedPrecondition as exc:
                msg = str(exc)
                c.state.error = msg
                c.state.exit_code = start_error_code(msg)
                self.containers.save(c)
                raise StartError(msg, c.state.exit_code) from None
            c.state.shim_pid = shim_pid
            c.state.pid = pid
            try:
                await self.net.attach(c, pid)
            except BaseException:
                shim.stop_shim(shim_pid)
                await self.runtime(c, "delete", "--force", c.id, check=False)
                c.state.shim_pid = c.state.pid = 0
                raise
            for cb, _ in self._pre_start.pop(c.id, []):
                await cb()
            try:
                await self.runtime(c, "start", c.id)
            except FailedPrecondition:
                shim.stop_shim(shim_pid)
                await self.runtime(c, "delete", "--force", c.id, check=False)
                raise
            started = True
        finally:
            if not started:
                for _, failed in self._pre_start.pop(c.id, []):
                    failed()
                if networked:
                    await self.net.detach(c)
                if volumes_up:
                    self._volumes_down(c)
                await self.blocking(_unmount_quiet, rootfs)
        c.state.status = "running"
        c.state.error = ""
        c.state.exit_code = 0
        c.state.oom_killed = False
        c.state.started_at = now_rfc3339()
        c.state.finished_at = ZERO_TIME if not c.has_been_started else c.state.finished_at
        c.has_been_started = True
        self.containers.save(c)
        if not shim.watch(shim_pid, lambda: self._spawn_exit(c.id)):
            self._spawn_exit(c.id)
        self.health.start(c)
        self.emit(c, "start")

    def _volumes_up(self, c: Container, rootfs: str) -> None:
        """Before the runtime mounts them: devices of local-driver volumes mounted; a volume's
        first use copies the image's content at its destination into it (unless nocopy)."""
        from wharf.volumes.copyup import copy_up

        done: list[str] = []
        try:
            for m in c.mounts:
                if m["Type"] != "volume":
                    continue
                v = self.volumes.get(m["Name"])
                self.volumes.acquire_device(v)
                done.append(v.name)
                if not v.populated:
                    if not m.get("_nocopy"):
                        copy_up(rootfs, m["Destination"], self.volumes.data_dir(v.name))
                    self.volumes.mark_populated(v.name)
        except BaseException:
            for name in done:
                self.volumes.release_device(name)
            raise

    def _volumes_down(self, c: Container) -> None:
        for m in c.mounts:
            if m["Type"] == "volume":
                self.volumes.release_device(m["Name"])

    def restore_volumes(self) -> None:
        """After restore: devices of volumes that adopted containers use stay mounted (and
        counted); everything else a crashed daemon left is swept."""
        for c in self.containers.all():
            if c.state.running:
                for m in c.mounts:
                    if m["Type"] == "volume":
                        self.volumes.mounted[m["Name"]] = self.volumes.mounted.get(m["Name"], 0) + 1
        self.volumes.sweep()

    def volume_users(self, name: str) -> list[str]:
        return [c.id for c in self.containers.all() if any(m.get("Name") == name for m in c.mounts)]

    def _netns_for(self, c: Container) -> str | None:
        mode = c.host_config.get("NetworkMode") or "bridge"
        if mode.startswith("container:"):
            other = self.get(mode.split(":", 1)[1])
            if not other.state.running:
                raise Conflict(f"cannot join network of a non running container: {other.id}")
            return f"/proc/{other.state.pid}/ns/net"
        return None

    def add_pre_start(self, cid: str, cb: Callable[[], Awaitable[None]], failed: Callable[[], None]) -> None:
        """Run ``cb`` once the next start has created the container, before its process runs
        (attach clients connect there, so they miss no output); ``failed`` if that start fails."""
        self._pre_start.setdefault(cid, []).append((cb, failed))

    # --- exit

    def _spawn_exit(self, cid: str) -> None:
        asyncio.get_running_loop().create_task(self._handle_exit(cid))

    async def _handle_exit(self, cid: str) -> None:
        c = self.containers.by_id.get(cid)
        if c is None:
            return
        self.health.stop(cid)
        async with self.lock(cid):
            info = shim.read_exit(self.shim_paths(cid))
            oom = self._oom_killed(c)
            await self.runtime(c, "delete", "--force", cid, check=False)
            await self.blocking(_unmount_quiet, self.rootfs_dir(cid))
            await self.net.detach(c)
            self._volumes_down(c)
            if info is None:
                c.state.exit_code = 255
                c.state.error = "container monitor exited without an exit status"
            else:
                c.state.exit_code = int(info.get("exitCode", 255))
            c.state.oom_killed = oom
            c.state.status = "exited"
            c.state.pid = 0
            c.state.shim_pid = 0
            c.state.finished_at = (info or {}).get("exitedAt") or now_rfc3339()
            self.containers.save(c)
            self.emit(c, "die", exitCode=str(c.state.exit_code))
            self._wake(self._exit_waiters, cid)
        await self._after_exit(c)

    def _oom_killed(self, c: Container) -> bool:
        base = self.cfg.cgroup_parent.strip("/")
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

    async def _after_exit(self, c: Container) -> None:
        policy = c.host_config.get("RestartPolicy") or {}
        name = policy.get("Name") or "no"
        if not c.manually_stopped and should_restart(name, policy, c):
            c.state.status = "restarting"
            c.restart_count += 1
            self.containers.save(c)
            delay = min(0.1 * (2 ** min(c.restart_count - 1, 10)), 60.0)
            await asyncio.sleep(delay)
            if c.id in self.containers.by_id and c.state.status == "restarting" and not c.manually_stopped:
                try:
                    async with self.lock(c.id):
                        await self._start(c)
                except WharfError as exc:
                    c.state.status = "exited"
                    c.state.error = str(exc)
                    self.containers.save(c)
            elif c.state.status == "restarting":
                c.state.status = "exited"
                self.containers.save(c)
            return
        if c.host_config.get("AutoRemove"):
            try:
                await self.remove(c.id, force=True, volumes=True)
            except WharfError as exc:
                log.warning("auto-remove of %s: %s", c.short_id, exc)

    def _wake(self, table: dict[str, list[asyncio.Future[None]]], cid: str) -> None:
        for fut in table.pop(cid, []):
            if not fut.done():
                fut.set_result(None)

    # --- stop, kill, restart, pause

    async def kill(self, ref: str, sig: str | int | None = None) -> None:
        c = self.get(ref)
        signum = parse_signal(sig)
        if not c.state.running or c.state.status == "restarting":
            raise Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        if signum == signal.SIGKILL or signum == signal.SIGTERM:
            c.manually_stopped = True if signum == signal.SIGKILL else c.manually_stopped
        await self.runtime(c, "kill", c.id, str(signum))
        if c.state.status == "paused" and signum in (signal.SIGKILL, signal.SIGTERM):
            await self.runtime(c, "resume", c.id, check=False)
        self.emit(c, "kill", signal=str(signum))

    async def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        c = self.get(ref)
        if c.state.status == "restarting":
            c.manually_stopped = True
            c.state.status = "exited"
            self.containers.save(c)
            return
        if not c.state.running:
            raise NotModified("container already stopped")
        c.manually_stopped = True
        self.containers.save(c)
        signum = parse_signal(sig or c.config.get("StopSignal"), signal.SIGTERM)
        if timeout is None:
            timeout = c.config.get("StopTimeout")
            if timeout is None:
                timeout = DEFAULT_STOP_TIMEOUT
        waiter = self._exit_future(c.id)
        if timeout != 0:
            await self.runtime(c, "kill", c.id, str(signum), check=False)
            if c.state.status == "paused":
                await self.runtime(c, "resume", c.id, check=False)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), None if timeout < 0 else timeout)
            except TimeoutError:
                pass
        if not waiter.done():
            await self.runtime(c, "kill", c.id, "KILL", check=False)
            if c.state.status == "paused":
                await self.runtime(c, "resume", c.id, check=False)
            await waiter
        self.emit(c, "stop")

    def _exit_future(self, cid: str) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._exit_waiters.setdefault(cid, []).append(fut)
        return fut

    async def restart(self, ref: str, timeout: int | None = None, sig: str | None = None) -> None:
        c = self.get(ref)
        try:
            await self.stop(c.id, timeout, sig)
        except NotModified:
            pass
        async with self.lock(c.id):
            if not c.state.running:
                c.manually_stopped = False
                await self._start(c)
        self.emit(c, "restart")

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with self.lock(c.id):
            if c.state.status == "paused":
                raise Conflict(f"Container {c.id} is already paused")
            if c.state.status != "running":
                raise Conflict(f"Container {c.id} is not running")
            await self.runtime(c, "pause", c.id)
            c.state.status = "paused"
            self.containers.save(c)
        self.emit(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with self.lock(c.id):
            if c.state.status != "paused":
                raise Conflict(f"Container {c.id} is not paused")
            await self.runtime(c, "resume", c.id)
            c.state.status = "running"
            self.containers.save(c)
        self.emit(c, "unpause")

    # --- wait, remove, rename

    async def wait(self, ref: str, condition: str = "not-running") -> dict[str, Any]:
        c = self.get(ref)
        if condition not in ("not-running", "next-exit", "removed", ""):
            raise InvalidArgument(f"invalid condition: {condition}")
        if condition == "removed":
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._removed_waiters.setdefault(c.id, []).append(fut)
            await fut
        elif condition == "next-exit" or c.state.running or c.state.status == "restarting":
            await self._exit_future(c.id)
        result: dict[str, Any] = {"StatusCode": c.state.exit_code}
        result["Error"] = {"Message": c.state.error} if c.state.error else None
        return result

    def removed_future(self, cid: str) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._removed_waiters.setdefault(cid, []).append(fut)
        return fut

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        if c.state.running and not force:
            if c.state.status == "paused":
                raise Conflict(
                    f'cannot remove container "/{c.name}": container is paused and must be unpaused first'
                )
            raise Conflict(
                f'cannot remove container "/{c.name}": container is running: stop the container before'
                " removing or force remove"
            )
        if c.state.status == "removing":
            raise Conflict(f"removal of container {c.id} is already in progress")
        if c.state.running:
            c.manually_stopped = True
            waiter = self._exit_future(c.id)
            await self.runtime(c, "kill", c.id, "KILL", check=False)
            if c.state.status == "paused":
                await self.runtime(c, "resume", c.id, check=False)
            try:
                await asyncio.wait_for(waiter, 10)
            except TimeoutError:
                raise FailedPrecondition(f"could not kill running container {c.id}, cannot remove") from None
        async with self.lock(c.id):
            c.state.status = "removing"
            self.containers.save(c)
            await self.runtime(c, "delete", "--force", c.id, check=False)
            await self.blocking(_unmount_quiet, self.rootfs_dir(c.id))
            await self.blocking(self._discard_files, c.id)
            shutil.rmtree(self.state_dir(c.id), ignore_errors=True)
            self.net.store.release(c.id)
            self.containers.delete(c.id)
            if volumes:  # its anonymous volumes go with it, unless another container uses them
                for m in c.mounts:
                    v = self.volumes.find(m.get("Name") or "") if m["Type"] == "volume" else None
                    if v is not None and v.anonymous and not self.volume_users(v.name):
                        self.volumes.remove(v.name)
                        self.events.emit("volume", "destroy", v.name, {"driver": v.driver})
        self.emit(c, "destroy")
        self._wake(self._exit_waiters, c.id)
        self._wake(self._removed_waiters, c.id)
        self._locks.pop(c.id, None)

    async def connect(self, ref: str, network: str, endpoint: dict[str, Any]) -> None:
        c = self.get(ref)
        async with self.lock(c.id):
            await self.net.connect(c, network, endpoint)
            self.containers.save(c)
        n = self.net.resolve(network)
        self.events.emit("network", "connect", n.id, {"container": c.id, "name": n.name, "type": n.driver})

    async def disconnect(self, ref: str, network: str, force: bool = False) -> None:
        c = self.get(ref)
        async with self.lock(c.id):
            await self.net.disconnect(c, network, force)
            self.containers.save(c)
        self.events.emit("network", "disconnect", network, {"container": c.id, "name": network})

    async def rename(self, ref: str, new: str) -> None:
        c = self.get(ref)
        if not new:
            raise InvalidArgument("Neither old nor new names may be empty")
        new = validate_name(new)
        if new == c.name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        old = c.name
        self.containers.rename(c, new)
        self.emit(c, "rename", oldName=f"/{old}")

    # --- views

    def list(
        self,
        all_: bool = False,
        filters: dict[str, list[str]] | None = None,
        limit: int = -1,
        size: bool = False,
    ) -> list[dict[str, Any]]:
        from wharf.engine.views import container_summary, match_container

        out = []
        filters = filters or {}
        cs = self.containers.all()
        before = filters.get("before")
        since = filters.get("since")
        if before:
            ref = self.get(before[0])
            cs = [c for c in cs if c.created < ref.created]
        if since:
            ref = self.get(since[0])
            cs = [c for c in cs if c.created > ref.created]
        # -n/--last, a status filter and an exited filter imply --all, as in Docker
        show_all = all_ or limit > 0 or "status" in filters or "exited" in filters
        for c in cs:
            if not show_all and not c.state.running:
                continue
            if not match_container(c, filters):
                continue
            out.append(container_summary(c, self))
            if 0 < limit <= len(out):
                break
        return out

    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        from wharf.engine.views import container_inspect

        return container_inspect(self.get(ref), self)

    def uptime(self, c: Container) -> float:
        if c.state.started_at == ZERO_TIME:
            return 0.0
        return time.time() - parse_rfc3339(c.state.started_at)

    async def close(self) -> None:
        await self.net.close()
        self.volumes.close()
        self.containers.close()
        if self._images is not None:
            self._images.close()


def start_error_code(msg: str) -> int:
    if "executable file not found" in msg or "no such file or directory" in msg.lower():
        return 127
    if "permission denied" in msg.lower():
        return 126
    return 128


def runtime_message(text: str) -> str:
    """The one line that matters of a runtime's error output (wharf-runtime or runc's logrus)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "OCI runtime failed"
    last = lines[-1]
    if 'msg="' in last:
        last = last.split('msg="', 1)[1].rsplit('"', 1)[0]
    for prefix in ("wharf-runtime: ", "runc: "):
        if last.startswith(prefix):
            last = last[len(prefix) :]
    return last


def should_restart(name: str, policy: dict[str, Any], c: Container) -> bool:
    if name == "always" or name == "unless-stopped":
        return True
    if name == "on-failure":
        limit = int(policy.get("MaximumRetryCount") or 0)
        return c.state.exit_code != 0 and (limit == 0 or c.restart_count < limit)
    return False


def validate_host_config(hc: dict[str, Any]) -> None:
    policy = hc.get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    if name not in ("no", "always", "on-failure", "unless-stopped"):
        raise InvalidArgument(f"invalid restart policy: unknown policy '{name}'")
    if name != "on-failure" and policy.get("MaximumRetryCount"):
        raise InvalidArgument(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if (policy.get("MaximumRetryCount") or 0) < 0:
        raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    if hc.get("AutoRemove") and name != "no":
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")


MIN_MEMORY = 6 * 1024 * 1024


def validate_create(config: dict[str, Any], hc: dict[str, Any]) -> None:
    """What dockerd refuses at create (400 unless said otherwise), checked before anything is
    made, so a bad request leaves nothing behind."""
    memory = int(hc.get("Memory") or 0)
    if memory and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    swap = int(hc.get("MemorySwap") or 0)
    if memory and swap > 0 and swap < memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    nano = int(hc.get("NanoCpus") or 0)
    ncpu = os.cpu_count() or 1
    if nano and (hc.get("CpuPeriod") or hc.get("CpuQuota")):
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano < 0 or nano > ncpu * 10**9:
        raise InvalidArgument(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )
    if int(hc.get("PidsLimit") or 0) < -1:
        raise InvalidArgument("invalid PidsLimit: must be -1 (unlimited), 0 (default) or positive")
    specgen = _specgen()
    for key in ("CapAdd", "CapDrop"):
        try:
            specgen.capabilities({key: hc.get(key)})
        except InvalidArgument as exc:
            raise InvalidArgument(f"invalid {key}: {exc}") from None
    specgen.security_options(hc)
    if config.get("StopSignal"):
        from wharf.runtime.container import parse_signal

        try:
            parse_signal(str(config["StopSignal"]))
        except InvalidArgument:
            raise InvalidArgument(f"Invalid signal: {config['StopSignal']}") from None
    hc_check = config.get("Healthcheck") or {}
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = int(hc_check.get(key) or 0)
        if value and value < 1_000_000:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    if int(hc_check.get("Retries") or 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    mode = str(hc.get("NetworkMode") or "default")
    if mode.startswith("container:") and config.get("Hostname"):
        raise InvalidArgument("conflicting options: hostname and the network mode")


def _merge_image_config(config: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """Config as inspect shows it: what the client sent, completed from the image."""
    merged = dict(config)
    env = list(image.get("Env") or [])
    keys = {e.split("=", 1)[0]: i for i, e in enumerate(env)}
    for e in config.get("Env") or []:
        k = e.split("=", 1)[0]
        if k in keys:
            env[keys[k]] = e
        else:
            keys[k] = len(env)
            env.append(e)
    merged["Env"] = env
    if not config.get("Entrypoint") and not config.get("Cmd"):
        merged["Cmd"] = image.get("Cmd")
    if not config.get("Entrypoint"):
        merged["Entrypoint"] = (
            image.get("Entrypoint") if not config.get("Entrypoint") else config["Entrypoint"]
        )
    if not config.get("WorkingDir"):
        merged["WorkingDir"] = image.get("WorkingDir") or ""
    if not config.get("User"):
        merged["User"] = image.get("User") or ""
    labels = dict(image.get("Labels") or {})
    labels.update(config.get("Labels") or {})
    merged["Labels"] = labels
    if not config.get("StopSignal") and image.get("StopSignal"):
        merged["StopSignal"] = image["StopSignal"]
    if "Healthcheck" not in config and image.get("Healthcheck"):
        merged["Healthcheck"] = image["Healthcheck"]
    exposed = dict(image.get("ExposedPorts") or {})
    exposed.update(config.get("ExposedPorts") or {})
    if exposed:
        merged["ExposedPorts"] = exposed
    volumes = dict(image.get("Volumes") or {})
    volumes.update(config.get("Volumes") or {})
    if volumes:
        merged["Volumes"] = volumes
    merged.setdefault("Hostname", "")
    return merged


def resolv_conf(host_config: dict[str, Any], embedded_dns: bool = False) -> str:
    """The host's resolv.conf minus loopback name servers (unreachable from a container's own
    network namespace), Docker's fallback servers if none is left, then --dns/--dns-search/--dns-option."""
    try:
        with open("/etc/resolv.conf") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    servers = list(host_config.get("Dns") or [])
    search = list(host_config.get("DnsSearch") or [])
    options = list(host_config.get("DnsOptions") or [])
    host_mode = host_config.get("NetworkMode") == "host"
    out: list[str] = []
    for line in lines:
        words = line.split()
        if not words:
            continue
        if words[0] == "nameserver":
            if servers:
                continue
            if not host_mode and (words[1].startswith("127.") or words[1] == "::1"):
                continue
            out.append(line)
        elif words[0] == "search" and search:
            continue
        elif words[0] == "options" and options:
            continue
        else:
            out.append(line)
    if embedded_dns:  # the daemon answers (and forwards) at 127.0.0.11, as on Docker's user networks
        out = [line for line in out if line.split()[0] != "nameserver"] + ["nameserver 127.0.0.11"]
        if not options:
            options = ["ndots:0"]
        out = [line for line in out if not line.startswith("options")]
        servers = []
    out += [f"nameserver {s}" for s in servers]
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    if not any(line.split()[0] == "nameserver" for line in out if line.split()):
        out += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(out) + "\n"


def parse_size(s: str) -> int:
    """Docker's size strings: 10m, 1g, 512k, 100 (bytes)."""
    s = str(s).strip().lower()
    if not s:
        return 0
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    num = s.rstrip("bkmgti")
    suffix = s[len(num) :].rstrip("b").rstrip("i") or "b"
    try:
        return int(float(num) * units[suffix[0]])
    except (ValueError, KeyError):
        raise InvalidArgument(f"invalid size: '{s}'") from None


def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _unmount_quiet(path: str) -> None:
    from wharf.snapshots.mount import unmount

    while os.path.ismount(path):
        try:
            unmount(path)
        except OSError:
            return


def _specgen() -> Any:
    """wharf.engine.specgen (Docker config → OCI spec), imported when first needed."""
    import importlib

    return importlib.import_module("wharf.engine.specgen")


_LIBRARY_OPS = ("start", "kill", "pause", "resume", "delete")


def _library_op(root: str, args: list[str]) -> None:
    from wharf.runtime import container as rt

    op = args[0]
    if op == "delete":
        force = "--force" in args
        rt.delete(root, args[-1], force)
    elif op == "kill":
        rt.kill(root, args[1], rt.parse_signal(args[2] if len(args) > 2 else "TERM"))
    elif op == "start":
        rt.start(root, args[1])
    elif op == "pause":
        rt.pause(root, args[1])
    elif op == "resume":
        rt.resume(root, args[1])
