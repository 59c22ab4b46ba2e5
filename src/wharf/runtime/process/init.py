"""The container's init: runs inside the new namespaces, from fork to execve.

This code runs in a freshly forked child of a single-threaded process, so no lock can be held
by another thread; it uses only os, ctypes and small C modules. Every failure before the
process is handed over is sent to the runtime as one ``error`` message naming the field or
path, and the child exits 1; the runtime then removes what create made.

Order: check that the privilege drop can succeed (capabilities, user ids) → setsid → rootfs
(mounts, devices) → [runtime runs prestart/createRuntime hooks] → createContainer hooks →
pivot_root → cwd made → read-only root → hostname, sysctl → readonly then masked paths (runc's
order: sysctls are written before /proc/sys turns read-only) → console → check the executable →
rlimits (runc sets them at create too) → ``ready`` → bounding set, [seccomp], user,
capabilities, cwd, no_new_privs (runc's order, and like runc before the wait: while the daemon
attaches the network) → wait on the exec fifo (until `start`) → startContainer hooks →
[seccomp] → execve. Whatever can fail is checked or done before ``ready``, so it fails
`create`: after that nobody is left to report to but the container's own stderr.
"""

from __future__ import annotations

import os
import stat

from wharf.errors import FailedPrecondition, InvalidArgument, WharfError
from wharf.runtime import capabilities, hooks, rootfs, validate
from wharf.runtime import syscalls as s

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharf.runtime.namespaces import Plan
    from wharf.runtime.process.channel import Receiver, Sender


class InitContext:
    """What the runtime hands to init through fork: nothing here is serialised."""

    __slots__ = (
        "spec",
        "bundle",
        "rootfs",
        "plan",
        "fifo_fd",
        "console_fd",
        "no_pivot",
        "preserve_fds",
        "to_parent",
        "from_parent",
        "run_runtime_hooks",
        "state",
        "cgroup_view",
        "cgroup_v2",
    )

    def __init__(self, spec: dict[str, Any], bundle: str, root: str, plan: Plan) -> None:
        self.spec = spec
        self.bundle = bundle
        self.rootfs = root
        self.plan = plan
        self.fifo_fd = -1
        self.console_fd = -1
        self.no_pivot = False
        self.preserve_fds = 0
        self.to_parent: Sender
        self.from_parent: Receiver
        self.run_runtime_hooks = False
        self.state: dict[str, Any] = {}
        self.cgroup_view: rootfs.CgroupView | None = None
        self.cgroup_v2 = True  # False on a hybrid host when the container stays out of cgroup2


def init_main(ctx: InitContext) -> None:
    """Never returns: execs the container's process or exits 1 after reporting an error."""
    try:
        _setup(ctx)
        ctx.to_parent.send("ready")
        ctx.to_parent.close()
        ctx.from_parent.close()
        # the privilege drop, as runc does it, before the wait: here after `ready`, so that it
        # runs while the daemon attaches the network, not on `start`'s path. The exec fifo
        # stays open (close-on-exec) past the fd sweep: `start` waits for execve itself.
        process = ctx.spec["process"]
        ready = drop_privileges(process, ctx.spec, ctx.preserve_fds, (ctx.fifo_fd,))
        _wait_start(ctx.fifo_fd)
        hooks.run("startContainer", ctx.spec.get("hooks", {}).get("startContainer"), ctx.state)
        ready.execute()
    except (WharfError, OSError) as exc:
        _report(ctx, exc)
    except BaseException as exc:  # the child must never return into the runtime's code
        _report(ctx, exc)
    os._exit(1)


def _report(ctx: InitContext, exc: BaseException) -> None:
    msg = str(exc) if isinstance(exc, WharfError) else f"{type(exc).__name__}: {exc}"
    try:
        ctx.to_parent.error(msg)
    except OSError:
        os.write(2, f"wharf-runtime init: {msg}\n".encode())


def preload(spec: dict[str, Any], process: dict[str, Any]) -> None:
    """Import now what the process needs after pivot_root or setns(mnt): from then on the
    host's Python library and libseccomp are out of reach."""
    if process.get("terminal"):
        import fcntl  # noqa: F401
        import socket  # noqa: F401
        import struct  # noqa: F401
    if (spec.get("linux") or {}).get("seccomp"):
        from wharf.runtime import seccomp

        seccomp.preload()
    if (spec.get("hooks") or {}).get("startContainer"):
        import subprocess  # noqa: F401


