"""`exec`: start another process inside a running container.

The runtime joins the container's cgroup and namespaces (user first) from an intermediate child,
which forks the process so that it lands inside the container's pid namespace too. The process
then goes through the same privilege drop as init (``init.exec_process``). Success is the
channel closing on execve (it is close-on-exec); a failure arrives as an ``error`` message.
"""

from __future__ import annotations

import os

from wharf.base.files import atomic_write
from wharf.errors import FailedPrecondition, InvalidArgument, WharfError
from wharf.oci import fastjson
from wharf.runtime import cgroups, namespaces, state, validate
from wharf.runtime import syscalls as s
from wharf.runtime.process import channel
from wharf.runtime.process.init import exec_process, preload, resolve_executable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def build_process(spec: dict[str, Any], flags: dict[str, Any], args: list[str]) -> dict[str, Any]:
    """The process to run: ``--process`` json, or the container's process with the flags applied."""
    if flags.get("process"):
        try:
            with open(flags["process"], "rb") as f:
                proc: dict[str, Any] = fastjson.loads(f.read())
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"--process {flags['process']}: {exc}") from None
        from wharf.oci.runtime_spec import validate

        validate({"ociVersion": "1.1.0", "root": {"path": "/"}, "process": proc})
        return proc
    if not args:
        raise InvalidArgument("exec: a command to run is required")
    base = spec["process"]
    proc = {k: v for k, v in base.items() if k not in ("args", "terminal", "consoleSize", "commandLine")}
    proc["args"] = args
    proc["terminal"] = bool(flags.get("tty"))
    proc["env"] = list(base.get("env") or []) + list(flags.get("env") or [])
    if flags.get("cwd"):
        proc["cwd"] = flags["cwd"]
    if flags.get("user"):
        uid, _, gid = flags["user"].partition(":")
        if not uid.isdigit() or (gid and not gid.isdigit()):
            raise InvalidArgument(f"--user {flags['user']!r}: expected uid[:gid] as numbers")
        proc["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    if flags.get("additional-gids"):
        proc.setdefault("user", {"uid": 0, "gid": 0})["additionalGids"] = [
            int(g) for g in flags["additional-gids"]
        ]
    if flags.get("no-new-privs"):
        proc["noNewPrivileges"] = True
    if flags.get("cap"):
        caps = {k: list(v) for k, v in (base.get("capabilities") or {}).items()}
        for kind in ("bounding", "effective", "permitted", "ambient"):
            caps[kind] = sorted(set(caps.get(kind, [])) | set(flags["cap"]))
        proc["capabilities"] = caps
    return proc


def exec_command(root: str, cid: str, flags: dict[str, Any], args: list[str]) -> int:
    st = state.load(root, cid)
    from wharf.runtime.container import current_status

    state.check_exec(current_status(st), bool(flags.get("ignore-paused")))
    spec = st["config"]
    proc = build_process(spec, flags, args)
    validate.check_rlimits(proc)
    validate.warn_unknown_capabilities(proc)
    detach = bool(flags.get("detach"))
    if not detach:
        s.prctl(s.PR_SET_CHILD_SUBREAPER, 1)
    console_fd = -1
    if proc.get("terminal"):
        if not flags.get("console-socket"):
            raise InvalidArgument("exec: --tty needs --console-socket")
        from wharf.runtime.process.parent import _connect_console

        console_fd = _connect_console(flags["console-socket"])
    if (spec.get("linux") or {}).get("seccomp"):
        from wharf.runtime import seccomp

        seccomp.prepare(spec["linux"]["seccomp"], f"{root}/{seccomp.CACHE_DIR}")
    pid = _spawn(st, spec, proc, console_fd, flags.get("preserve-fds", 0))
    if console_fd >= 0:
        os.close(console_fd)
    if flags.get("pid-file"):
        atomic_write(os.path.abspath(flags["pid-file"]), str(pid).encode(), 0o644, durable=False)
    if detach:
        return 0
    from wharf.runtime.process.supervise import wait_and_forward

    return wait_and_forward(pid)


def _spawn(
    st: dict[str, Any], spec: dict[str, Any], proc: dict[str, Any], console_fd: int, preserve_fds: int
) -> int:
    plan = namespaces.join_for_exec(st["pid"], spec)
    cg = cgroups.manager_from_state(st["cgroup"]) if st.get("cgroup") else None
    from_child, child_out = channel.pipe()
    child_in, to_child = channel.pipe()
    pid = os.fork()
    if pid == 0:
        from_child.close()
        to_child.close()
        _intermediate(plan, cg, spec, proc, console_fd, preserve_fds, child_out, child_in)
    child_out.close()
    child_in.close()
    plan.close()
    try:
        target = int(from_child.expect("pid"))
        os.waitpid(pid, 0)
        pid = 0
        try:
            verb, arg = from_child.recv()
        except channel.ChildDied:
            return target  # the channel closed on execve: the process runs
        raise FailedPrecondition(f"runtime protocol: unexpected {verb!r}")
    except BaseException:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        raise
    finally:
        from_child.close()
        to_child.close()


def _intermediate(
    plan: namespaces.Plan,
    cg: cgroups.Manager | None,
    spec: dict[str, Any],
    proc: dict[str, Any],
    console_fd: int,
    preserve_fds: int,
    out: channel.Sender,
    inp: channel.Receiver,
) -> None:
    try:
        preload(spec, proc)
        if cg is not None:
            cg.join_self()  # before setns: in the container's user namespace the files are not ours
        for kind, fd in plan.join:
            try:
                s.setns(fd, 0)
            except OSError as exc:
                raise FailedPrecondition(f"joining {kind} namespace: {exc.strerror}") from None
        plan.close()
        pid = os.fork()
        if pid == 0:
            _exec_child(spec, proc, console_fd, preserve_fds, out)
        out.send("pid", str(pid))
        os._exit(0)
    except BaseException as exc:
        out.error(str(exc) if isinstance(exc, WharfError) else repr(exc))
        os._exit(1)


def _exec_child(
    spec: dict[str, Any], proc: dict[str, Any], console_fd: int, preserve_fds: int, out: channel.Sender
) -> None:
    try:
        os.setsid()
        if proc.get("terminal"):
            from wharf.runtime.process.init import _setup_console

            _setup_console(console_fd, proc)
        resolve_executable(proc)
        exec_process(proc, {**spec, "_exec": True}, preserve_fds, (out.fd,))
    except BaseException as exc:
        msg = str(exc) if isinstance(exc, WharfError) else f"{type(exc).__name__}: {exc}"
        try:
            out.error(msg)
        finally:
            os._exit(1)
    os._exit(1)
