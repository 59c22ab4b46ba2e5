"""Linux capability names in capability(7)'s order (their numbers are their indexes here);
CAP_CHECKPOINT_RESTORE (40) is the newest this code knows."""

NAMES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip


def current(status: str = "/proc/self/status") -> tuple[str, ...]:
    """The capabilities this process can hand on: those of its bounding set that it also holds
    (CapBnd & CapEff). What ``--privileged`` and ``--cap-add ALL`` grant, as dockerd grants the
    capabilities of its own environment; a name it lacks (CAP_SYS_RESOURCE in a restricted
    sandbox) is known but "not available in the current environment"."""
    masks = {}
    try:
        with open(status) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("CapBnd", "CapEff"):
                    masks[key] = int(value.strip(), 16)
    except (OSError, ValueError):
        return NAMES
    if len(masks) != 2:
        return NAMES
    held = masks["CapBnd"] & masks["CapEff"]
    return tuple(name for n, name in enumerate(NAMES) if held >> n & 1)
