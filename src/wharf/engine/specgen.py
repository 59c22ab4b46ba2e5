"""Docker's container Config/HostConfig + the image's config → an OCI runtime spec.

What Docker puts in a spec (moby's daemon/oci_linux.go and oci/defaults.go are the reference):
the default capability set in bounding/effective/permitted, its default seccomp profile filtered
by those capabilities, the default mounts (/proc, /dev, /dev/pts, /dev/shm sized by ShmSize,
/dev/mqueue, /sys ro, /sys/fs/cgroup ro) and the container's /etc/{resolv.conf,hostname,hosts},
masked and read-only paths, a device cgroup that denies everything but the standard devices,
and one namespace per isolation mode. ``--privileged`` undoes most of that.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from typing import Any

from wharf.base import caps, units
from wharf.base.idmap import IdMap
from wharf.engine import resources as resources_mod
from wharf.engine import seccomp_profile
from wharf.engine.request import ContainerConfig, HostConfig
from wharf.errors import InvalidArgument
from wharf.runtime.securejoin import read_in_root

INIT_PATH = "/sbin/docker-init"  # where --init's binary is mounted, as in Docker
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
# the device cgroup rules Docker allows on top of "deny all"
RLIMITS = {
    "core": "RLIMIT_CORE",
    "cpu": "RLIMIT_CPU",
    "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS",
    "memlock": "RLIMIT_MEMLOCK",
    "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE",
    "nofile": "RLIMIT_NOFILE",
    "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS",
    "rtprio": "RLIMIT_RTPRIO",
    "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING",
    "stack": "RLIMIT_STACK",
}


@dataclass(frozen=True)
class ContainerFiles:
    hosts: str
    resolv_conf: str
    hostname: str

    @classmethod
    def under(cls, directory: str) -> ContainerFiles:
        """The files the engine keeps in a container's directory."""
        return cls(f"{directory}/hosts", f"{directory}/resolv.conf", f"{directory}/hostname")

    def binds(self) -> list[tuple[str, str]]:
        """(destination in the container, file on the host), as bind-mounted at start."""
        return [
            ("/etc/resolv.conf", self.resolv_conf),
            ("/etc/hostname", self.hostname),
            ("/etc/hosts", self.hosts),
        ]


def command(config: ContainerConfig, image_config: dict[str, Any]) -> list[str]:
    """Entrypoint + Cmd as Docker merges them (moby's merge()): with no Entrypoint of its own the
    container takes the image's Entrypoint, and the image's Cmd when it has no Cmd either; an
    Entrypoint of its own drops the image's Cmd. ``[""]`` (``--entrypoint ""``) means none."""
    entrypoint = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if isinstance(entrypoint, str):
        entrypoint = [entrypoint]
    if isinstance(cmd, str):
        cmd = [cmd]
    if entrypoint == [""]:
        entrypoint = []
    if not entrypoint:
        if not cmd:
            cmd = image_config.get("Cmd") or []
        if entrypoint is None:
            entrypoint = image_config.get("Entrypoint") or []
    argv = [*(entrypoint or []), *(cmd or [])]
    if not argv:
        raise InvalidArgument("No command specified")
    return argv


def merge_env(image_env: list[str], env: list[str]) -> list[str]:
    out = list(image_env)
    index = {e.split("=", 1)[0]: i for i, e in enumerate(out)}
    for e in env:
        k = e.split("=", 1)[0]
        if k in index:
            out[index[k]] = e
        else:
            index[k] = len(out)
            out.append(e)
    return out


def _read_db(rootfs: str, name: str) -> list[list[str]]:
    """Lines of the container's /etc/passwd or /etc/group, resolved and read inside the rootfs
    (a symlink to a host file resolves in the container; a FIFO there is no file, so a live
    container cannot make the daemon read a host file or block in open(2))."""
    raw = read_in_root(rootfs, f"/etc/{name}", 4 << 20)
    if raw is None:
        return []
    data = raw.decode("utf-8", "replace")
    return [line.split(":") for line in data.splitlines() if line and not line.startswith("#")]


