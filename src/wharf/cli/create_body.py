"""``run``/``create`` flags → the Engine API's create body (Docker's container.Config, with its
HostConfig and NetworkingConfig), as the docker CLI builds it: one function per concern, called in
the order the docker CLI checks the flags, so the first flag it cannot take is the usage error
(the caller exits 125).
"""

from __future__ import annotations

import argparse
from typing import Any

from wharf.cli.main import UsageError, die
from wharf.cli.options import (
    kv_list,
    parse_bytes,
    parse_device,
    parse_duration,
    parse_mount,
    parse_ports,
    parse_ulimit,
    port_range,
    restart_policy,
    security_opts,
)


def parse_cpus(value: str) -> int:
    """--cpus 1.5 in billionths of a CPU (0 when not given); Docker's usage error otherwise."""
    if not value:
        return 0
    try:
        return int(round(float(value) * 1e9))
    except (ValueError, OverflowError):
        raise UsageError(
            f'invalid argument "{value}" for "--cpus" flag: failed to parse {value} as a rational number'
        ) from None


def build_create_body(o: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """-> (the create body, the container name)."""
    _refuse_conflicts(o)
    attach = _attach_streams(o)
    env = kv_list(o.env, o.env_file, "env")
    labels = _labels(o.label, o.label_file)
    exposed, bindings = _ports(o)
    volumes, binds = _volumes(o.volume)
    health = _healthcheck(o)
    kernel = _kernel_options(o)
    log = _log_config(o.log_driver, o.log_opt)
    cpu_memory = _cpu_and_memory(o)
    net = o.network or "default"
    endpoint = _endpoint(o)
    body = _container_config(o, attach, env, labels)
    body["Volumes"] = volumes or None
    if exposed:
        body["ExposedPorts"] = exposed
    if health is not None:
        body["Healthcheck"] = health
    body["HostConfig"] = {
        "Binds": binds or None,
        "LogConfig": log,
        "NetworkMode": net,
        "PortBindings": bindings,
        **_host_options(o),
        **kernel,
        **cpu_memory,
        **_limits(o),
        "Mounts": [parse_mount(m) for m in o.mount] or None,
    }
    body["NetworkingConfig"] = {"EndpointsConfig": {net: endpoint} if endpoint else {}}
    return body, o.name


def _health_given(o: argparse.Namespace) -> bool:
    return any(
        x is not None
        for x in (o.health_cmd, o.health_interval, o.health_timeout, o.health_retries, o.health_start_period)
    )


def _refuse_conflicts(o: argparse.Namespace) -> None:
    if o.rm and o.restart and o.restart not in ("no",):
        raise UsageError("conflicting options: cannot specify both --restart and --rm")
    if o.no_healthcheck and _health_given(o):
        raise UsageError("--no-healthcheck conflicts with --health-* options")
    if o.health_retries is not None and o.health_retries < 0:
        raise UsageError("--health-retries cannot be negative")


def _attach_streams(o: argparse.Namespace) -> list[str]:
    """The streams the container's config attaches: ``-a`` as given, none with ``-d`` (run),
    else stdout and stderr, and stdin with ``-i``."""
    attach = [x.lower() for x in o.attach]
    detach = getattr(o, "detach", False)
    if detach and attach:
        die("conflicting options: cannot specify both --attach and --detach", 1)  # docker exits 1 here
    if not attach and not detach:
        attach = ["stdout", "stderr"] + (["stdin"] if o.interactive else [])
    return attach


def _labels(values: list[str], files: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in kv_list(values, files, "label"):
        k, _, v = item.partition("=")
        labels[k] = v
    return labels


def _container_config(o: argparse.Namespace, attach: list[str], env: list[str],
                      labels: dict[str, str]) -> dict[str, Any]:  # fmt: skip
    """The create body's own fields (Docker's container.Config), less volumes, ports, health."""
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
        "WorkingDir": o.workdir,
        "Entrypoint": [o.entrypoint] if o.entrypoint is not None else None,
        "Labels": labels,
    }
    if o.stop_signal:
        config["StopSignal"] = o.stop_signal
    if o.stop_timeout is not None:
        config["StopTimeout"] = o.stop_timeout
    if o.mac_address:
        config["MacAddress"] = o.mac_address
    return config


# ---------------------------------------------------------------- networking


def _ports(o: argparse.Namespace) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, str]]]]:
    """-p and --expose → (ExposedPorts, PortBindings)."""
    exposed, bindings = parse_ports(o.publish)
    for e in o.expose:
        port, _, proto = e.partition("/")
        for n in port_range(port, e):
            exposed[f"{n}/{proto or 'tcp'}"] = {}
    return exposed, bindings


