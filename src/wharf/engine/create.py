"""``create``: a container record from the client's configuration and the image's.

resolve the image → plan endpoints and mounts (every check before anything is made) → name
and ID → the container's directory with ``.creating`` (the anonymous volumes about to be made)
→ volumes made → snapshot prepared → hostname/hosts/resolv.conf → one record (``engine.db``,
one transaction) → ``.creating`` removed. Anything that fails after the directory was made
undoes what was made; a daemon killed before the record leaves a directory without one, and
the next daemon's ``discard_unrecorded`` undoes it (anonymous volumes, snapshot, files).
"""

from __future__ import annotations

import json
import os
from typing import Any

from wharf.base import trees
from wharf.base.files import atomic_write
from wharf.base.times import now_rfc3339
from wharf.engine import netfiles, userns, validate
from wharf.engine.containers import Container, new_id, random_name, validate_name
from wharf.engine.core import Core
from wharf.engine.request import ContainerConfig, CreateRequest, HostConfig, LogConfig, RestartPolicy
from wharf.engine.runner import blocking
from wharf.errors import Conflict, InvalidArgument, NotFound, WharfError


async def create(core: Core, req: CreateRequest) -> tuple[str, list[str]]:
    from wharf.engine import specgen
    from wharf.volumes import mounts as vmounts

    config, host_config = req.config, req.host_config
    validate.create(config, host_config)
    validate.userns(core.cfg.remap is not None, host_config)
    validate.runtime(core.cfg.runtime_names(), host_config)
    image_ref = config.get("Image") or ""
    record = await blocking(core.images.resolve, image_ref)
    try:
        endpoints = core.net.endpoints_at_create(host_config, dict(req.networking))
    except NotFound as exc:
        # dockerd reports a missing network when the container starts; clients (the docker
        # CLI among them) read a 404 from create as a missing image and go pulling: refuse
        # here, with the same words, as a bad request, before anything is made
        raise InvalidArgument(str(exc)) from None
    _legacy_mac(config, endpoints)
    legacy = _links(core, host_config, endpoints)
    image_config = ((await blocking(core.images.config, record)).get("config")) or {}
    try:
        planned = vmounts.plan(
            host_config,
            {"Volumes": {**(image_config.get("Volumes") or {}), **(config.get("Volumes") or {})}},
            lambda ref: [dict(m) for m in core.store.get(ref).mounts],
        )
    except NotFound as exc:  # --volumes-from an unknown container: not a missing image (see above)
        raise InvalidArgument(str(exc)) from None
    argv = specgen.command(config, image_config)
    name = _name(core, req.name)
    cid = new_id(core.store.by_id)
    with core.store.reserving(name, cid):  # no other create takes the name while this one awaits
        chain = await blocking(core.images.top_chain_id, record)
        anonymous = vmounts.name_anonymous(planned)
        await blocking(_note_creating, core, cid, anonymous)
        made: list[str] = []
        try:
            made = await blocking(vmounts.realize, planned, core.volumes)
            await blocking(core.images.snapshots.prepare, cid, chain)
            netfiles.write_at_create(core.paths.container_dir(cid), core.cfg, cid, config, host_config)
            if core.cfg.remap is not None:
                upper = core.images.snapshots.fs_dir(cid)
                userns.own_container_files(core.cfg.remap, core.paths.container_dir(cid), upper)
            c = Container(
                id=cid,
                name=name,
                created=now_rfc3339(),
                config=merge_image_config(config, image_config),
                host_config=_host_config_defaults(host_config),
                image_id=record.id,
                image_name=image_ref,
                path=argv[0],
                args=argv[1:],
                snapshot_key=cid,
                runtime=host_config.get("Runtime") or core.cfg.default_runtime,
                networking={"Networks": endpoints, "Ports": {}},
                mounts=planned,
                links=legacy,
                no_new_privileges=specgen.security(host_config, core.cfg.no_new_privileges)[0],
            )
            core.store.add(c)
        except BaseException:
            await blocking(discard_files, core, cid)
            for v in made:
                core.volumes.remove(v)
            raise
        _done_creating(core, cid)
        core.emit(c, "create")
        return cid, []


def _links(core: Core, host_config: HostConfig, endpoints: dict[str, Any]) -> dict[str, str]:
    """HostConfig.Links: legacy links on the default bridge; on a user-defined network they are
    the first endpoint's (DNS aliases for this container), as dockerd takes them."""
    from wharf.engine import links

    wanted = host_config.get("Links") or []
    if not wanted:
        return {}
    if "bridge" in endpoints or not endpoints:
        return links.at_create(core.store, wanted)
    first = next(iter(endpoints.values()))
    if not first.get("Links"):
        first["Links"] = [f"{n}:{a}" for n, a in (links.parse(str(x)) for x in wanted)]
    return {}


