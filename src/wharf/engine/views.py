"""Containers as the Engine API shows them: /containers/json summaries, /containers/{id}/json,
``docker ps`` filters and Docker's human status strings ("Up 3 minutes", "Exited (0) 2 seconds ago")."""

from __future__ import annotations

import functools
import json
import time
from typing import Any

from wharf.base.times import ZERO_TIME, human_duration, parse_rfc3339
from wharf.engine.containers import Container
from wharf.engine.paths import Paths
from wharf.engine.state import STATUS_NAMES, Status
from wharf.errors import InvalidArgument

PS_FILTERS = {
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
}


def status_text(c: Container) -> str:
    st = c.state
    now = time.time()
    if st.status is Status.REMOVING:
        return "Removal In Progress"
    if st.status is Status.DEAD:
        return "Dead"
    if st.status is Status.RESTARTING:
        return f"Restarting ({st.exit_code}) {human_duration(now - _ts(st.finished_at))} ago"
    if st.status.has_process:
        text = f"Up {human_duration(now - _ts(st.started_at))}"
        if st.status is Status.PAUSED:
            return text + " (Paused)"
        health = (st.health or {}).get("Status")
        if health == "starting":
            return text + " (health: starting)"
        if health in ("healthy", "unhealthy"):
            return f"{text} ({health})"
        return text
    if st.status is Status.EXITED and st.finished_at != ZERO_TIME:
        return f"Exited ({st.exit_code}) {human_duration(now - _ts(st.finished_at))} ago"
    return "Created"


# every ps row shows a time parsed from a record's text: parsed once per text
_parsed_time = functools.lru_cache(maxsize=8192)(parse_rfc3339)


def _ts(s: str) -> float:
    try:
        return _parsed_time(s)
    except ValueError:
        return time.time()


def command_text(c: Container) -> str:
    return " ".join([c.path, *c.args]).strip()


def network_settings(c: Container) -> dict[str, Any]:
    nets = networks_view(c)
    bridge = nets.get("bridge") or {}
    running = c.state.running
    return {
        "Bridge": "",
        "SandboxID": c.id if running and nets else "",
        "SandboxKey": f"/proc/{c.state.pid}/ns/net" if running and c.state.pid else "",
        "Ports": c.networking.get("Ports") or {},
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": bridge.get("EndpointID", ""),
        "Gateway": bridge.get("Gateway", ""),
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": bridge.get("IPAddress", ""),
        "IPPrefixLen": bridge.get("IPPrefixLen", 0),
        "IPv6Gateway": "",
        "MacAddress": bridge.get("MacAddress", ""),
        "Networks": nets,
    }


def public_mounts(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if not k.startswith("_")} for m in mounts]


def networks_view(c: Container) -> dict[str, Any]:
    """EndpointSettings per network, without wharf's private bookkeeping keys."""
    out = {}
    for name, ep in (c.networking.get("Networks") or {}).items():
        out[name] = {k: v for k, v in ep.items() if not k.startswith("_")}
    return out


def ports_list(c: Container) -> list[dict[str, Any]]:
    """ps's Ports: one entry per binding, and bare exposed ports."""
    out: list[dict[str, Any]] = []
    for key, items in (c.networking.get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        if not items:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
            continue
        for b in items:
            out.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                        "PublicPort": int(b.get("HostPort") or 0), "Type": proto or "tcp"})  # fmt: skip
    return out


def container_summary(c: Container, link_names: list[str] | None = None) -> dict[str, Any]:
    head, tail = _summary_parts(c, link_names)
    return {**head, "Status": status_text(c), **tail}