def resolve_user(rootfs: str, user: str, group_add: list[str] | None = None) -> tuple[int, int, list[int]]:
    """uid, gid and supplementary gids for Docker's ``user[:group]`` (names or numbers)."""
    user = user or ""
    name, _, group = user.partition(":")
    passwd = _read_db(rootfs, "passwd")
    groups = _read_db(rootfs, "group")
    uid = 0
    gid = 0
    username = ""
    if not name:
        name = "0"
    entry = next((p for p in passwd if len(p) >= 4 and (p[0] == name or p[2] == name)), None)
    if entry is not None:
        uid, gid, username = int(entry[2]), int(entry[3]), entry[0]
    elif name.isdigit():
        uid = int(name)
    else:
        raise InvalidArgument(f"unable to find user {name}: no matching entries in passwd file")
    if group:
        g = next((x for x in groups if len(x) >= 3 and (x[0] == group or x[2] == group)), None)
        if g is not None:
            gid = int(g[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise InvalidArgument(f"unable to find group {group}: no matching entries in group file")
    extra: list[int] = []
    if username:
        for g in groups:
            if len(g) >= 4 and username in g[3].split(",") and int(g[2]) != gid:
                extra.append(int(g[2]))
    for add in group_add or []:
        g = next((x for x in groups if len(x) >= 3 and (x[0] == add or x[2] == add)), None)
        if g is not None:
            extra.append(int(g[2]))
        elif add.isdigit():
            extra.append(int(add))
        else:
            raise InvalidArgument(f"Unable to find group {add}: no matching entries in group file")
    return uid, gid, sorted(set(extra))


def all_caps() -> list[str]:
    """What ``--privileged`` and ``--cap-add ALL`` grant: every capability the daemon itself can
    hand on (its own bounding set), as dockerd grants those of its environment."""
    return list(_available())


@functools.cache
def _available() -> tuple[str, ...]:
    return caps.current()


def normalize_caps(names: list[str], field_name: str) -> list[str]:
    """CapAdd/CapDrop as dockerd reads them: upper-cased, ``CAP_`` prefixed unless already,
    ``ALL`` (any case) kept as it is; a name the kernel does not have is unknown, one this
    daemon does not hold is not available (``field_name`` is the field, in dockerd's words)."""
    out = []
    available = _available()
    for raw in names:
        c = str(raw).upper()
        if c == "ALL":
            out.append(c)
            continue
        if not c.startswith("CAP_"):
            c = f"CAP_{c}"
        if c not in caps.NAMES:
            raise InvalidArgument(f"invalid {field_name}: unknown capability: {json.dumps(c)}")
        if c not in available:
            raise InvalidArgument(
                f"invalid {field_name}: capability not supported by your kernel or not available "
                f"in the current environment: {json.dumps(c)}"
            )
        out.append(c)
    return out


def capabilities(host_config: HostConfig) -> list[str]:
    """The container's capability set (moby's TweakCapabilities): the daemon's own for
    --privileged; ALL added: all but those dropped; ALL dropped: only those added; else the
    defaults less the dropped plus the added."""
    adds_raw = list(host_config.get("CapAdd") or [])
    drops_raw = list(host_config.get("CapDrop") or [])
    adds = normalize_caps(adds_raw, "CapAdd")
    drops = normalize_caps(drops_raw, "CapDrop")
    if host_config.get("Privileged"):
        return all_caps()
    if "ALL" in adds:
        return [c for c in all_caps() if c not in drops]
    if "ALL" in drops:
        picked = [c for c in adds if c != "ALL"]
    else:
        picked = [c for c in DEFAULT_CAPS if c not in drops] + adds
    return list(dict.fromkeys(picked))


def _tmpfs_mount(dest: str, opts: str) -> dict[str, Any]:
    options = ["noexec", "nosuid", "nodev"]
    for o in (x.strip() for x in opts.split(",") if x.strip()):
        flag = o.split("=")[0]
        opposite = {"exec": "noexec", "suid": "nosuid", "dev": "nodev"}.get(flag)
        if opposite in options:
            options.remove(opposite)
        options.append(o)
    return {"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options}


def _mounts(
    host_config: HostConfig,
    files: ContainerFiles,
    host_net: bool,
    privileged: bool,
    extra: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    shm = int(host_config.get("ShmSize") or 64 * 1024 * 1024)
    ro_sys = "rw" if privileged else "ro"
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", ro_sys],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", ro_sys],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm}"],
        },
    ]
    for dest, src in files.binds():
        mounts.append({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "rprivate"]})
    tmpfs = host_config.get("Tmpfs") or {}
    for dest in sorted(tmpfs):
        if not dest.startswith("/"):
            raise InvalidArgument(f"invalid mount path: '{dest}' mount path must be absolute")
        mounts = [m for m in mounts if m["destination"] != dest]
        mounts.append(_tmpfs_mount(dest, tmpfs[dest] or ""))
    for m in extra or []:  # binds, volumes, --mount tmpfs: in place of a default at the same path
        mounts = [x for x in mounts if x["destination"] != m["destination"]]
        mounts.append(m)
    return mounts