def _legacy_mac(config: ContainerConfig, endpoints: dict[str, Any]) -> None:
    """Config.MacAddress (where clients below API 1.44 put it) is the first network's MAC."""
    from wharf.network.endpoints import MAC_RE

    mac = config.get("MacAddress") or ""
    if not mac:
        return
    if not MAC_RE.match(mac):
        raise InvalidArgument(f"invalid MAC address {mac}")
    first = next(iter(endpoints.values()), None)
    if first is not None and not first.get("MacAddress"):
        first["MacAddress"] = mac.replace("-", ":")


def _name(core: Core, name: str | None) -> str:
    """The asked name, checked and free, or a generated one."""
    if not name:
        return random_name(core.store.names())
    name = validate_name(name)
    other = core.store.by_name(name)
    owner = other.id if other is not None else core.store.reserved.get(name)
    if owner is not None:
        raise Conflict(
            f'Conflict. The container name "/{name}" is already in use by container "{owner}".'
            " You have to remove (or rename) that container to be able to reuse that name."
        )
    return name


def _host_config_defaults(host_config: HostConfig) -> HostConfig:
    """HostConfig as inspect shows it: the network mode, log driver and restart policy filled in."""
    hc = host_config.copy()
    if hc.setdefault("NetworkMode", "default") == "default":
        hc["NetworkMode"] = "bridge"
    log = hc.get("LogConfig") or LogConfig()
    hc["LogConfig"] = LogConfig(Type=log.get("Type") or "json-file", Config=log.get("Config") or {})
    hc.setdefault("RestartPolicy", RestartPolicy(Name="no", MaximumRetryCount=0))
    return hc


CREATING = ".creating"


def _note_creating(core: Core, cid: str, anonymous: list[str]) -> None:
    """The container's directory, holding what a create killed before its record would leave
    for the next daemon to undo. Not fsynced: a kill -9 keeps the page cache."""
    d = core.paths.container_dir(cid)
    os.mkdir(d)  # the mode it had when write_at_create made it: rootfs/ inside is 0710
    atomic_write(f"{d}/{CREATING}", json.dumps({"anonymous_volumes": anonymous}), durable=False)


def _done_creating(core: Core, cid: str) -> None:
    try:
        os.unlink(f"{core.paths.container_dir(cid)}/{CREATING}")
    except FileNotFoundError:
        pass


def discard_unrecorded(core: Core, cid: str) -> None:
    """At daemon start, for a container directory no record names (a create killed before its
    record): the anonymous volumes it noted (unless some container uses them), its snapshot and
    its files go. Named volumes it made stay, as after a ``volume create``."""
    try:
        with open(f"{core.paths.container_dir(cid)}/{CREATING}") as f:
            anonymous = list(json.load(f).get("anonymous_volumes") or [])
    except (OSError, ValueError, AttributeError):
        anonymous = []
    for name in anonymous:
        if core.volumes.find(name) is not None and not core.volume_users(name):
            core.volumes.remove(name)
    discard_files(core, cid)
    trees.remove_tree(core.paths.state_dir(cid), ignore_errors=True)


def discard_files(core: Core, cid: str) -> None:
    """A container's snapshot and directory go (create undone, or the container removed)."""
    try:
        core.images.snapshots.remove(cid)
    except WharfError:
        pass
    trees.remove_tree(core.paths.container_dir(cid), ignore_errors=True)


def merge_image_config(config: ContainerConfig, image: dict[str, Any]) -> ContainerConfig:
    """Config as inspect shows it: what the client sent, completed from the image."""
    from wharf.engine.specgen import merge_env

    merged = config.copy()
    merged["Env"] = merge_env(image.get("Env") or [], config.get("Env") or [])
    if not config.get("Entrypoint") and not config.get("Cmd"):
        merged["Cmd"] = image.get("Cmd")
    if not config.get("Entrypoint"):
        merged["Entrypoint"] = image.get("Entrypoint")
    if not config.get("WorkingDir"):
        merged["WorkingDir"] = image.get("WorkingDir") or ""
    if not config.get("User"):
        merged["User"] = image.get("User") or ""
    merged["Labels"] = {**(image.get("Labels") or {}), **(config.get("Labels") or {})}
    if not config.get("StopSignal") and image.get("StopSignal"):
        merged["StopSignal"] = image["StopSignal"]
    if "Healthcheck" not in config and image.get("Healthcheck"):
        merged["Healthcheck"] = image["Healthcheck"]
    exposed = {**(image.get("ExposedPorts") or {}), **(config.get("ExposedPorts") or {})}
    if exposed:
        merged["ExposedPorts"] = exposed
    volumes = {**(image.get("Volumes") or {}), **(config.get("Volumes") or {})}
    if volumes:
        merged["Volumes"] = volumes
    merged.setdefault("Hostname", "")
    return merged
