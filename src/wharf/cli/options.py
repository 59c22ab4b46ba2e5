"""``run``/``create`` flags (RUN_FLAGS) and the syntaxes of their values, as the docker CLI reads
them; cli/create_body.py turns the parsed flags into the Engine API's create body.

Value syntaxes follow Docker's: sizes in binary units (``512m``), Go durations (``1m30s``),
``-p [ip:]host[-range]:container[/proto]``, ``-v src:dst[:opts]``, ``--mount k=v,...``,
``--ulimit name=soft[:hard]``, ``--restart name[:N]``. Values Docker refuses are refused here
with its wording (a UsageError: the caller exits 125).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from wharf.base import units
from wharf.cli.main import Parser, UsageError


def parse_bytes(value: str) -> int:
    """go-units RAMInBytes (``512m``, ``1.5g``, ``1024``), Docker's usage error otherwise."""
    try:
        return units.ram_in_bytes(value)
    except ValueError:
        raise UsageError(f"invalid size: '{value}'") from None


def parse_duration(value: str) -> int:
    """A Go duration (``1m30s``, ``500ms``, ``0``) in nanoseconds."""
    try:
        return units.parse_duration(value)
    except ValueError:
        raise UsageError(f'time: invalid duration "{value}"') from None


Flag = tuple[tuple[str, ...], str, dict[str, Any]]


def _flag(*names: str, kind: str = "text", **extra: Any) -> Flag:
    """One row of RUN_FLAGS: the flag's names, its kind of value, argparse keywords of its own."""
    return names, kind, extra


def _kind_keywords(kind: str) -> dict[str, Any]:
    """argparse's keywords for a kind of value (made afresh: each parser its own default lists)."""
    kinds: dict[str, dict[str, Any]] = {
        "text": {"default": ""},
        "text?": {"default": None},  # None: not given (an empty value means something)
        "list": {"action": "append", "default": []},  # repeatable
        "bool": {"action": "store_true"},
        "int": {"type": int, "default": 0},
        "int?": {"type": int, "default": None},
    }
    return kinds[kind]


_LIST, _BOOL, _INT, _OPT_INT, _OPT = "list", "bool", "int", "int?", "text?"
_STREAMS = ["stdin", "stdout", "stderr", "STDIN", "STDOUT", "STDERR"]

# run's and create's flags, as the docker CLI names them (run adds -d, --sig-proxy, --detach-keys)
RUN_FLAGS: tuple[Flag, ...] = (
    _flag("-a", "--attach", kind=_LIST, choices=_STREAMS),
    _flag("--add-host", kind=_LIST),
    _flag("--cap-add", kind=_LIST),
    _flag("--cap-drop", kind=_LIST),
    _flag("--cgroup-parent"),
    _flag("--cgroupns"),
    _flag("--cidfile"),
    _flag("--cpu-period", kind=_INT),
    _flag("--cpu-quota", kind=_INT),
    _flag("-c", "--cpu-shares", kind=_INT),
    _flag("--cpus"),
    _flag("--cpuset-cpus"),
    _flag("--cpuset-mems"),
    _flag("--device", kind=_LIST),
    _flag("--dns", kind=_LIST),
    _flag("--dns-option", "--dns-opt", kind=_LIST),
    _flag("--dns-search", kind=_LIST),
    _flag("--domainname"),
    _flag("--entrypoint", kind=_OPT),
    _flag("-e", "--env", kind=_LIST),
    _flag("--env-file", kind=_LIST),
    _flag("--expose", kind=_LIST),
    _flag("--group-add", kind=_LIST),
    _flag("--health-cmd", kind=_OPT),
    _flag("--health-interval", kind=_OPT),
    _flag("--health-retries", kind=_OPT_INT),
    _flag("--health-start-period", kind=_OPT),
    _flag("--health-start-interval", kind=_OPT),
    _flag("--health-timeout", kind=_OPT),
    _flag("-h", "--hostname"),
    _flag("--init", kind=_BOOL),
    _flag("-i", "--interactive", kind=_BOOL),
    _flag("--ip"),
    _flag("--ip6"),
    _flag("--ipc"),
    _flag("--isolation"),
    _flag("-l", "--label", kind=_LIST),
    _flag("--label-file", kind=_LIST),
    _flag("--link", kind=_LIST),
    _flag("--log-driver"),
    _flag("--log-opt", kind=_LIST),
    _flag("--mac-address"),
    _flag("-m", "--memory"),
    _flag("--memory-reservation"),
    _flag("--memory-swap"),
    _flag("--memory-swappiness", kind=_INT, default=-1),
    _flag("--mount", kind=_LIST),
    _flag("--name"),
    _flag("--network", "--net"),
    _flag("--network-alias", "--net-alias", kind=_LIST),
    _flag("--no-healthcheck", kind=_BOOL),
    _flag("--oom-kill-disable", kind=_BOOL),
    _flag("--oom-score-adj", kind=_INT),
    _flag("--pid"),
    _flag("--pids-limit", kind=_OPT_INT),
    _flag("--platform"),
    _flag("--privileged", kind=_BOOL),
    _flag("-p", "--publish", kind=_LIST),
    _flag("-P", "--publish-all", kind=_BOOL),
    _flag("--pull", default="missing", choices=["missing", "always", "never"]),
    _flag("-q", "--quiet", kind=_BOOL),
    _flag("--read-only", kind=_BOOL),
    _flag("--restart"),
    _flag("--rm", kind=_BOOL),
    _flag("--runtime"),
    _flag("--security-opt", kind=_LIST),
    _flag("--shm-size"),
    _flag("--stop-signal"),
    _flag("--stop-timeout", kind=_OPT_INT),
    _flag("--storage-opt", kind=_LIST),
    _flag("--sysctl", kind=_LIST),
    _flag("--tmpfs", kind=_LIST),
    _flag("-t", "--tty", kind=_BOOL),
    _flag("--ulimit", kind=_LIST),
    _flag("-u", "--user"),
    _flag("--userns"),
    _flag("--uts"),
    _flag("-v", "--volume", kind=_LIST),
    _flag("--volume-driver"),
    _flag("--volumes-from", kind=_LIST),
    _flag("-w", "--workdir"),
)


