"""The engine's side of ``wharf-shim``, the small C monitor each container runs under.

Why a shim: wharfd may be stopped or killed while containers run (live restore). Whatever holds a
container's stdio, writes its log and learns its exit status must therefore outlive the daemon, and
cost little per container: a C program of a few hundred KiB, not a Python process. Its contract is
documented at the top of ``shim/wharf-shim.c``; in short, per container::

    <exec-root>/containers/<id>/   state dir: attach.sock, ctl, exit (JSON, written atomically)
    wharf-shim ... --sync-fd N     → "ok <container pid>" | "error <message>" on fd N

The daemon spawns the shim in a session of its own, then watches it with a pidfd: a pidfd works
for a process that is not our child, which is what an adopted shim is after a daemon restart.

With wharf's own runtime the shim is not spawned by the daemon: the runtime's warm spawner
(``Spawner`` here, src/wharf/runtime/spawner.py there) forks, creates the container in-process
and executes the shim in its own place, which saves the runtime's interpreter start per
container. The sync fd then carries one more line first, "shim <pid>", since the daemon did not
spawn that process; the rest of the contract is the same.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wharf.base.files import atomic_write
from wharf.errors import FailedPrecondition


@dataclass(frozen=True)
class ShimPaths:
    state_dir: str

    @property
    def attach_sock(self) -> str:
        return f"{self.state_dir}/attach.sock"

    @property
    def ctl(self) -> str:
        return f"{self.state_dir}/ctl"

    @property
    def exit_file(self) -> str:
        return f"{self.state_dir}/exit"

    @property
    def pid_file(self) -> str:
        return f"{self.state_dir}/shim.pid"


@dataclass(frozen=True)
class ShimOptions:
    shim: str
    cid: str
    bundle: str
    runtime: str
    runtime_root: str
    tty: bool = False
    stdin: bool = False
    stdin_once: bool = False
    log_path: str = ""
    log_max_size: int = 0
    log_max_files: int = 1


_ENV = ("PATH", "LANG", "WHARF_TRACE")


class Spawner:
    """wharfd's end of the runtime's warm spawner: one process, started once and again if it
    dies, that creates each container of wharf's runtime by a fork (see the module's text)."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self.pid = 0
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start it now, so that the first container does not wait for its imports."""
        with self._lock:
            if self._sock is None:
                self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            fd = theirs.fileno()
            os.set_inheritable(fd, True)
            argv = [self.runtime, "spawner", "--socket-fd", str(fd)]
            self.pid = _spawn_quiet(self.runtime, argv, keep_stderr=True)
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours

    def request(self, req: dict[str, Any], sync_fd: int) -> bool:
        """Send one create; False if no spawner could take it (the caller spawns the shim)."""
        data = json.dumps(req).encode()
        with self._lock:
            for _ in range(2):  # once more with a new spawner if this one has gone
                try:
                    if self._sock is None:
                        self._start()
                    assert self._sock is not None
                    socket.send_fds(self._sock, [data], [sync_fd])
                    return True
                except OSError:
                    self._drop(kill=True)
        return False

    def _drop(self, kill: bool) -> None:
        """Our end closed (the spawner sees EOF and exits) and the spawner reaped; ``kill``:
        one that did not take a request may be stuck, not only gone."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self.pid:
            if kill:
                stop_shim(self.pid)
            _reap(self.pid)
            self.pid = 0

    def close(self) -> None:
        """Stop it: its end of the socket sees EOF and it exits (the shims it made stay)."""
        with self._lock:
            self._drop(kill=False)


def _spawn_quiet(path: str, argv: list[str], keep_stderr: bool = False) -> int:
    """posix_spawn in a session of its own, stdio on /dev/null (stderr kept if asked)."""
    devnull = os.open("/dev/null", os.O_RDWR)
    try:
        return os.posix_spawn(
            path,
            argv,
            {k: v for k, v in os.environ.items() if k in _ENV},
            file_actions=[(os.POSIX_SPAWN_DUP2, devnull, fd) for fd in (0, 1, 2)[: 2 if keep_stderr else 3]],
            setsid=True,
        )
    finally:
        os.close(devnull)