def security(hc: HostConfig, nnp_default: bool = False) -> tuple[bool, str | None]:
    """(no_new_privileges, the seccomp= value: None when not given) from SecurityOpt, read as
    dockerd reads it; ``nnp_default`` is the daemon's "no-new-privileges"."""
    nnp = nnp_default
    seccomp: str | None = None
    for opt in hc.get("SecurityOpt") or []:
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":  # label=disable's short form; no SELinux here
            continue
        sep = "=" if "=" in opt else ":" if ":" in opt else ""
        if not sep:
            raise InvalidArgument(f"invalid --security-opt 1: {json.dumps(opt)}")
        key, _, value = opt.partition(sep)
        if key == "seccomp":
            seccomp = value or None
        elif key == "no-new-privileges":
            parsed = units.parse_bool(value)
            if parsed is None:
                raise InvalidArgument(f"invalid --security-opt 2: {json.dumps(opt)}")
            nnp = parsed
        elif key not in ("apparmor", "label"):  # no such LSM here: taken and ignored, as dockerd
            raise InvalidArgument(f"invalid --security-opt 2: {json.dumps(opt)}")
    return nnp, seccomp


def security_options(hc: HostConfig) -> None:
    """Refuse a SecurityOpt that dockerd would refuse at create."""
    security(hc)


def _namespaces(hc: HostConfig, netns: str | None, join: dict[str, str] | None) -> list[dict[str, Any]]:
    join = dict(join or {})
    out: list[dict[str, Any]] = [{"type": "mount"}]
    modes = {"pid": hc.get("PidMode") or "", "ipc": hc.get("IpcMode") or "", "uts": hc.get("UTSMode") or ""}
    for kind, mode in modes.items():
        if mode == "host":
            continue
        if kind in join:
            out.append({"type": kind, "path": join[kind]})
        elif mode.startswith("container:") and kind not in join:
            raise InvalidArgument(f"{kind} namespace of another container needs that container running")
        else:
            out.append({"type": kind})
    net_mode = hc.get("NetworkMode") or "bridge"
    if netns:
        out.append({"type": "network", "path": netns})
    elif net_mode != "host":
        out.append({"type": "network"})
    if (hc.get("CgroupnsMode") or "") == "private":
        out.append({"type": "cgroup"})
    return out


def generate(
    cid: str,
    config: ContainerConfig,
    host_config: HostConfig,
    image_config: dict[str, Any],
    rootfs: str,
    files: ContainerFiles,
    netns: str | None = None,
    cgroup_parent: str = "/wharf",
    join: dict[str, str] | None = None,
    extra_mounts: list[dict[str, Any]] | None = None,
    init: str = "",
    extra_env: list[str] | None = None,
    userns: IdMap | str | None = None,
    no_new_privileges: bool | None = None,
    daemon_seccomp: str = seccomp_profile.BUILTIN,
) -> dict[str, Any]:
    """The OCI spec; ``init``: an init binary (tini) to run as PID 1 in front of the command
    (--init), bind-mounted read-only at /sbin/docker-init as Docker does. ``userns``: the
    daemon's remap (a new user namespace with its maps) or the path of one to join (the user
    namespace of the container whose network namespace this one shares, as dockerd joins it).
    ``no_new_privileges``: as recorded at create (None: from SecurityOpt alone);
    ``daemon_seccomp``: the daemon's profile for containers that name none (BUILTIN,
    "unconfined" or a profile's JSON text)."""
    hc = host_config
    privileged = bool(hc.get("Privileged"))
    host_net = (hc.get("NetworkMode") or "") == "host"
    hostname = config.get("Hostname") or cid[:12]
    caps = capabilities(hc)
    nnp, seccomp_opt = security(hc)
    process = _process(config, hc, image_config, rootfs, hostname, caps, extra_env or [])
    # the record's value (the daemon's default and the container's word, at create); a record
    # older than that field has only its SecurityOpt
    process["noNewPrivileges"] = nnp if no_new_privileges is None else nnp or no_new_privileges
    mounts = _mounts(hc, files, host_net, privileged, extra_mounts or [])
    if init:
        process["args"] = [INIT_PATH, "--", *process["args"]]
        mounts.append({"destination": INIT_PATH, "type": "bind", "source": init, "options": ["rbind", "ro"]})
    linux = _linux(cid, hc, netns, join, cgroup_parent, privileged, host_net)
    if isinstance(userns, IdMap):
        linux["namespaces"].insert(0, {"type": "user"})
        linux["uidMappings"], linux["gidMappings"] = userns.oci()
    elif userns:
        linux["namespaces"].insert(0, {"type": "user", "path": userns})
    seccomp = seccomp_profile.for_container(seccomp_opt, daemon_seccomp, privileged, caps)
    if seccomp is not None:
        linux["seccomp"] = seccomp
    spec: dict[str, Any] = {
        "ociVersion": "1.1.0",
        "process": process,
        "root": {"path": rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))},
        "hostname": hostname,
        "mounts": mounts,
        "linux": linux,
    }
    if host_net or (hc.get("UTSMode") == "host"):
        spec.pop("hostname")
    if config.get("Domainname"):
        spec["domainname"] = config["Domainname"]
    return spec