def _setup(ctx: InitContext) -> None:
    spec = ctx.spec
    preload(spec, spec["process"])
    linux = spec.get("linux", {})
    in_userns = "user" in ctx.plan.types
    check_privilege_drop(spec["process"], in_userns)
    os.setsid()
    if ctx.plan.has_new("mount"):
        rootfs.prepare(spec, ctx.rootfs)
        rootfs.mount_all(spec, ctx.rootfs, ctx.bundle, in_userns, lambda: _join_cgroup(ctx))
        rootfs.create_devices(spec, ctx.rootfs, in_userns)
    _join_cgroup(ctx)
    if ctx.run_runtime_hooks:
        ctx.to_parent.send("hooks")
        from wharf.oci import fastjson

        ctx.state = fastjson.loads(ctx.from_parent.expect("hooks-done"))
    hooks.run("createContainer", spec.get("hooks", {}).get("createContainer"), ctx.state)
    if ctx.plan.has_new("mount"):
        rootfs.pivot(ctx.rootfs, ctx.no_pivot)
        rootfs.make_cwd(spec["process"]["cwd"])
        rootfs.finalize(spec)
    else:
        rootfs.chroot_only(ctx.rootfs)
    _set_names(spec, ctx.plan)
    _write_sysctls(linux.get("sysctl") or {})
    if ctx.plan.has_new("mount"):
        rootfs.readonly_paths(linux.get("readonlyPaths") or [])
        rootfs.mask_paths(linux.get("maskedPaths") or [])
    if spec["process"].get("terminal"):
        _setup_console(ctx.console_fd, spec["process"])
    resolve_executable(spec["process"])
    set_rlimits(spec["process"].get("rlimits") or [])


def _join_cgroup(ctx: InitContext) -> rootfs.CgroupView:
    """Note where our cgroups are on the host, then enter a new cgroup namespace if asked (its
    root is the cgroup we are in: the intermediate joined the container's before forking us)."""
    if ctx.cgroup_view is None:
        ctx.cgroup_view = rootfs.CgroupView(ctx.cgroup_v2)
        if ctx.plan.has_new("cgroup"):
            try:
                s.unshare(s.CLONE_NEWCGROUP)
            except OSError as exc:
                raise FailedPrecondition(f"unshare cgroup namespace: {exc.strerror}") from None
    return ctx.cgroup_view


def _set_names(spec: dict[str, Any], plan: Plan) -> None:
    """Only with a uts namespace of the container's (`create` refuses names without one)."""
    for key, setter in (("hostname", s.sethostname), ("domainname", s.setdomainname)):
        if spec.get(key):
            setter(spec[key])


def check_privilege_drop(process: dict[str, Any], in_userns: bool) -> None:
    """Refuse now what would make ``exec_process`` fail after `start`: capability sets capset(2)
    would not take, ids the user namespace does not map."""
    user = process.get("user") or {"uid": 0, "gid": 0}
    why = capabilities.refusal(
        capabilities.parse(process.get("capabilities")), user["uid"], capabilities.held()
    )
    if why:
        raise FailedPrecondition(f"process.capabilities: unable to apply caps: {why}")
    if not in_userns:
        return
    for name, ids in (("uid", [user["uid"]]), ("gid", [user["gid"], *(user.get("additionalGids") or ())])):
        with open(f"/proc/self/{name}_map") as f:
            ranges = [tuple(int(x) for x in line.split()[:3]) for line in f if line.strip()]
        for i in ids:
            if not any(start <= i < start + size for start, _, size in ranges):
                raise FailedPrecondition(
                    f"process.user: cannot set {name} {i}: it is not mapped in the user namespace"
                )


def _write_sysctls(sysctls: dict[str, str]) -> None:
    for key, value in sysctls.items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as exc:
            raise FailedPrecondition(f"linux.sysctl: {key}={value}: {exc.strerror}") from None


def _setup_console(console_fd: int, process: dict[str, Any]) -> None:
    """Open a pty in the container's devpts, make it our terminal, send its master to the caller."""
    import fcntl
    import socket
    import struct

    if console_fd < 0:
        raise InvalidArgument("process.terminal: a terminal needs --console-socket")
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
    num = struct.unpack("I", fcntl.ioctl(master, 0x80045430, b"\0" * 4))[0]  # TIOCGPTN
    name = f"/dev/pts/{num}"
    slave = os.open(name, os.O_RDWR | os.O_NOCTTY)
    size = process.get("consoleSize")
    if size:
        fcntl.ioctl(slave, 0x5414, struct.pack("HHHH", size["height"], size["width"], 0, 0))  # TIOCSWINSZ
    fcntl.ioctl(slave, 0x540E, 0)  # TIOCSCTTY
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    sock = socket.socket(fileno=console_fd)
    try:
        socket.send_fds(sock, [name.encode()], [master])
    finally:
        sock.close()
        os.close(master)


