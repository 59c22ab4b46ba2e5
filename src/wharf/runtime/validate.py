"""What `create` refuses before it makes anything: the runtime spec's MUSTs the schema cannot
see, checked as runc's libcontainer/configs/validate checks them, with runc's words after the
field's path.

    linux.sysctl: sysctl "vm.swappiness" is not in a separate kernel namespace
    process.rlimits[0].type: wrong rlimit value: RLIMIT_FOO

A namespace path of the wrong type is refused where it is opened (``namespaces.plan``); what
only the container's init can know (the capabilities it holds, its user namespace's id maps)
the init checks before it reports ``ready``. Capability names the runtime cannot map are a
warning, not an error: the runtime spec (1.1) says such values MUST be logged as a warning and
the runtime SHOULD NOT fail, and runc ignores them with the same warning.
"""

from __future__ import annotations

import os

from wharf.errors import InvalidArgument
from wharf.runtime import capabilities, log
from wharf.runtime import syscalls as s

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharf.runtime.namespaces import Plan

RLIMITS = {
    "RLIMIT_CPU": 0,
    "RLIMIT_FSIZE": 1,
    "RLIMIT_DATA": 2,
    "RLIMIT_STACK": 3,
    "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6,
    "RLIMIT_NOFILE": 7,
    "RLIMIT_MEMLOCK": 8,
    "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11,
    "RLIMIT_MSGQUEUE": 12,
    "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14,
    "RLIMIT_RTTIME": 15,
}
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}

# sysctls of the ipc namespace (besides fs.mqueue.*), as the kernel namespaces them
_IPC_SYSCTLS = (
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
)


def check(spec: dict[str, Any], plan: Plan) -> None:
    """Raise InvalidArgument for the first value the runtime must refuse; warn of ignored ones."""
    process = spec["process"]
    linux = spec.get("linux") or {}
    check_rlimits(process)
    warn_unknown_capabilities(process)
    for key in ("hostname", "domainname"):
        if spec.get(key) and "uts" not in plan.types:
            raise InvalidArgument(f"{key}: unable to set {key} without a private UTS namespace")
    if (linux.get("maskedPaths") or linux.get("readonlyPaths")) and "mount" not in plan.types:
        raise InvalidArgument(
            "linux.maskedPaths: unable to restrict sys entries without a private MNT namespace"
        )
    _check_sysctls(linux.get("sysctl") or {}, plan)
    pers = linux.get("personality")
    if pers and pers["domain"] not in PERSONALITY_DOMAINS:
        raise InvalidArgument(f"linux.personality.domain: unknown domain {pers['domain']!r}")
    if linux.get("seccomp"):
        from wharf.runtime import seccomp

        seccomp.validate(linux["seccomp"])


def check_rlimits(process: dict[str, Any]) -> None:
    for i, rl in enumerate(process.get("rlimits") or ()):
        if rl["type"] not in RLIMITS:
            raise InvalidArgument(f"process.rlimits[{i}].type: wrong rlimit value: {rl['type']}")
        if rl["soft"] & s.RLIM_INFINITY > rl["hard"] & s.RLIM_INFINITY:
            raise InvalidArgument(
                f"process.rlimits[{i}]: {rl['type']}: soft limit {rl['soft']} is above"
                f" hard limit {rl['hard']}"
            )


def warn_unknown_capabilities(process: dict[str, Any]) -> None:
    unknown = capabilities.CapSets(process.get("capabilities")).unknown
    if unknown:
        log.warning(f"ignoring unknown or unavailable capabilities: [{' '.join(sorted(set(unknown)))}]")


def _dotted(name: str) -> str:
    """sysctl(8) also takes "/" as the separator: net/ipv4/conf/eth0.100/x is net.ipv4.conf.eth0/100.x."""
    first = next((c for c in name if c in "./"), ".")
    return name if first == "." else name.translate(str.maketrans("./", "/."))


def _check_sysctls(sysctls: dict[str, str], plan: Plan) -> None:
    """/proc/sys is namespaced in parts only: a sysctl outside the namespaces the container has of
    its own would be written on the host."""
    host_net: bool | None = None
    for raw in sysctls:
        key = _dotted(raw)
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if "ipc" not in plan.types:
                raise InvalidArgument(
                    f'linux.sysctl: sysctl "{key}" is not allowed in the hosts ipc namespace'
                )
            continue
        if key.startswith("net."):
            if host_net is None:
                host_net = _is_host_netns(plan)
            if host_net:
                raise InvalidArgument(f'linux.sysctl: sysctl "{key}" not allowed in host network namespace')
            continue
        if "uts" in plan.types and key in ("kernel.domainname", "kernel.hostname"):
            if key == "kernel.hostname":
                raise InvalidArgument(
                    'linux.sysctl: sysctl "kernel.hostname" is not allowed as it conflicts with the OCI'
                    ' "hostname" field'
                )
            continue
        if key.startswith("user."):
            if "user" not in plan.types:
                raise InvalidArgument(
                    f"linux.sysctl: setting ucounts without a user namespace not allowed: {key}"
                )
            continue
        raise InvalidArgument(f'linux.sysctl: sysctl "{key}" is not in a separate kernel namespace')


def _is_host_netns(plan: Plan) -> bool:
    """True when the container would be in the runtime's own network namespace."""
    if "network" not in plan.types:
        return True
    fd = next((fd for kind, fd in plan.join if kind == "network"), -1)
    if fd < 0:
        return False  # a new one
    mine, theirs = os.stat("/proc/self/ns/net"), os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)
