"""The OCI lifecycle operations on an existing container, one function each.

Status guards (what each operation accepts) follow runc:

    operation   created  running  paused  stopped
    start       yes      -        -       -
    kill        yes      yes      yes     -  (--all may signal a stopped container's leftovers)
    pause       -        yes      -       -
    resume      -        -        yes     -
    delete      kills    -/force  -/force yes
"""

from __future__ import annotations

import os
import time

from wharf.base.signals import signal_number
from wharf.errors import Conflict, FailedPrecondition, InvalidArgument
from wharf.runtime import cgroups, hooks, log, state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _cgroup(st: dict[str, Any]) -> Any:
    return cgroups.manager_from_state(st["cgroup"]) if st.get("cgroup") else None


def current_status(st: dict[str, Any]) -> str:
    cg = _cgroup(st)
    alive = state.init_alive(st)
    frozen = bool(alive and cg is not None and cg.frozen())
    return state.status(st, frozen)


def start(root: str, cid: str) -> None:
    st = state.load(root, cid)
    state.check_start(current_status(st))
    fifo = f"{st['_dir']}/exec.fifo"
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise FailedPrecondition(
            f"cannot start container {cid}: init is not waiting ({exc.strerror})"
        ) from None
    try:
        os.write(fd, b"0")
        _wait_executed(fd)
    finally:
        os.close(fd)
    os.unlink(fifo)
    err = hooks.run_logged(
        "poststart", st["config"].get("hooks", {}).get("poststart"), state.oci_state(st, "running")
    )
    if err:
        log.warning(err)


EXEC_WAIT_MS = 30_000


def _wait_executed(fd: int) -> None:
    """Wait until the init, which holds the exec fifo's only read end close-on-exec, has executed
    the container's process (or died): the fifo then has no reader and polls POLLERR."""
    import select

    p = select.poll()
    p.register(fd, 0)  # no events asked: only POLLERR/POLLHUP wake us
    p.poll(EXEC_WAIT_MS)


def parse_signal(raw: str) -> int:
    """ "9", "KILL", "SIGKILL", "SIGRTMIN+3" -> signal number, as runc accepts them."""
    num = signal_number(raw)
    if num is None:
        raise InvalidArgument(f"unknown signal {raw!r}")
    return num


def kill(root: str, cid: str, sig: int, all_: bool = False) -> None:
    st = state.load(root, cid)
    status = current_status(st)
    if all_:
        cg = _cgroup(st)
        if cg is not None:
            cg.kill_all(sig)
            return
    state.check_signal(status)
    try:
        os.kill(st["pid"], sig)
    except ProcessLookupError:
        raise Conflict("container not running") from None


def pause(root: str, cid: str) -> None:
    st = state.load(root, cid)
    state.check_pause(current_status(st))
    _cgroup(st).freeze()


def resume(root: str, cid: str) -> None:
    st = state.load(root, cid)
    state.check_resume(current_status(st))
    _cgroup(st).thaw()


def _wait_dead(st: dict[str, Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while state.init_alive(st):
        if time.monotonic() > deadline:
            raise FailedPrecondition(f"container {st['id']}: init pid {st['pid']} did not die")
        try:
            os.waitpid(st["pid"], os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.002)


def delete(root: str, cid: str, force: bool = False) -> None:
    st = state.load(root, cid)
    status = current_status(st)
    cg = _cgroup(st)
    state.check_delete(cid, status, force)
    if not state.is_stopped(status):
        if cg is not None:
            cg.kill_all(9)
            if state.is_paused(status):
                cg.thaw()
        else:
            os.kill(st["pid"], 9)
        _wait_dead(st)
    if cg is not None:
        cg.kill_all(9)  # leftovers of exec'd processes that outlived init
        cg.destroy()
    for name in os.listdir(st["_dir"]):
        os.unlink(f"{st['_dir']}/{name}")
    os.rmdir(st["_dir"])
    err = hooks.run_logged(
        "poststop", st["config"].get("hooks", {}).get("poststop"), state.oci_state(st, "stopped")
    )
    if err:
        log.warning(err)


def runc_state(root: str, cid: str) -> dict[str, Any]:
    """What `state` prints: the OCI state plus runc's rootfs/created/owner fields."""
    st = state.load(root, cid)
    status = current_status(st)
    out = state.oci_state(st, status)
    out.update({"rootfs": st["rootfs"], "created": st["created"], "owner": st.get("owner", "")})
    return out


def pids(root: str, cid: str) -> list[int]:
    st = state.load(root, cid)
    cg = _cgroup(st)
    return sorted(cg.pids()) if cg is not None else [st["pid"]]