def _summary_parts(c: Container, link_names: list[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary around its Status (the one field that changes with the clock alone)."""
    head = {
        "Id": c.id,
        "Names": [f"/{c.name}", *(link_names or [])],
        "Image": c.image_name,
        "ImageID": c.image_id,
        "Command": command_text(c),
        "Created": int(_ts(c.created)),
        "Ports": ports_list(c),
        "Labels": c.config.get("Labels") or {},
        "State": c.state.status.value,
    }
    tail = {
        "HostConfig": {"NetworkMode": c.host_config.get("NetworkMode") or "bridge"},
        "NetworkSettings": {"Networks": networks_view(c)},
        "Mounts": public_mounts(c.mounts),
    }
    return head, tail


class SummaryCache:
    """/containers/json rows as JSON text, kept per container between requests: a row is made
    again only when its record was written since (the store's revision) or a field it shows
    moved in memory; only Status, which the clock changes, is made per request. 100 rows from
    the cache cost a tenth of building them."""

    def __init__(self) -> None:
        self._rows: dict[str, tuple[tuple[Any, ...], str, str]] = {}

    def row(self, c: Container, rev: int, link_names: list[str] | None) -> str:
        st = c.state
        key = (rev, c.name, st.status, st.started_at, st.finished_at, st.exit_code,
               (st.health or {}).get("Status"), tuple(link_names or ()),
               id(c.networking.get("Networks")), id(c.networking.get("Ports")))  # fmt: skip
        hit = self._rows.get(c.id)
        if hit is None or hit[0] != key:
            head, tail = _summary_parts(c, link_names)
            hit = (key, json.dumps(head)[:-1] + ', "Status": ', ", " + json.dumps(tail)[1:])
            self._rows[c.id] = hit
        return hit[1] + json.dumps(status_text(c)) + hit[2]

    def forget_others(self, ids: set[str]) -> None:
        """Drop the rows of containers that are gone (called when the cache holds many more)."""
        for cid in [cid for cid in self._rows if cid not in ids]:
            del self._rows[cid]

    def __len__(self) -> int:
        return len(self._rows)


def container_inspect(c: Container, paths: Paths, links: list[str] | None = None) -> dict[str, Any]:
    d = paths.container_dir(c.id)
    hc: dict[str, Any] = dict(c.host_config)
    hc["Links"] = links
    hc.setdefault("Binds", None)
    hc.setdefault("ContainerIDFile", "")
    hc.setdefault("PortBindings", {})
    hc.setdefault("AutoRemove", False)
    hc.setdefault("Privileged", False)
    hc.setdefault("ReadonlyRootfs", False)
    hc.setdefault("CapAdd", None)
    hc.setdefault("CapDrop", None)
    hc.setdefault("ShmSize", 64 << 20)
    hc.setdefault("Runtime", c.runtime)
    hc.setdefault("Memory", 0)
    hc.setdefault("NanoCpus", 0)
    hc.setdefault("PidsLimit", None)
    hc.setdefault("CgroupnsMode", "host")
    hc.setdefault("IpcMode", "private")
    config = dict(c.config)
    config.setdefault("AttachStdin", False)
    config.setdefault("AttachStdout", False)
    config.setdefault("AttachStderr", False)
    config.setdefault("Tty", False)
    config.setdefault("OpenStdin", False)
    config.setdefault("StdinOnce", False)
    config["Hostname"] = config.get("Hostname") or c.id[:12]
    config.setdefault("Domainname", "")
    config.setdefault("Cmd", None)
    config.setdefault("Image", c.image_name)
    driver = "overlayfs"
    return {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": c.args,
        "State": c.state.to_docker(),
        "Image": c.image_id,
        "ResolvConfPath": f"{d}/resolv.conf",
        "HostnamePath": f"{d}/hostname",
        "HostsPath": f"{d}/hosts",
        "LogPath": paths.log_path(c.id),
        "Name": f"/{c.name}",
        "RestartCount": c.restart_count,
        "Driver": driver,
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": hc,
        "GraphDriver": {"Data": {"MergedDir": paths.rootfs_dir(c.id)}, "Name": driver},
        "Mounts": public_mounts(c.mounts),
        "Config": config,
        "NetworkSettings": network_settings(c),
    }


def check_filters(filters: dict[str, list[str]]) -> None:
    for key in filters:
        if key not in PS_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    for st in filters.get("status", []):
        if st not in STATUS_NAMES:
            raise InvalidArgument(f"invalid filter 'status={st}'")


def match_container(c: Container, filters: dict[str, list[str]]) -> bool:
    """Whether ``c`` passes ``filters``, already checked by the caller (``check_filters``)."""
    for key, values in filters.items():
        if not values or key in ("before", "since"):
            continue
        if key == "id":
            ok = any(c.id.startswith(v) for v in values)
        elif key == "name":
            import re

            ok = any(re.search(v.lstrip("/"), c.name) or re.search(v, f"/{c.name}") for v in values)
        elif key == "status":
            ok = c.state.status.value in values
        elif key == "exited":
            ok = c.state.status is Status.EXITED and str(c.state.exit_code) in values
        elif key == "label":
            labels = c.config.get("Labels") or {}
            ok = all(
                (labels.get(v.split("=", 1)[0]) == v.split("=", 1)[1]) if "=" in v else v in labels
                for v in values
            )
        elif key == "ancestor":
            ok = any(v in (c.image_name, c.image_id) or c.image_id.startswith(f"sha256:{v}") for v in values)
        elif key == "health":
            ok = ((c.state.health or {}).get("Status") or "none") in values
        elif key == "network":
            ok = any(
                v in (c.networking.get("Networks") or {}) or v == c.host_config.get("NetworkMode")
                for v in values
            )
        elif key == "volume":
            ok = any(
                any(v in (m.get("Name"), m.get("Destination"), m.get("Source")) for m in c.mounts)
                for v in values
            )
        elif key == "is-task":
            ok = "false" in values
        else:
            ok = True
        if not ok:
            return False
    return True