def _wait_start(fifo_fd: int) -> None:
    """Block until `start` writes to the exec fifo (we hold it O_RDWR, so no EOF can come). The fd
    stays open, close-on-exec: `start` sees the fifo lose its last reader when the container's
    process is executed, and only then runs the poststart hooks (the spec's order)."""
    while not os.read(fifo_fd, 1):
        pass


def resolve_executable(process: dict[str, Any]) -> str:
    """The path execve will run, found as Go's exec.LookPath finds it; errors read like runc's."""
    name = process["args"][0]
    env = process.get("env") or []
    candidates: list[str]
    if "/" in name:
        candidates = [name if name.startswith("/") else f"{process['cwd'].rstrip('/')}/{name}"]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), "")
        candidates = [f"{d or '.'}/{name}" for d in path.split(":")] if path else []
    for cand in candidates:
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if not (st.st_mode & 0o170000 == 0o100000 and st.st_mode & 0o111):
            if "/" in name:
                raise FailedPrecondition(f'exec: "{name}": permission denied')
            continue
        return cand
    if "/" in name:
        raise FailedPrecondition(f'exec: "{name}": stat {name}: no such file or directory')
    raise FailedPrecondition(f'exec: "{name}": executable file not found in $PATH')


def set_rlimits(rlimits: list[dict[str, Any]]) -> None:
    for i, rl in enumerate(rlimits):
        num = validate.RLIMITS.get(rl["type"])
        if num is None:
            raise InvalidArgument(f"process.rlimits[{i}].type: wrong rlimit value: {rl['type']}")
        try:
            s.setrlimit(num, rl["soft"], rl["hard"])
        except OSError as exc:
            cur = s.getrlimit(num)[1]
            raise FailedPrecondition(
                f"process.rlimits[{i}]: error setting rlimit {rl['type']} soft={rl['soft']}"
                f" hard={rl['hard']}: {exc.strerror} (the runtime's own hard limit is"
                f" {'unlimited' if cur == s.RLIM_INFINITY else cur}; raising it needs CAP_SYS_RESOURCE)"
            ) from None


def _close_fds(keep: int, also_keep: tuple[int, ...] = ()) -> None:
    """Close everything above stdio and the preserved fds, as runc does before exec."""
    low = 3 + keep
    for fd in sorted(f for f in also_keep if f >= low):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


class Prepared:
    """A process whose privileges are dropped, about to execve (``execute``)."""

    def __init__(self, path: str, args: list[str], env: dict[str, str], seccomp_spec: Any) -> None:
        self.path = path
        self.args = args
        self.env = env
        self.seccomp_spec = seccomp_spec  # loaded last: no_new_privs is set, the filter is its own

    def execute(self) -> None:
        if self.seccomp_spec:
            from wharf.runtime import seccomp

            seccomp.load(self.seccomp_spec)
        os.execve(self.path, self.args, self.env)


def exec_process(
    process: dict[str, Any], spec: dict[str, Any], preserve_fds: int, keep_fds: tuple[int, ...] = ()
) -> None:
    """Become the container's process: drop privileges in runc's order, then execve."""
    drop_privileges(process, spec, preserve_fds, keep_fds).execute()


def drop_privileges(
    process: dict[str, Any], spec: dict[str, Any], preserve_fds: int, keep_fds: tuple[int, ...] = ()
) -> Prepared:
    """runc's order up to the execve: fds swept, bounding set, [seccomp], user, capabilities,
    cwd, no_new_privs (and then, in ``Prepared.execute``, [seccomp] when no_new_privs is set)."""
    path = resolve_executable(process)
    caps = capabilities.parse(process.get("capabilities"))
    seccomp_spec = spec.get("linux", {}).get("seccomp")
    nnp = bool(process.get("noNewPrivileges"))
    if process.get("oomScoreAdj") is not None and spec.get("_exec"):
        write_oom_score_adj("/proc/self/oom_score_adj", process["oomScoreAdj"])
    if process.get("rlimits") and spec.get("_exec"):  # the init set its own before `create` returned
        set_rlimits(process["rlimits"])
    _close_fds(preserve_fds, keep_fds)
    capabilities.drop_bounding(caps)
    if seccomp_spec and not nnp:
        from wharf.runtime import seccomp

        seccomp.load(seccomp_spec)
    _apply_lsm_labels(process)
    _set_personality((spec.get("linux") or {}).get("personality"))
    _set_user(process.get("user") or {"uid": 0, "gid": 0})
    capabilities.apply(caps)
    try:
        os.chdir(process["cwd"])
    except OSError as exc:
        raise FailedPrecondition(f"process.cwd: {process['cwd']}: {exc.strerror}") from None
    _check_cwd_inside(process["cwd"])
    if "umask" in (process.get("user") or {}):
        os.umask(process["user"]["umask"])
    if nnp:
        s.prctl(s.PR_SET_NO_NEW_PRIVS, 1)
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in process.get("env") or ())
    if "HOME" not in env:
        env["HOME"] = _home_of((process.get("user") or {}).get("uid", 0))
    return Prepared(path, process["args"], env, seccomp_spec if nnp else None)