def spawn(opts: ShimOptions, paths: ShimPaths, spawner: Spawner | None = None) -> tuple[int, int]:
    """Start the shim; block until it reports the container created. Returns (shim pid, container pid).

    Blocking (call it in an executor thread). Spawned here, the shim is our child and the caller
    reaps it through ``watch``; made by ``spawner``, it is the spawner's (which the kernel reaps).
    """
    os.makedirs(paths.state_dir, 0o700, exist_ok=True)
    for stale in (paths.exit_file, paths.attach_sock, paths.ctl):
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass
    r, w = os.pipe()
    argv = [
        opts.shim,
        "--id",
        opts.cid,
        "--bundle",
        opts.bundle,
        "--runtime",
        opts.runtime,
        "--runtime-root",
        opts.runtime_root,
        "--state-dir",
        paths.state_dir,
    ]
    if opts.tty:
        argv.append("--tty")
    if opts.stdin:
        argv.append("--stdin")
    if opts.stdin_once:
        argv.append("--stdin-once")
    if opts.log_path:
        argv += ["--log-path", opts.log_path]
        if opts.log_max_size:
            argv += ["--log-max-size", str(opts.log_max_size), "--log-max-files", str(opts.log_max_files)]
    req: dict[str, Any] = {"shim_argv": argv, "root": opts.runtime_root, "id": opts.cid}
    req |= {"bundle": opts.bundle, "state_dir": paths.state_dir, "tty": opts.tty, "stdin": opts.stdin}
    pid = 0
    if spawner is None or not spawner.request(req, w):
        os.set_inheritable(w, True)
        try:
            pid = _spawn_quiet(opts.shim, [*argv, "--sync-fd", str(w)])
        except OSError as exc:
            os.close(r)
            os.close(w)
            raise FailedPrecondition(f"starting {opts.shim}: {exc.strerror}") from None
    os.close(w)
    with os.fdopen(r, "rb") as f:
        line = f.readline().decode("utf-8", "replace").strip()
        if not pid and line.startswith("shim "):
            pid = int(line.split()[1])
            line = f.readline().decode("utf-8", "replace").strip()
    if pid:
        atomic_write(paths.pid_file, str(pid), durable=False)
    if line.startswith("ok ") and pid:
        return pid, int(line.split()[1])
    if pid:
        _reap(pid)
    message = line[len("error ") :] if line.startswith("error ") else line or "shim exited without a word"
    raise FailedPrecondition(message)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_exit(paths: ShimPaths) -> dict[str, Any] | None:
    try:
        with open(paths.exit_file) as f:
            data: dict[str, Any] = json.load(f)
            return data
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def watch(pid: int, on_exit: Callable[[], None]) -> bool:
    """Call ``on_exit`` (in the loop) once process ``pid`` has ended; False if it is already gone."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        _try_reap(pid)
        return False
    loop = asyncio.get_running_loop()

    def ready() -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        _try_reap(pid)
        on_exit()

    loop.add_reader(pidfd, ready)
    return True


def _try_reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


async def connect_attach(paths: ShimPaths) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the shim's attach socket. Through /proc/self/fd of the state dir: a unix
    socket's path must fit in 108 bytes, which a long exec root would not allow."""
    dfd = os.open(paths.state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return await asyncio.open_unix_connection(f"/proc/self/fd/{dfd}/attach.sock")
    finally:
        os.close(dfd)


def send_ctl(paths: ShimPaths, line: str) -> None:
    """Write one control line ("resize R C", "close-stdin") to the shim's FIFO, never blocking."""
    try:
        fd = os.open(paths.ctl, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.write(fd, (line + "\n").encode())
    except OSError:
        pass
    finally:
        os.close(fd)


def stop_shim(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