def _endpoint(o: argparse.Namespace) -> dict[str, Any]:
    """The endpoint on the container's network: --ip/--ip6, --network-alias, --mac-address."""
    endpoint: dict[str, Any] = {}
    if o.ip or o.ip6:
        endpoint["IPAMConfig"] = {k: v for k, v in (("IPv4Address", o.ip), ("IPv6Address", o.ip6)) if v}
    if o.network_alias:
        endpoint["Aliases"] = list(o.network_alias)
    if o.mac_address:
        endpoint["MacAddress"] = o.mac_address
    return endpoint


# ---------------------------------------------------------------- storage, health, logs, kernel


def _volumes(specs: list[str]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """-v: ``src:dst[:opts]`` is a bind (HostConfig.Binds), a bare path an anonymous volume."""
    volumes: dict[str, dict[str, Any]] = {}
    binds: list[str] = []
    for v in specs:
        if ":" in v and not v.startswith(":"):
            binds.append(v)
        else:
            volumes[v] = {}
    return volumes, binds


def _healthcheck(o: argparse.Namespace) -> dict[str, Any] | None:
    """--health-* (durations in nanoseconds) or --no-healthcheck; None: the image's own."""
    if o.no_healthcheck:
        return {"Test": ["NONE"]}
    if not _health_given(o):
        return None
    health: dict[str, Any] = {}
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
    return health


def _kernel_options(o: argparse.Namespace) -> dict[str, Any]:
    """--sysctl and --tmpfs."""
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
    return {"Sysctls": sysctls or None, "Tmpfs": tmpfs or None}


def _log_config(driver: str, opts: list[str]) -> dict[str, Any]:
    config: dict[str, str] = {}
    for lo in opts:
        k, eq, v = lo.partition("=")
        if not eq:
            raise UsageError(f"invalid key value pair format in logging opts: {lo}")
        config[k] = v
    return {"Type": driver, "Config": config}


# ---------------------------------------------------------------- resources


def _cpu_and_memory(o: argparse.Namespace) -> dict[str, Any]:
    """--cpus (in billionths of a CPU), -m (6MB at least), --memory-swap (-1: unlimited)."""
    nano_cpus = parse_cpus(o.cpus)
    memory = parse_bytes(o.memory) if o.memory else 0
    swap = -1 if o.memory_swap == "-1" else (parse_bytes(o.memory_swap) if o.memory_swap else 0)
    if o.memory and memory < 6 * 1024 * 1024:
        raise UsageError("Minimum memory limit allowed is 6MB")
    return {
        "NanoCpus": nano_cpus,
        "CpuShares": o.cpu_shares,
        "CpuPeriod": o.cpu_period,
        "CpuQuota": o.cpu_quota,
        "CpusetCpus": o.cpuset_cpus,
        "CpusetMems": o.cpuset_mems,
        "Memory": memory,
        "MemorySwap": swap,
        "MemorySwappiness": None if o.memory_swappiness == -1 else o.memory_swappiness,
        "OomKillDisable": o.oom_kill_disable,
    }


def _limits(o: argparse.Namespace) -> dict[str, Any]:
    """The rest of the resources: /dev/shm, devices, the memory reservation, pids, ulimits."""
    return {
        "ShmSize": parse_bytes(o.shm_size) if o.shm_size else 0,
        "CgroupParent": o.cgroup_parent,
        "Devices": [parse_device(d) for d in o.device],
        "MemoryReservation": parse_bytes(o.memory_reservation) if o.memory_reservation else 0,
        "PidsLimit": o.pids_limit,
        "Ulimits": [parse_ulimit(u) for u in o.ulimit] or None,
    }


# ---------------------------------------------------------------- the rest of HostConfig


def _host_options(o: argparse.Namespace) -> dict[str, Any]:
    """HostConfig's plain flags: restart, namespaces, DNS, privileges, runtime."""
    return {
        "ContainerIDFile": o.cidfile,
        "RestartPolicy": restart_policy(o.restart) if o.restart else {"Name": "no", "MaximumRetryCount": 0},
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
        "SecurityOpt": security_opts(o.security_opt) or None,
        "UTSMode": o.uts,
        "UsernsMode": o.userns,
        "Runtime": o.runtime,
        "Isolation": o.isolation,
        "Init": True if o.init else None,
    }
