"""``run``/``create`` flags → the Engine API's create body, as the docker CLI builds it.

Value syntaxes follow Docker's: sizes in binary units (``512m``), Go durations (``1m30s``),
``-p [ip:]host[-range]:container[/proto]``, ``-v src:dst[:opts]``, ``--mount k=v,...``,
``--ulimit name=soft[:hard]``, ``--restart name[:N]``. Conflicts Docker refuses are refused here
with its wording (the caller exits 125).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from wharf.base import units
from wharf.cli.main import Exit, Parser, UsageError


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


def add_run_flags(p: Parser) -> None:
    a = p.add_argument
    ap = "append"
    a(
        "-a",
        "--attach",
        action=ap,
        default=[],
        choices=["stdin", "stdout", "stderr", "STDIN", "STDOUT", "STDERR"],
    )
    a("--add-host", action=ap, default=[])
    a("--cap-add", action=ap, default=[])
    a("--cap-drop", action=ap, default=[])
    a("--cgroup-parent", default="")
    a("--cgroupns", default="")
    a("--cidfile", default="")
    a("--cpu-period", type=int, default=0)
    a("--cpu-quota", type=int, default=0)
    a("-c", "--cpu-shares", type=int, default=0)
    a("--cpus", default="")
    a("--cpuset-cpus", default="")
    a("--cpuset-mems", default="")
    a("--device", action=ap, default=[])
    a("--dns", action=ap, default=[])
    a("--dns-option", "--dns-opt", action=ap, default=[])
    a("--dns-search", action=ap, default=[])
    a("--domainname", default="")
    a("--entrypoint", default=None)
    a("-e", "--env", action=ap, default=[])
    a("--env-file", action=ap, default=[])
    a("--expose", action=ap, default=[])
    a("--group-add", action=ap, default=[])
    a("--health-cmd", default=None)
    a("--health-interval", default=None)
    a("--health-retries", type=int, default=None)
    a("--health-start-period", default=None)
    a("--health-start-interval", default=None)
    a("--health-timeout", default=None)
    a("-h", "--hostname", default="")
    a("--init", action="store_true")
    a("-i", "--interactive", action="store_true")
    a("--ip", default="")
    a("--ip6", default="")
    a("--ipc", default="")
    a("--isolation", default="")
    a("-l", "--label", action=ap, default=[])
    a("--label-file", action=ap, default=[])
    a("--link", action=ap, default=[])
    a("--log-driver", default="")
    a("--log-opt", action=ap, default=[])
    a("--mac-address", default="")
    a("-m", "--memory", default="")
    a("--memory-reservation", default="")
    a("--memory-swap", default="")
    a("--memory-swappiness", type=int, default=-1)
    a("--mount", action=ap, default=[])
    a("--name", default="")
    a("--network", "--net", default="")
    a("--network-alias", "--net-alias", action=ap, default=[])
    a("--no-healthcheck", action="store_true")
    a("--oom-kill-disable", action="store_true")
    a("--oom-score-adj", type=int, default=0)
    a("--pid", default="")
    a("--pids-limit", type=int, default=None)
    a("--platform", default="")
    a("--privileged", action="store_true")
    a("-p", "--publish", action=ap, default=[])
    a("-P", "--publish-all", action="store_true")
    a("--pull", default="missing", choices=["missing", "always", "never"])
    a("-q", "--quiet", action="store_true")
    a("--read-only", action="store_true")
    a("--restart", default="")
    a("--rm", action="store_true")
    a("--runtime", default="")
    a("--security-opt", action=ap, default=[])
    a("--shm-size", default="")
    a("--stop-signal", default="")
    a("--stop-timeout", type=int, default=None)
    a("--storage-opt", action=ap, default=[])
    a("--sysctl", action=ap, default=[])
    a("--tmpfs", action=ap, default=[])
    a("-t", "--tty", action="store_true")
    a("--ulimit", action=ap, default=[])
    a("-u", "--user", default="")
    a("--userns", default="")
    a("--uts", default="")
    a("-v", "--volume", action=ap, default=[])
    a("--volume-driver", default="")
    a("--volumes-from", action=ap, default=[])
    a("-w", "--workdir", default="")
    a("image")
    a("command", nargs=argparse.REMAINDER)


def _kv_list(values: list[str], files: list[str], what: str) -> list[str]:
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
        ctr_ports = _port_range(ctr, spec)
        if not ctr_ports:
            raise UsageError(f"no port specified: {spec}<empty>")
        host_ports: list[str] = [str(x) for x in _port_range(host_port, spec)] if host_port else []
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


def _port_range(s: str, spec: str) -> list[int]:
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


def _restart(value: str) -> dict[str, Any]:
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


def _ulimit(value: str) -> dict[str, Any]:
    name, eq, limits = value.partition("=")
    if not eq:
        raise UsageError(f"invalid ulimit argument: {value}")
    soft, _, hard = limits.partition(":")
    try:
        return {"Name": name, "Soft": int(soft), "Hard": int(hard or soft)}
    except ValueError:
        raise UsageError(f"invalid ulimit argument: {value}") from None


def _device(value: str) -> dict[str, str]:
    parts = value.split(":")
    host = parts[0]
    ctr = parts[1] if len(parts) > 1 and not set(parts[1]) <= set("rwm") else host
    perms = parts[-1] if len(parts) > 1 and set(parts[-1]) <= set("rwm") else "rwm"
    return {"PathOnHost": host, "PathInContainer": ctr, "CgroupPermissions": perms}


def _security_opts(values: list[str]) -> list[str]:
    out = []
    for v in values:
        key, sep, val = v.partition("=")
        if not sep:
            key, sep, val = v.partition(":")
        if key == "seccomp" and val not in ("unconfined", "builtin", ""):
            try:
                with open(val, encoding="utf-8") as f:
                    import json

                    profile = json.load(f)
            except (OSError, ValueError) as exc:
                raise UsageError(f"opening seccomp profile ({val}) failed: {exc}") from None
            out.append("seccomp=" + json.dumps(profile, separators=(",", ":")))
        else:
            out.append(v if sep else v)
    return out


def build_create_body(o: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """-> (the create body, the container name)."""
    if o.rm and o.restart and o.restart not in ("no",):
        raise UsageError("conflicting options: cannot specify both --restart and --rm")
    if o.no_healthcheck and any(
        x is not None
        for x in (o.health_cmd, o.health_interval, o.health_timeout, o.health_retries, o.health_start_period)
    ):
        raise UsageError("--no-healthcheck conflicts with --health-* options")
    if o.health_retries is not None and o.health_retries < 0:
        raise UsageError("--health-retries cannot be negative")
    attach = [x.lower() for x in o.attach]
    detach = getattr(o, "detach", False)
    if detach and attach:
        sys.stderr.write("conflicting options: cannot specify both --attach and --detach\n")
        raise Exit(1)  # docker's code for this one
    if not attach and not detach:
        attach = ["stdout", "stderr"] + (["stdin"] if o.interactive else [])
    env = _kv_list(o.env, o.env_file, "env")
    labels: dict[str, str] = {}
    for item in _kv_list(o.label, o.label_file, "label"):
        k, _, v = item.partition("=")
        labels[k] = v
    exposed, bindings = parse_ports(o.publish)
    for e in o.expose:
        port, _, proto = e.partition("/")
        for n in _port_range(port, e):
            exposed[f"{n}/{proto or 'tcp'}"] = {}
    volumes: dict[str, dict[str, Any]] = {}
    binds: list[str] = []
    for v in o.volume:
        if ":" in v and not v.startswith(":"):
            binds.append(v)
        else:
            volumes[v] = {}
    health: dict[str, Any] | None = None
    if o.no_healthcheck:
        health = {"Test": ["NONE"]}
    elif any(
        x is not None
        for x in (o.health_cmd, o.health_interval, o.health_timeout, o.health_retries, o.health_start_period)
    ):
        health = {}
        if o.health_cmd is not None:
            health["Test"] = ["CMD-SHELL", o.health_cmd] if o.health_cmd else []
        for key, val in (
            ("Interval", o.health_interval),
            ("Timeout", o.health_timeout),
            ("StartPeriod", o.health_start_period),
            ("StartInterval", o.health_start_interval),
        ):
            if val is not None:
                ns = parse_duration(val)
                if ns < 0:
                    raise UsageError(f"--health-{key.lower()} cannot be negative")
                health[key] = ns
        if o.health_retries is not None:
            health["Retries"] = o.health_retries
    sysctls: dict[str, str] = {}
    for s in o.sysctl:
        k, eq, v = s.partition("=")
        if not eq:
            raise UsageError(f'invalid argument "{s}" for "--sysctl" flag: sysctl \'{s}\' is not allowed')
        sysctls[k] = v
    tmpfs: dict[str, str] = {}
    for t in o.tmpfs:
        path, _, opts = t.partition(":")
        tmpfs[path] = opts
    log_opts: dict[str, str] = {}
    for lo in o.log_opt:
        k, eq, v = lo.partition("=")
        if not eq:
            raise UsageError(f"invalid key value pair format in logging opts: {lo}")
        log_opts[k] = v
    nano_cpus = 0
    if o.cpus:
        try:
            nano_cpus = int(round(float(o.cpus) * 1e9))
        except ValueError:
            raise UsageError(
                f'invalid argument "{o.cpus}" for "--cpus" flag:'
                f" failed to parse {o.cpus} as a rational number"
            ) from None
    memory = parse_bytes(o.memory) if o.memory else 0
    swap = -1 if o.memory_swap == "-1" else (parse_bytes(o.memory_swap) if o.memory_swap else 0)
    if o.memory and memory < 6 * 1024 * 1024:
        raise UsageError("Minimum memory limit allowed is 6MB")
    net = o.network or "default"
    endpoint: dict[str, Any] = {}
    if o.ip or o.ip6:
        endpoint["IPAMConfig"] = {k: v for k, v in (("IPv4Address", o.ip), ("IPv6Address", o.ip6)) if v}
    if o.network_alias:
        endpoint["Aliases"] = list(o.network_alias)
    if o.mac_address:
        endpoint["MacAddress"] = o.mac_address
    cmd = list(o.command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    config: dict[str, Any] = {
        "Hostname": o.hostname,
        "Domainname": o.domainname,
        "User": o.user,
        "AttachStdin": "stdin" in attach,
        "AttachStdout": "stdout" in attach,
        "AttachStderr": "stderr" in attach,
        "Tty": o.tty,
        "OpenStdin": o.interactive,
        "StdinOnce": o.interactive and "stdin" in attach,
        "Env": env,
        "Cmd": cmd or None,
        "Image": o.image,
        "Volumes": volumes or None,
        "WorkingDir": o.workdir,
        "Entrypoint": [o.entrypoint] if o.entrypoint is not None else None,
        "Labels": labels,
    }
    if exposed:
        config["ExposedPorts"] = exposed
    if health is not None:
        config["Healthcheck"] = health
    if o.stop_signal:
        config["StopSignal"] = o.stop_signal
    if o.stop_timeout is not None:
        config["StopTimeout"] = o.stop_timeout
    if o.mac_address:
        config["MacAddress"] = o.mac_address
    host: dict[str, Any] = {
        "Binds": binds or None,
        "ContainerIDFile": o.cidfile,
        "LogConfig": {"Type": o.log_driver, "Config": log_opts},
        "NetworkMode": net,
        "PortBindings": bindings,
        "RestartPolicy": _restart(o.restart) if o.restart else {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": o.rm,
        "VolumeDriver": o.volume_driver,
        "VolumesFrom": o.volumes_from or None,
        "CapAdd": o.cap_add or None,
        "CapDrop": o.cap_drop or None,
        "CgroupnsMode": o.cgroupns,
        "Dns": o.dns,
        "DnsOptions": o.dns_option,
        "DnsSearch": o.dns_search,
        "ExtraHosts": o.add_host or None,
        "GroupAdd": o.group_add or None,
        "IpcMode": o.ipc,
        "Links": o.link or None,
        "OomScoreAdj": o.oom_score_adj,
        "PidMode": o.pid,
        "Privileged": o.privileged,
        "PublishAllPorts": o.publish_all,
        "ReadonlyRootfs": o.read_only,
        "SecurityOpt": _security_opts(o.security_opt) or None,
        "Tmpfs": tmpfs or None,
        "UTSMode": o.uts,
        "UsernsMode": o.userns,
        "ShmSize": parse_bytes(o.shm_size) if o.shm_size else 0,
        "Sysctls": sysctls or None,
        "Runtime": o.runtime,
        "Isolation": o.isolation,
        "CpuShares": o.cpu_shares,
        "Memory": memory,
        "NanoCpus": nano_cpus,
        "CgroupParent": o.cgroup_parent,
        "CpuPeriod": o.cpu_period,
        "CpuQuota": o.cpu_quota,
        "CpusetCpus": o.cpuset_cpus,
        "CpusetMems": o.cpuset_mems,
        "Devices": [_device(d) for d in o.device],
        "MemoryReservation": parse_bytes(o.memory_reservation) if o.memory_reservation else 0,
        "MemorySwap": swap,
        "MemorySwappiness": None if o.memory_swappiness == -1 else o.memory_swappiness,
        "OomKillDisable": o.oom_kill_disable,
        "PidsLimit": o.pids_limit,
        "Ulimits": [_ulimit(u) for u in o.ulimit] or None,
        "Mounts": [parse_mount(m) for m in o.mount] or None,
        "Init": True if o.init else None,
    }
    body: dict[str, Any] = dict(config)
    body["HostConfig"] = host
    body["NetworkingConfig"] = {"EndpointsConfig": {net: endpoint} if endpoint else {}}
    return body, o.name