def _process(
    config: ContainerConfig,
    hc: HostConfig,
    image_config: dict[str, Any],
    rootfs: str,
    hostname: str,
    caps: list[str],
    extra_env: list[str],
) -> dict[str, Any]:
    """The spec's ``process``: command, environment (PATH, HOSTNAME, TERM as Docker adds them),
    user, working directory, capabilities, OOM score and rlimits."""
    env = merge_env(image_config.get("Env") or [], [*extra_env, *(config.get("Env") or [])])
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, f"PATH={DEFAULT_PATH}")
    if not any(e.startswith("HOSTNAME=") for e in env):
        env.insert(1, f"HOSTNAME={hostname}")
    if config.get("Tty") and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    uid, gid, extra = resolve_user(
        rootfs, config.get("User") or image_config.get("User") or "", hc.get("GroupAdd")
    )
    cwd = config.get("WorkingDir") or image_config.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise InvalidArgument(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
    process: dict[str, Any] = {
        "terminal": bool(config.get("Tty")),
        "user": {"uid": uid, "gid": gid, **({"additionalGids": extra} if extra else {})},
        "args": command(config, image_config),
        "env": env,
        "cwd": cwd,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
    }
    if adj := hc.get("OomScoreAdj"):
        if not -1000 <= adj <= 1000:
            raise InvalidArgument(f"Invalid value {adj}, range for oom score adj is [-1000, 1000]")
        process["oomScoreAdj"] = adj
    rlimits = _rlimits(hc)
    if rlimits:
        process["rlimits"] = rlimits
    return process


def _rlimits(hc: HostConfig) -> list[dict[str, Any]]:
    out = []
    for u in hc.get("Ulimits") or []:
        name = u.get("Name", "")
        if name not in RLIMITS:
            raise InvalidArgument(f"invalid ulimit type: {name}")
        soft, hard = int(u.get("Soft") or 0), int(u.get("Hard") or 0)
        if soft > hard:
            raise InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )
        out.append({"type": RLIMITS[name], "soft": soft, "hard": hard})
    return out


def _linux(
    cid: str,
    hc: HostConfig,
    netns: str | None,
    join: dict[str, str] | None,
    cgroup_parent: str,
    privileged: bool,
    host_net: bool,
) -> dict[str, Any]:
    """The spec's ``linux``: resources and devices, cgroup path, namespaces, masked paths, sysctls."""
    resources = resources_mod.resources(hc)
    devices, dev_rules = resources_mod.devices(hc)
    if privileged:
        devices = resources_mod.host_devices() + devices
        resources["devices"] = [{"allow": True, "access": "rwm"}]
    else:
        resources["devices"] = copy.deepcopy(resources_mod.DEFAULT_DEVICE_RULES) + dev_rules
    linux: dict[str, Any] = {
        "resources": resources,
        "cgroupsPath": f"{cgroup_parent.rstrip('/')}/{cid}",
        "namespaces": _namespaces(hc, netns, join),
        "maskedPaths": [] if privileged else list(MASKED_PATHS),
        "readonlyPaths": [] if privileged else list(READONLY_PATHS),
    }
    if devices:
        linux["devices"] = devices
    sysctls = dict(hc.get("Sysctls") or {})
    for key in sysctls:
        if host_net and key.startswith("net."):
            raise InvalidArgument(f"sysctl '{key}' not allowed in host network namespace")
    if sysctls:
        linux["sysctl"] = sysctls
    return linux
