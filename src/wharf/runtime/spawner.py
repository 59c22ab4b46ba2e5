"""The warm spawner: containers created by a fork of a pre-imported runtime, not a new interpreter.

`wharf-runtime create` run as a command spends most of its time before it does any kernel work:
starting Python and importing the runtime (about 13 ms of a ~24 ms create on an idle machine,
twice that under load). wharfd therefore starts one spawner (``wharf-runtime spawner
--socket-fd N``, from the launcher's sealed interpreter copy like every runtime command) when
it starts, and asks it for each container it creates::

    wharfd ── SOCK_SEQPACKET: {request JSON} + [sync fd] ──▶ spawner (one thread, imports done,
                                                              children reaped by the kernel)
                                                              fork
                                                              └─▶ child: setsid, subreaper,
                                                                  "shim <pid>" on the sync fd,
                                                                  the container's stdio pipes,
                                                                  process.parent.create() here,
                                                                  execve(wharf-shim --init-pid ..)

The child creates the container in-process (the same code as ``create``: intermediate, init
parked on its exec fifo, which is re-parented to the child as the subreaper) and then executes
the C shim in its own place, so the container's monitor is the same tiny process as on the
command path and init stays its child. The shim writes "ok <init pid>" on the sync fd; an
error of the create is written there by the child ("error <message>"), as the shim writes the
runtime's. The spawner holds no state between requests: every request is a fresh fork of an
idle, single-threaded process. It ends when wharfd closes its end of the socket; the shims it
forked outlive it (live restore is unchanged: they are found by their state dirs).

The runtime command ``create`` stays as it was, for other engines and for runtimes other than
wharf's own (the shim then runs the configured runtime as a command).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

from wharf.base import trace
from wharf.errors import WharfError
from wharf.runtime import syscalls as s

# what every create needs, imported before the first fork
from wharf.runtime.process.parent import CreateOptions, create

MAX_REQUEST = 1 << 16
CONSOLE = "console.sock"  # in the state dir, the shim's own name for it (relative: 108-byte limit)


def serve(sock_fd: int) -> int:
    """Answer requests on ``sock_fd`` until wharfd closes it."""
    _preload()
    sock = socket.socket(fileno=sock_fd)
    sock.set_inheritable(False)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps our children (the shims)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C to wharfd's terminal is wharfd's
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 4)
        except InterruptedError:
            continue
        except ConnectionResetError:
            return 0
        if not data:
            for fd in fds:
                os.close(fd)
            return 0
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            continue
        _fork_one(sock, data, fds[0])


def _preload() -> None:
    """Load what create loads lazily, so that no fork pays for it again."""
    from wharf.runtime import seccomp

    seccomp.preload()


def _fork_one(sock: socket.socket, data: bytes, sync_fd: int) -> None:
    try:
        pid = os.fork()
    except OSError as exc:
        _say(sync_fd, f"error fork: {exc.strerror}")
        os.close(sync_fd)
        return
    if pid == 0:
        code = 1
        try:
            sock.close()
            code = _child(json.loads(data), sync_fd)
        except BaseException as exc:  # the child must never return to the loop
            _say(sync_fd, f"error {exc!r}")
        finally:
            os._exit(code)
    os.close(sync_fd)


def _say(fd: int, line: str) -> None:
    try:
        os.write(fd, (line.replace("\n", " ") + "\n").encode())
    except OSError:
        pass


def _child(req: dict[str, object], sync_fd: int) -> int:
    """Create the container, then become its shim. Returns only on failure (the exit code)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # create waits for its intermediate
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.setsid()
    state_dir = str(req["state_dir"])
    os.chdir(state_dir)
    s.prctl(s.PR_SET_CHILD_SUBREAPER, 1)
    # held blocked across the exec: an init that exits before the shim's signalfd is set up
    # leaves its SIGCHLD pending, not lost
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
    _say(sync_fd, f"shim {os.getpid()}")
    trace.mark("spawner", "forked")
    tty = bool(req.get("tty"))
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    console, ours, theirs = _stdio(tty, bool(req.get("stdin")), devnull)
    for target, fd in enumerate(theirs):
        os.dup2(fd, target)
    opts = CreateOptions(str(req["root"]), str(req["id"]), str(req["bundle"]))
    opts.pid_file = "pid"
    opts.console_socket = CONSOLE if tty else None
    failure = ""
    try:
        saved = create(opts)
    except WharfError as exc:
        failure = f"wharf-runtime: {exc}"
    except Exception as exc:  # reported to the daemon as the create's error
        failure = f"wharf-runtime: {exc!r}"
    for target in (0, 1, 2):
        os.dup2(devnull, target)
    for fd in theirs:
        if fd != devnull and fd > 2:
            os.close(fd)
    if failure:
        _say(sync_fd, f"error {failure}")
        return 1
    argv = [str(a) for a in req["shim_argv"]]  # type: ignore[attr-defined]
    argv += ["--sync-fd", str(sync_fd), "--init-pid", str(saved["pid"])]
    if console is not None:
        conn, _ = console.accept()
        _, fds, _, _ = socket.recv_fds(conn, 1, 1)
        conn.close()
        console.close()
        os.unlink(CONSOLE)
        if not fds:
            return _undo(opts, sync_fd, "the runtime sent no console")
        argv += ["--master-fd", str(fds[0])]
        ours = [fds[0]]
    else:
        argv += ["--stdout-fd", str(ours[0]), "--stderr-fd", str(ours[1])]
        if ours[2] >= 0:
            argv += ["--stdin-fd", str(ours[2])]
    for fd in (sync_fd, *ours):
        if fd >= 0:
            os.set_inheritable(fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(argv[0], argv, os.environ)
    except OSError as exc:
        return _undo(opts, sync_fd, f"starting {argv[0]}: {exc.strerror}")
    return 1  # not reached


def _stdio(tty: bool, stdin: bool, devnull: int) -> tuple[socket.socket | None, list[int], list[int]]:
    """(the console socket init sends its pty master to, or None; the ends the shim keeps:
    stdout, stderr, stdin (-1 when none); the container's ends, init's 0, 1 and 2)."""
    if tty:
        console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            os.unlink(CONSOLE)
        except FileNotFoundError:
            pass
        console.bind(CONSOLE)
        console.listen(1)
        return console, [], [devnull, devnull, devnull]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if stdin else (devnull, -1)
    return None, [out_r, err_r, in_w], [in_r, out_w, err_w]


def _undo(opts: CreateOptions, sync_fd: int, message: str) -> int:
    """The container was created but gets no shim: delete it, report why."""
    from wharf.runtime import container

    try:
        container.delete(opts.root, opts.cid, True)
    except WharfError:
        pass
    _say(sync_fd, f"error {message}")
    return 1
