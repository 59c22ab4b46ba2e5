"""`create`: the runtime's side of starting a container.

Three processes, each with one job (as youki and runc split it):

    runtime (this code)          intermediate                      init (pid 1 inside)
    ─────────────────────        ───────────────────────────       ──────────────────────────
    validate spec (validate.py),
    open joined namespaces (their
    types checked), state dir,
    cgroup, exec fifo
    fork ───────────────────────▶ join the cgroup itself
                                 setns joined namespaces
                                 unshare(user) → "maps" ───▶
    write uid/gid maps ◀─────────
    send "maps-ok" ─────────────▶ setresuid(0); unshare(rest but cgroup)
                                 fork ──────────────────────────▶ (new pid namespace)
    ◀────────────── "pid <n>" ── exit 0                           check caps and ids, unshare
    oom_score_adj                                                 (cgroup), mounts, devices
    ◀──────────────────────────────────────────────────────────── "hooks" (if any)
    prestart + createRuntime hooks
    "hooks-done <state>" ────────────────────────────────────────▶ createContainer hooks,
                                                                  pivot_root, console, ...,
                                                                  rlimits
    ◀──────────────────────────────────────────────────────────── "ready"
    state.json, pid file, exit                                    block on exec.fifo

The intermediate exists because a process cannot enter a new pid namespace itself, only its
children can. The intermediate and init report on pipes of their own (init may be ready before
the intermediate has sent its pid). Any failure undoes everything create made: the init is
killed, the cgroup and the state directory removed.
"""

from __future__ import annotations

import os

from wharf.base import trace
from wharf.base.files import atomic_write
from wharf.base.owner import start_time
from wharf.base.times import now_rfc3339
from wharf.errors import FailedPrecondition, InvalidArgument
from wharf.oci import fastjson, runtime_spec
from wharf.runtime import cgroups, hooks, log, namespaces, rootfs, state, validate
from wharf.runtime import syscalls as s
from wharf.runtime.process import channel
from wharf.runtime.process.init import InitContext, init_main, write_oom_score_adj

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

RUNTIME_HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer")


class CreateOptions:
    __slots__ = ("root", "cid", "bundle", "console_socket", "pid_file", "no_pivot", "preserve_fds")

    def __init__(self, root: str, cid: str, bundle: str) -> None:
        self.root = root
        self.cid = cid
        self.bundle = bundle
        self.console_socket: str | None = None
        self.pid_file: str | None = None
        self.no_pivot = False
        self.preserve_fds = 0


def create(opts: CreateOptions) -> dict[str, Any]:
    """Create the container and leave its init waiting for `start`; returns the saved state."""
    trace.mark("runtime", "create")
    bundle = os.path.realpath(opts.bundle)
    spec = runtime_spec.load(bundle)
    if "process" not in spec:
        raise InvalidArgument("config.json: process: required to create a container")
    root_path = rootfs.rootfs_path(spec, bundle)
    linux = spec.get("linux", {})
    plan = namespaces.plan(spec)
    try:
        validate.check(spec, plan)
    except BaseException:
        plan.close()
        raise
    sdir = state.make_state_dir(opts.root, opts.cid)
    cg = None
    init_pid = 0
    try:
        fifo = f"{sdir}/exec.fifo"
        os.mkfifo(fifo, 0o622)
        cg = cgroups.open_manager(linux.get("cgroupsPath"), opts.cid, linux.get("resources") or {})
        cg.create()
        cg.apply(linux.get("resources") or {})
        if linux.get("seccomp"):
            from wharf.runtime import seccomp

            seccomp.prepare(linux["seccomp"], f"{opts.root}/{seccomp.CACHE_DIR}")
        trace.mark("runtime", "spec checked, cgroup made")
        ctx = InitContext(spec, bundle, root_path, plan)
        ctx.cgroup_v2 = cg.v2_path is not None
        ctx.fifo_fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
        ctx.no_pivot = opts.no_pivot
        ctx.preserve_fds = opts.preserve_fds
        ctx.run_runtime_hooks = any(spec.get("hooks", {}).get(h) for h in RUNTIME_HOOKS)
        if opts.console_socket:
            ctx.console_fd = _connect_console(opts.console_socket)
        saved: dict[str, Any] = {
            "id": opts.cid,
            "pid": 0,
            "pid_start": 0,
            "bundle": bundle,
            "rootfs": root_path,
            "created": now_rfc3339(),
            "owner": "",
            "annotations": spec.get("annotations") or {},
            "cgroup": None,
            "config": spec,
        }
        init_pid = _spawn(ctx, cg, linux, saved)
        trace.mark("runtime", "init ready")
        saved["pid"] = init_pid
        saved["pid_start"] = start_time(init_pid)
        saved["cgroup"] = cg.to_state()
        state.save(sdir, saved)
        if opts.pid_file:
            atomic_write(os.path.abspath(opts.pid_file), str(init_pid).encode(), 0o644, durable=False)
        os.close(ctx.fifo_fd)
        if ctx.console_fd >= 0:
            os.close(ctx.console_fd)
        plan.close()
        saved["_dir"] = sdir
        trace.mark("runtime", "created")
        return saved
    except BaseException:
        if init_pid:
            _kill_quietly(init_pid)
        if cg is not None:
            _destroy_quietly(cg)
        _remove_dir(sdir)
        plan.close()
        raise


