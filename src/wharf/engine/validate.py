"""What dockerd refuses in a container's configuration (400, Docker's words), checked before
anything is made so a bad request leaves nothing behind. Types are the API edge's concern
(``api/bodies.py``); these are the rules on values of the right type."""

from __future__ import annotations

import os

from wharf.base.signals import signal_number
from wharf.engine.request import ContainerConfig, HostConfig
from wharf.engine.resources import MIN_MEMORY
from wharf.errors import InvalidArgument, Unsupported
from wharf.network import ports

RESTART_POLICIES = ("no", "always", "on-failure", "unless-stopped")


def restart_policy(hc: HostConfig) -> None:
    policy = hc.get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    if name not in RESTART_POLICIES:
        raise InvalidArgument(f"invalid restart policy: unknown policy '{name}'")
    if name != "on-failure" and policy.get("MaximumRetryCount"):
        raise InvalidArgument(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if (policy.get("MaximumRetryCount") or 0) < 0:
        raise InvalidArgument("invalid restart policy: maximum retry count cannot be negative")
    if hc.get("AutoRemove") and name != "no":
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")


def memory(hc: HostConfig) -> None:
    mem = int(hc.get("Memory") or 0)
    if mem and mem < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    swap = int(hc.get("MemorySwap") or 0)
    if mem and swap > 0 and swap < mem:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    reservation = int(hc.get("MemoryReservation") or 0)
    if reservation < 0:
        raise InvalidArgument(f"invalid memory reservation {reservation}: it cannot be negative")
    if 0 < reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if mem > 0 and reservation > 0 and mem < reservation:
        raise InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1 and not 0 <= swappiness <= 100:
        raise InvalidArgument(f"Invalid value: {swappiness}, valid memory swappiness range is 0-100")


def cpus(hc: HostConfig) -> None:
    nano = int(hc.get("NanoCpus") or 0)
    ncpu = os.cpu_count() or 1
    if nano and (hc.get("CpuPeriod") or hc.get("CpuQuota")):
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano < 0 or nano > ncpu * 10**9:
        raise InvalidArgument(
            f"Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )


MAX_CFS_QUOTA = (1 << 44) - 1  # the kernel's max_cfs_runtime, in microseconds
PIDS_MAX = 4194304  # the kernel's PID_MAX_LIMIT: pids.max takes no more


def cpu_limits(hc: HostConfig) -> None:
    """CFS period and quota, shares, cpusets and the pids limit, as dockerd checks them
    (verifyPlatformContainerResources), so nothing the kernel refuses reaches a cgroup."""
    period, quota, shares = hc.get("CpuPeriod") or 0, hc.get("CpuQuota") or 0, hc.get("CpuShares") or 0
    if period and not 1000 <= period <= 1_000_000:
        raise InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1 second (i.e. 1000000)"
        )
    if 0 < quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if quota > MAX_CFS_QUOTA:
        raise InvalidArgument(
            f"CPU cfs quota can not be more than the kernel's {MAX_CFS_QUOTA} microseconds"
        )
    if shares < 0:
        raise InvalidArgument(f"invalid CPU shares ({shares}): value must be a positive integer")
    _cpuset(hc.get("CpusetCpus") or "", "cpus", "CPUs", "/sys/devices/system/cpu/online")
    _cpuset(hc.get("CpusetMems") or "", "mems", "memory nodes", "/sys/devices/system/node/online")
    weight = hc.get("BlkioWeight") or 0
    if weight and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    pids = hc.get("PidsLimit") or 0
    if pids < -1:
        raise InvalidArgument("invalid PidsLimit: must be -1 (unlimited), 0 (default) or positive")
    if pids > PIDS_MAX:
        raise InvalidArgument(f"invalid PidsLimit {pids}: the kernel's maximum is {PIDS_MAX}")


def _cpuset(value: str, kind: str, what: str, online: str) -> None:
    if not value:
        return
    wanted = parse_cpuset(value)
    if wanted is None:
        raise InvalidArgument(f"Invalid value {value} for cpuset {kind}")
    try:
        with open(online) as f:
            available_text = f.read().strip()
    except OSError:
        return
    available = parse_cpuset(available_text) or set()
    if not wanted <= available:
        raise InvalidArgument(
            f"Requested {what} are not available - requested {value}, available: {available_text}"
        )


def parse_cpuset(text: str) -> set[int] | None:
    """The kernel's list format ("0-2,4"); None if it is not one."""
    out: set[int] = set()
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            return None
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first or last > 1 << 16:
            return None
        out.update(range(first, last + 1))
    return out


# the log drivers dockerd has built in; wharf writes json-file logs (none: nothing is read back)
LOG_DRIVERS = ("json-file", "none")
DOCKER_LOG_DRIVERS = ("local", "syslog", "journald", "gelf", "fluentd", "awslogs", "splunk", "etwlogs",
                      "gcplogs", "logentries")  # fmt: skip


def log_config(hc: HostConfig) -> None:
    driver = (hc.get("LogConfig") or {}).get("Type") or ""
    if not driver or driver in LOG_DRIVERS:
        return
    if driver in DOCKER_LOG_DRIVERS:
        raise Unsupported(f"the {driver} log driver is not available in wharf (json-file is)")
    raise InvalidArgument(f'error looking up logging plugin {driver}: plugin "{driver}" not found')


def runtime(cfg_runtimes: tuple[str, ...], hc: HostConfig) -> None:
    name = hc.get("Runtime") or ""
    if name and name not in cfg_runtimes:
        raise InvalidArgument(f"Unknown runtime specified {name}")


def healthcheck(config: ContainerConfig) -> None:
    hc_check = config.get("Healthcheck") or {}
    durations = (
        ("Interval", hc_check.get("Interval")),
        ("Timeout", hc_check.get("Timeout")),
        ("StartPeriod", hc_check.get("StartPeriod")),
        ("StartInterval", hc_check.get("StartInterval")),
    )
    for key, value in durations:
        if value and value < 1_000_000:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    if int(hc_check.get("Retries") or 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")


def create(config: ContainerConfig, hc: HostConfig) -> None:
    """Every rule a create must pass."""
    from wharf.engine import specgen

    if not config.get("Image"):
        raise InvalidArgument("config cannot be empty in order to create a container")
    restart_policy(hc)
    ports.check_bindings(hc)
    memory(hc)
    cpus(hc)
    cpu_limits(hc)
    specgen.capabilities(HostConfig(CapAdd=hc.get("CapAdd"), CapDrop=hc.get("CapDrop")))
    specgen.security_options(hc)
    if config.get("StopSignal") and signal_number(str(config["StopSignal"])) is None:
        raise InvalidArgument(f"Invalid signal: {config['StopSignal']}")
    healthcheck(config)
    log_config(hc)
    mode = str(hc.get("NetworkMode") or "default")
    if mode.startswith("container:") and config.get("Hostname"):
        raise InvalidArgument("conflicting options: hostname and the network mode")


def userns(remapped: bool, hc: HostConfig) -> None:
    """A daemon with userns-remap refuses what a container in its user namespace cannot have
    (dockerd's verifyPlatformContainerSettings, words and all); ``--userns=host`` opts out."""
    if not remapped or (hc.get("UsernsMode") or "") == "host":
        return
    if hc.get("Privileged"):
        raise InvalidArgument(
            "privileged mode is incompatible with user namespaces.  You must run the container in"
            " the host namespace when running privileged mode"
        )
    if (hc.get("NetworkMode") or "") == "host":
        raise InvalidArgument("cannot share the host's network namespace when user namespaces are enabled")
    if (hc.get("PidMode") or "") == "host":
        raise InvalidArgument("cannot share the host PID namespace when user namespaces are enabled")
