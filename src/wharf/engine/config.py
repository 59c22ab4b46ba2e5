"""wharfd's configuration: ``/etc/wharf/daemon.json`` merged with command-line flags.

Keys are Docker's daemon.json names where Docker has one (``data-root``, ``exec-root``, ``hosts``,
``default-runtime``, ``runtimes``, ``registry-mirrors``, ``insecure-registries``, ``log-level``,
``cgroup-parent``, ``log-opts``, ``no-new-privileges``, ``seccomp-profile``, ``icc``, ...: every
key with its flag is in docs/daemon.md); an unknown key is refused as dockerd refuses it, so a
typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any

from wharf.engine.userns import Remap
from wharf.errors import InvalidArgument

DEFAULT_CONFIG_FILE = "/etc/wharf/daemon.json"
DEFAULT_SOCKET = "/run/wharf/wharf.sock"

_KEYS = {
    "data-root": str,
    "exec-root": str,
    "hosts": list,
    "default-runtime": str,
    "runtimes": dict,
    "registry-mirrors": list,
    "insecure-registries": list,
    "log-level": str,
    "debug": bool,
    "cgroup-parent": str,
    "log-driver": str,
    "log-opts": dict,
    "live-restore": bool,
    "bip": str,
    "bridge": str,
    "mtu": int,
    "firewall-table": str,
    "default-address-pools": list,
    "dns": list,
    "dns-search": list,
    "dns-opts": list,
    "tls": bool,
    "tlsverify": bool,
    "tlscacert": str,
    "tlscert": str,
    "tlskey": str,
    "init": bool,
    "init-path": str,
    "userns-remap": str,
    "no-new-privileges": bool,
    "seccomp-profile": str,
    "icc": bool,
}
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")


def _beside_python(name: str) -> str:
    """A program installed next to the interpreter (the venv's bin), else on PATH, else ``name``."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(here, os.X_OK):
        return here
    return shutil.which(name) or name


@dataclass
class DaemonConfig:
    data_root: str = "/var/lib/wharf"
    exec_root: str = "/run/wharf"
    hosts: list[str] = field(default_factory=lambda: [f"unix://{DEFAULT_SOCKET}"])
    default_runtime: str = "wharf"
    runtimes: dict[str, str] = field(default_factory=dict)
    registry_mirrors: list[str] = field(default_factory=list)
    insecure_registries: list[str] = field(default_factory=list)
    log_level: str = "info"
    cgroup_parent: str = "/wharf"
    log_opts: dict[str, str] = field(default_factory=dict)
    tls: dict[str, Any] = field(default_factory=dict)
    bridge: str = "wharf0"
    bip: str = ""
    mtu: int = 1500
    firewall_table: str = "wharf"
    address_pools: list[dict[str, Any]] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_opts: list[str] = field(default_factory=list)
    shim: str = field(default_factory=lambda: _beside_python("wharf-shim"))
    init: bool = False  # --init for every container unless it says otherwise
    init_path: str = field(default_factory=lambda: default_init())
    userns_remap: str = ""  # as asked (daemon.json / --userns-remap); ``remap`` once resolved
    remap: Remap | None = None  # set at daemon start (engine.userns.setup)

    @property
    def remapped(self) -> bool:
        """userns-remap is on (``docker info``: name=userns)."""
        return self.remap is not None

    no_new_privileges: bool = False  # every container's default (--security-opt no-new-privileges)
    seccomp_profile: str = "builtin"  # "builtin", "unconfined" or the path of a profile
    seccomp_text: str = ""  # that profile's content, read once at start-up as dockerd reads it
    icc: bool = True  # containers on the default bridge may talk to each other

    def container_seccomp(self) -> str:
        """The daemon's profile as the spec generator takes it: "builtin", "unconfined" or JSON."""
        named = self.seccomp_profile in ("builtin", "unconfined")
        return self.seccomp_profile if named else self.seccomp_text

    def runtime_names(self) -> tuple[str, ...]:
        return ("wharf", "runc", *sorted(self.runtimes))

    def runtime_path(self, name: str | None = None) -> str:
        name = name or self.default_runtime
        if name in self.runtimes:
            return self.runtimes[name]
        if name == "wharf":
            return _beside_python("wharf-runtime")
        if name == "runc":
            return shutil.which("runc") or "runc"
        raise InvalidArgument(f"unknown or invalid runtime name: {name}")

    @property
    def socket_path(self) -> str | None:
        for h in self.hosts:
            if h.startswith("unix://"):
                return h[len("unix://") :]
        return None


def default_init() -> str:
    """The init --init runs: docker-init where Docker is installed, else Debian's static tini."""
    for name in ("docker-init", "tini-static"):
        found = shutil.which(name)
        if found:
            return os.path.realpath(found)
    return "/usr/bin/tini-static"


def load(path: str | None = None, overrides: dict[str, Any] | None = None) -> DaemonConfig:
    """Read daemon.json (a missing default file is fine, a missing explicit one is not)."""
    raw: dict[str, Any] = {}
    target = path or DEFAULT_CONFIG_FILE
    try:
        with open(target) as f:
            raw = json.load(f)
    except FileNotFoundError:
        if path is not None:
            raise InvalidArgument(
                f"unable to configure the daemon: open {path}: no such file or directory"
            ) from None
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"unable to configure the daemon: {target}: invalid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise InvalidArgument(f"unable to configure the daemon: {target}: not a JSON object")
    unknown = sorted(k for k in raw if k not in _KEYS)
    if unknown:
        raise InvalidArgument(
            "the following directives don't match any configuration option: " + ", ".join(unknown)
        )
    for k, v in raw.items():
        if not isinstance(v, _KEYS[k]):
            raise InvalidArgument(f"invalid value for {k}: {v!r}")
    for k, v in (overrides or {}).items():
        if v is not None:
            raw[k] = v
    cfg = DaemonConfig()
    cfg.data_root = raw.get("data-root", cfg.data_root)
    cfg.exec_root = raw.get("exec-root", cfg.exec_root)
    cfg.hosts = raw.get("hosts") or cfg.hosts
    cfg.default_runtime = raw.get("default-runtime", cfg.default_runtime)
    cfg.runtimes = {k: (v["path"] if isinstance(v, dict) else v) for k, v in raw.get("runtimes", {}).items()}
    cfg.registry_mirrors = raw.get("registry-mirrors", [])
    cfg.insecure_registries = raw.get("insecure-registries", [])
    cfg.log_level = "debug" if raw.get("debug") else raw.get("log-level", cfg.log_level)
    if cfg.log_level not in LOG_LEVELS:
        raise InvalidArgument(f"unable to parse logging level: {cfg.log_level}")
    cfg.cgroup_parent = raw.get("cgroup-parent", cfg.cgroup_parent)
    cfg.log_opts = raw.get("log-opts", {})
    cfg.bridge = raw.get("bridge", cfg.bridge)
    if not 0 < len(cfg.bridge) <= 15:
        raise InvalidArgument(f"invalid bridge name: {cfg.bridge!r}")
    cfg.bip = raw.get("bip", "")
    cfg.mtu = int(raw.get("mtu", cfg.mtu))
    cfg.firewall_table = raw.get("firewall-table", cfg.firewall_table)
    cfg.address_pools = raw.get("default-address-pools", [])
    cfg.dns = [str(x) for x in raw.get("dns", [])]
    for server in cfg.dns:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidArgument(f"{server} is not an ip address") from None
    cfg.dns_search = [str(x) for x in raw.get("dns-search", [])]
    cfg.dns_opts = [str(x) for x in raw.get("dns-opts", [])]
    cfg.init = bool(raw.get("init", False))
    cfg.init_path = raw.get("init-path") or cfg.init_path
    cfg.userns_remap = raw.get("userns-remap", "")
    cfg.no_new_privileges = bool(raw.get("no-new-privileges", False))
    cfg.icc = bool(raw.get("icc", True))
    cfg.seccomp_profile = raw.get("seccomp-profile") or "builtin"
    cfg.seccomp_text = _seccomp_text(cfg.seccomp_profile)
    cfg.tls = {k: raw[k] for k in ("tls", "tlsverify", "tlscacert", "tlscert", "tlskey") if k in raw}
    return cfg


def _seccomp_text(profile: str) -> str:
    """The daemon's "seccomp-profile" file, read at start-up; a file that cannot be read stops
    the daemon, in dockerd's words (its content is checked at each container's start)."""
    if profile in ("builtin", "unconfined"):
        return ""
    try:
        with open(profile, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as exc:
        op = "read" if isinstance(exc, IsADirectoryError) else "open"
        why = (exc.strerror or str(exc)).lower()
        raise InvalidArgument(
            f"failed to start daemon: opening seccomp profile ({profile}) failed: {op} {profile}: {why}"
        ) from None