def _connect_console(path: str) -> int:
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise InvalidArgument(f"--console-socket {path}: {exc.strerror}") from None
    return sock.detach()


def _spawn(ctx: InitContext, cg: Any, linux: dict[str, Any], saved: dict[str, Any]) -> int:
    """Fork the intermediate, drive the handshake above, return init's pid (host view)."""
    # the intermediate and init each talk back on a pipe of their own: under load init can be
    # ready before its parent has reported its pid, and one shared pipe would interleave them
    from_child, child_out = channel.pipe()
    from_init, init_out = channel.pipe()
    child_in, to_child = channel.pipe()
    pid = os.fork()
    if pid == 0:  # intermediate
        from_child.close()
        from_init.close()
        to_child.close()
        ctx.to_parent, ctx.from_parent = child_out, child_in
        _intermediate(ctx, cg, linux, init_out)
    child_out.close()
    init_out.close()
    child_in.close()
    init_pid = 0
    try:
        verb, arg = from_child.recv()
        if verb == "maps":
            try:
                namespaces.write_id_maps(pid, linux)
            except OSError as exc:
                raise FailedPrecondition(f"linux.uidMappings: writing id maps: {exc.strerror}") from None
            to_child.send("maps-ok")
            verb, arg = from_child.recv()
        if verb != "pid":
            raise FailedPrecondition(f"runtime protocol: unexpected {verb!r}")
        init_pid = int(arg)
        os.waitpid(pid, 0)
        pid = 0
        trace.mark("runtime", "namespaces made, init forked")
        oom = ctx.spec["process"].get("oomScoreAdj")
        if oom is not None:
            write_oom_score_adj(f"/proc/{init_pid}/oom_score_adj", oom)
        verb, arg = from_init.recv()
        if verb == "hooks":
            saved["pid"] = init_pid
            hook_state = state.oci_state(saved, "created")
            hooks.run("prestart", ctx.spec.get("hooks", {}).get("prestart"), hook_state)
            hooks.run("createRuntime", ctx.spec.get("hooks", {}).get("createRuntime"), hook_state)
            to_child.send("hooks-done", fastjson.dumps(hook_state))
            verb, arg = from_init.recv()
        if verb != "ready":
            raise FailedPrecondition(f"runtime protocol: unexpected {verb!r}")
        return init_pid
    except BaseException:
        if pid:
            _kill_quietly(pid)
            os.waitpid(pid, 0)
        if init_pid:
            _kill_quietly(init_pid)
        raise
    finally:
        from_child.close()
        from_init.close()
        to_child.close()


def _intermediate(ctx: InitContext, cg: Any, linux: dict[str, Any], init_out: channel.Sender) -> None:
    """Join the cgroup and namespaces, create namespaces, fork init, report its pid, exit.
    ``init_out`` is the pipe init reports on."""
    try:
        cg.join_self()  # first: in a new user namespace the cgroup files are no longer ours
        plan = ctx.plan
        for kind, fd in plan.join:
            try:
                s.setns(fd, namespaces.FLAGS[kind])
            except OSError as exc:
                raise FailedPrecondition(f"joining {kind} namespace: {exc.strerror}") from None
            if kind == "user":  # become its root: our host ids are not mapped there (EOVERFLOW)
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
        if plan.has_new("user"):
            s.unshare(s.CLONE_NEWUSER)
            ctx.to_parent.send("maps")
            ctx.from_parent.expect("maps-ok")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        rest = plan.new & ~(s.CLONE_NEWUSER | s.CLONE_NEWCGROUP)  # init unshares cgroup, see _join_cgroup
        if rest:
            try:
                s.unshare(rest)
            except OSError as exc:
                raise FailedPrecondition(f"unshare namespaces: {exc.strerror}") from None
        if linux.get("timeOffsets"):
            namespaces.write_time_offsets(linux["timeOffsets"])
        pid = os.fork()
        if pid == 0:
            plan.close()
            ctx.to_parent.close()
            ctx.to_parent = init_out
            init_main(ctx)
        init_out.close()
        ctx.to_parent.send("pid", str(pid))
        os._exit(0)
    except BaseException as exc:
        msg = str(exc) if isinstance(exc, (FailedPrecondition, InvalidArgument)) else repr(exc)
        try:
            ctx.to_parent.error(msg)
        finally:
            os._exit(1)


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def _destroy_quietly(cg: Any) -> None:
    """Best effort while already failing: each step runs even if the one before failed."""
    for step in (lambda: cg.kill_all(9), cg.destroy):
        try:
            step()
        except Exception as exc:
            log.warning(f"cleanup: {exc}")


def _remove_dir(path: str) -> None:
    for name in os.listdir(path) if os.path.isdir(path) else ():
        os.unlink(f"{path}/{name}")
    if os.path.isdir(path):
        os.rmdir(path)