def add_run_flags(p: Parser) -> None:
    for names, kind, extra in RUN_FLAGS:
        p.add_argument(*names, **{**_kind_keywords(kind), **extra})
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)


def kv_list(values: list[str], files: list[str], what: str) -> list[str]:
    out: list[str] = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise UsageError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from None
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            out.append(_env_item(line) if what == "env" else line)
    for v in values:
        out.append(_env_item(v) if what == "env" else v)
    return [x for x in out if x]


def _env_item(item: str) -> str:
    """``KEY=v`` as is; a bare ``KEY`` takes the value from our environment, or is dropped."""
    if "=" in item:
        if item.startswith("="):
            raise UsageError(f"invalid environment variable: {item}")
        return item
    return f"{item}={os.environ[item]}" if item in os.environ else ""


def parse_ports(specs: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for spec in specs:
        proto = "tcp"
        body = spec
        if "/" in body:
            body, proto = body.rsplit("/", 1)
            if proto not in ("tcp", "udp", "sctp"):
                raise UsageError(f"invalid proto: {proto}")
        host_ip = ""
        if body.startswith("["):  # [::1]:8080:80
            end = body.find("]")
            host_ip, body = body[1:end], body[end + 2 :]
        parts = body.split(":")
        if len(parts) == 1:
            host_port, ctr = "", parts[0]
        elif len(parts) == 2:
            host_port, ctr = parts
        elif len(parts) == 3:
            host_ip, host_port, ctr = parts
        else:
            raise UsageError(f"invalid port format: {spec}")
        ctr_ports = port_range(ctr, spec)
        if not ctr_ports:
            raise UsageError(f"no port specified: {spec}<empty>")
        host_ports: list[str] = [str(x) for x in port_range(host_port, spec)] if host_port else []
        if host_ports and len(host_ports) != len(ctr_ports) and len(ctr_ports) != 1:
            raise UsageError(f"invalid ranges specified for container and host Ports: {ctr} and {host_port}")
        for i, cp in enumerate(ctr_ports):
            key = f"{cp}/{proto}"
            exposed[key] = {}
            if not host_ports:
                hp = ""
            elif len(ctr_ports) == 1 and len(host_ports) > 1:
                hp = f"{host_ports[0]}-{host_ports[-1]}"
            else:
                hp = host_ports[i]
            bindings.setdefault(key, []).append({"HostIp": host_ip, "HostPort": hp})
    return exposed, bindings


def port_range(s: str, spec: str) -> list[int]:
    if not s:
        return []
    lo, _, hi = s.partition("-")
    try:
        a, b = int(lo), int(hi or lo)
    except ValueError:
        raise UsageError(f"invalid containerPort: {s}" if s else f"invalid port: {spec}") from None
    if not (0 < a <= 65535 and 0 < b <= 65535) or b < a:
        raise UsageError(f"invalid port range: {s}")
    return list(range(a, b + 1))


def parse_mount(spec: str) -> dict[str, Any]:
    """``--mount type=bind,source=/a,target=/b,readonly,bind-propagation=rshared,...``."""
    m: dict[str, Any] = {"Type": "volume"}
    bind: dict[str, Any] = {}
    vol: dict[str, Any] = {}
    tmpfs: dict[str, Any] = {}
    for field in spec.split(","):
        key, eq, val = field.partition("=")
        key = key.strip().lower()
        if key == "type":
            if val not in ("bind", "volume", "tmpfs", "npipe", "cluster", "image"):
                raise UsageError(f'invalid argument "{spec}" for "--mount" flag: invalid mount type {val!r}')
            m["Type"] = val
        elif key in ("source", "src"):
            m["Source"] = val
        elif key in ("target", "dst", "destination"):
            m["Target"] = val
        elif key in ("readonly", "ro"):
            if eq and val.lower() not in ("1", "true", "0", "false"):
                raise UsageError(
                    f'invalid argument "{spec}" for "--mount" flag: invalid value for readonly: {val}'
                )
            m["ReadOnly"] = not eq or val.lower() in ("1", "true")
        elif key == "consistency":
            m["Consistency"] = val
        elif key == "bind-propagation":
            bind["Propagation"] = val
        elif key == "bind-recursive":
            bind["NonRecursive"] = val == "disabled"
        elif key == "volume-nocopy":
            vol["NoCopy"] = not eq or val.lower() in ("1", "true")
        elif key == "volume-label":
            lk, _, lv = val.partition("=")
            vol.setdefault("Labels", {})[lk] = lv
        elif key == "volume-driver":
            vol.setdefault("DriverConfig", {})["Name"] = val
        elif key == "volume-opt":
            ok, _, ov = val.partition("=")
            vol.setdefault("DriverConfig", {}).setdefault("Options", {})[ok] = ov
        elif key == "volume-subpath":
            vol["Subpath"] = val
        elif key == "tmpfs-size":
            tmpfs["SizeBytes"] = parse_bytes(val)
        elif key == "tmpfs-mode":
            tmpfs["Mode"] = int(val, 8)
        else:
            raise UsageError(
                f"invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{key}' in '{field}'"
            )
    if not m.get("Target"):
        raise UsageError(f'invalid argument "{spec}" for "--mount" flag: target is required')
    if bind:
        m["BindOptions"] = bind
    if vol:
        m["VolumeOptions"] = vol
    if tmpfs:
        m["TmpfsOptions"] = tmpfs
    return m


def restart_policy(value: str) -> dict[str, Any]:
    name, _, count = value.partition(":")
    if name not in ("", "no", "always", "unless-stopped", "on-failure"):
        raise UsageError(f"invalid restart policy: {value}")
    if count and name != "on-failure":
        raise UsageError(
            "invalid restart policy format: maximum retry count can only be used with 'on-failure'"
        )
    try:
        n = int(count) if count else 0
    except ValueError:
        raise UsageError(
            f"invalid restart policy format: strconv.Atoi: parsing {count!r}: invalid syntax"
        ) from None
    return {"Name": name, "MaximumRetryCount": n}


def parse_ulimit(value: str) -> dict[str, Any]:
    name, eq, limits = value.partition("=")
    if not eq:
        raise UsageError(f"invalid ulimit argument: {value}")
    soft, _, hard = limits.partition(":")
    try:
        return {"Name": name, "Soft": int(soft), "Hard": int(hard or soft)}
    except ValueError:
        raise UsageError(f"invalid ulimit argument: {value}") from None


def parse_device(value: str) -> dict[str, str]:
    parts = value.split(":")
    host = parts[0]
    ctr = parts[1] if len(parts) > 1 and not set(parts[1]) <= set("rwm") else host
    perms = parts[-1] if len(parts) > 1 and set(parts[-1]) <= set("rwm") else "rwm"
    return {"PathOnHost": host, "PathInContainer": ctr, "CgroupPermissions": perms}


def security_opts(values: list[str]) -> list[str]:
    out = []
    for v in values:
        key, sep, val = v.partition("=")
        if not sep:
            key, sep, val = v.partition(":")
        if key == "seccomp" and val not in ("unconfined", "builtin", ""):
            try:
                with open(val, encoding="utf-8") as f:
                    profile = json.load(f)
            except (OSError, ValueError) as exc:
                raise UsageError(f"opening seccomp profile ({val}) failed: {exc}") from None
            out.append("seccomp=" + json.dumps(profile, separators=(",", ":")))
        else:
            out.append(v if sep else v)
    return out