def _check_cwd_inside(cwd: str) -> None:
    """The working directory must be inside the container's root (CVE-2024-21626: a directory fd
    leaked from the host, reached as /proc/self/fd/N, would put the process on the host). The
    kernel's getcwd(2) names a directory outside the root "(unreachable)/..."."""
    try:
        where = os.getcwd()
    except OSError as exc:
        raise FailedPrecondition(f"process.cwd: {cwd}: {exc.strerror}") from None
    if not where.startswith("/"):
        raise FailedPrecondition(
            f"process.cwd: {cwd}: current working directory is outside of container mount namespace"
            " root -- possible container breakout detected"
        )


def _home_of(uid: int) -> str:
    """HOME for a process whose env has none: the user's entry in the container's /etc/passwd,
    else "/" (as runc does). A FIFO or device planted there is not read (it would block the
    container's start forever)."""
    try:
        fd = os.open("/etc/passwd", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return "/"
            for line in f:
                fields = line.decode("utf-8", "replace").rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def _set_personality(pers: dict[str, Any] | None) -> None:
    """linux.personality: the execution domain (LINUX32 makes `uname -m` say i686 on x86_64)."""
    if not pers:
        return
    domain = validate.PERSONALITY_DOMAINS.get(pers["domain"])
    if domain is None:
        raise InvalidArgument(f"linux.personality.domain: unknown domain {pers['domain']!r}")
    s.personality(domain)


def _lsm_enabled(name: str) -> bool:
    if name == "apparmor":
        try:
            with open("/sys/module/apparmor/parameters/enabled") as f:
                return f.read().strip() == "Y"
        except OSError:
            return False
    return os.path.isdir("/sys/fs/selinux")


def _apply_lsm_labels(process: dict[str, Any]) -> None:
    """Ask the kernel to switch to the AppArmor profile / SELinux label on execve. On a kernel
    without that LSM (this machine has neither) the field is ignored, as runc does."""
    from wharf.runtime import log

    for field, lsm, attr, value in (
        ("apparmorProfile", "apparmor", "/proc/self/attr/apparmor/exec", "exec {}"),
        ("selinuxLabel", "selinux", "/proc/self/attr/exec", "{}"),
    ):
        label = process.get(field)
        if not label:
            continue
        if not _lsm_enabled(lsm):
            log.debug(f"process.{field} {label!r} ignored: {lsm} is not enabled in this kernel")
            continue
        path = attr if os.path.exists(attr) else "/proc/self/attr/exec"
        try:
            with open(path, "w") as f:
                f.write(value.format(label))
        except OSError as exc:
            raise FailedPrecondition(f"process.{field}: {label}: {exc.strerror}") from None


def _set_user(user: dict[str, Any]) -> None:
    uid, gid = user["uid"], user["gid"]
    try:
        os.setgroups(user.get("additionalGids") or [])
    except PermissionError:
        if user.get("additionalGids"):
            raise
    s.prctl(s.PR_SET_KEEPCAPS, 1)
    try:
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except OSError as exc:
        raise FailedPrecondition(f"process.user: uid {uid} gid {gid}: {exc.strerror}") from None
    s.prctl(s.PR_SET_KEEPCAPS, 0)


def write_oom_score_adj(path: str, value: int) -> None:
    """With runc's words when the kernel refuses (lowering it needs CAP_SYS_RESOURCE)."""
    try:
        with open(path, "w") as f:
            f.write(str(value))
    except OSError as exc:
        why = os.strerror(exc.errno or 0).lower()
        raise FailedPrecondition(f"write /proc/self/oom_score_adj: {why}") from None
