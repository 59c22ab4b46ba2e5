"""`docker exec`: an extra process in a running container, through the runtime's ``exec``.

The process description starts from the container's own (config.json in its bundle: caps,
seccomp, rlimits, env) and takes the exec's Cmd, Env, User, WorkingDir, Tty, Privileged.
The runtime is run without ``-d`` so that its exit status is the process's; with a terminal,
the runtime hands the pty master over a console socket of ours.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import json
import os
import socket
import struct
import termios
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from wharf.base import keys as detach_keys
from wharf.base import trees
from wharf.engine.state import check_exec
from wharf.errors import Conflict, InvalidArgument, NotFound, WharfError

if TYPE_CHECKING:
    from wharf.engine.containers import Container, ContainerStore
    from wharf.engine.paths import Paths
    from wharf.engine.runner import RuntimeRunner

Emit = Callable[..., None]


class Client(Protocol):
    """The client's side of a hijacked connection, as the API hands it over: its input, and a
    write that answers False once the client has gone."""

    reader: asyncio.StreamReader

    async def write(self, data: bytes) -> bool: ...


@dataclass
class Exec:
    id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    master_fd: int = -1
    proc: asyncio.subprocess.Process | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ExecManager:
    def __init__(self, store: ContainerStore, paths: Paths, runner: RuntimeRunner, emit: Emit) -> None:
        self.store = store
        self.paths = paths
        self.runner = runner
        self.emit = emit
        self.execs: dict[str, Exec] = {}

    def create(self, ref: str, config: dict[str, Any]) -> str:
        try:
            detach_keys.parse(config.get("DetachKeys") or None)
        except ValueError:
            raise InvalidArgument(f"Invalid escape keys ({config.get('DetachKeys')}) provided") from None
        c = self.store.get(ref)
        check_exec(c.state, c.id)
        cmd = config.get("Cmd")
        if not cmd or not isinstance(cmd, list):
            raise InvalidArgument("No exec command specified")
        eid = os.urandom(32).hex()
        self.execs[eid] = Exec(eid, c.id, config)
        self.emit(c, "exec_create: " + " ".join(cmd), execID=eid)
        return eid

    def get(self, eid: str) -> Exec:
        e = self.execs.get(eid)
        if e is None:
            raise NotFound(f"No such exec instance: {eid}")
        return e

    def inspect(self, eid: str) -> dict[str, Any]:
        e = self.get(eid)
        cfg = e.config
        return {
            "ID": e.id,
            "Running": e.running,
            "ExitCode": e.exit_code,
            "ProcessConfig": {
                "tty": bool(cfg.get("Tty")),
                "entrypoint": cfg["Cmd"][0],
                "arguments": cfg["Cmd"][1:],
                "privileged": bool(cfg.get("Privileged")),
                "user": cfg.get("User") or "",
            },
            "OpenStdin": bool(cfg.get("AttachStdin")),
            "OpenStderr": bool(cfg.get("AttachStderr")),
            "OpenStdout": bool(cfg.get("AttachStdout")),
            "CanRemove": False,
            "ContainerID": e.container_id,
            "DetachKeys": cfg.get("DetachKeys") or "",
            "Pid": e.pid,
        }

    def _process(self, c: Container, cfg: dict[str, Any]) -> dict[str, Any]:
        from wharf.engine import specgen

        with open(self.paths.bundle_config(c.id)) as f:
            spec = json.load(f)
        proc: dict[str, Any] = dict(spec["process"])
        proc["args"] = list(cfg["Cmd"])
        proc["terminal"] = bool(cfg.get("Tty"))
        env = list(proc.get("env") or [])
        for e in cfg.get("Env") or []:
            key = e.split("=", 1)[0]
            env = [x for x in env if x.split("=", 1)[0] != key] + [e]
        proc["env"] = env
        if cfg.get("WorkingDir"):
            proc["cwd"] = cfg["WorkingDir"]
        if cfg.get("User"):
            uid, gid, extra = specgen.resolve_user(self.paths.rootfs_dir(c.id), cfg["User"])
            proc["user"] = {"uid": uid, "gid": gid, "additionalGids": extra}
        if cfg.get("Privileged"):
            proc["capabilities"] = {k: specgen.all_caps() for k in ("bounding", "effective", "permitted")}
        if proc["terminal"]:
            size = cfg.get("ConsoleSize")
            if size and len(size) == 2 and size[0] and size[1]:
                proc["consoleSize"] = {"height": size[0], "width": size[1]}
        return proc

    async def start(self, eid: str, detach: bool, conn: Client | None, multiplexed: bool) -> None:
        e = self.get(eid)
        if e.running or e.exit_code is not None:
            raise Conflict(f"Error: Exec command {eid} has already run")
        c = self.store.get(e.container_id)
        check_exec(c.state, c.id)
        try:
            proc = self._process(c, e.config)
        except WharfError:  # the process cannot be made (no such user): it failed to start
            e.exit_code = 126
            raise
        # short, whatever the exec root: the console socket's path must fit a sockaddr_un
        tmp = self.paths.exec_dir(eid)
        os.makedirs(tmp, 0o700)
        listener = None
        e.running = True
        try:
            with open(f"{tmp}/process.json", "w") as f:
                json.dump(proc, f)
            argv = self.runner.argv(
                c.runtime, "exec", "--process", f"{tmp}/process.json", "--pid-file", f"{tmp}/exec.pid"
            )
            tty = bool(proc["terminal"])
            if tty:
                listener = _console_listener(f"{tmp}/console.sock")
                argv += ["--console-socket", f"{tmp}/console.sock"]
            argv.append(c.id)
            attach_in = bool(e.config.get("AttachStdin")) and not detach and conn is not None
            self.emit(c, "exec_start: " + " ".join(e.config["Cmd"]), execID=eid)
            detached = False
            if listener is not None:
                p, detached = await self._run_tty(
                    e, argv, listener, None if detach else conn, attach_in, multiplexed
                )
            else:
                p = await self._run_pipes(e, argv, None if detach else conn, attach_in, multiplexed)
            if detached:  # the client typed the detach keys: the process runs on without it
                asyncio.ensure_future(self._finish_later(e, c, p, listener, tmp))
                return
            await self._exited(e, p, tmp, conn if tty else None)
        except BaseException:
            self._finish(e, listener, tmp)
            self.emit(c, "exec_die", execID=eid, exitCode=str(e.exit_code))
            raise
        self._finish(e, listener, tmp)
        self.emit(c, "exec_die", execID=eid, exitCode=str(e.exit_code))

    async def _exited(
        self, e: Exec, p: asyncio.subprocess.Process, tmp: str, tty_conn: Client | None
    ) -> None:
        rc = await p.wait()
        # no pid file: the runtime failed before the process ran (not found, not executable);
        # Docker reports such an exec as exit code 126
        e.exit_code = rc if rc == 0 or os.path.exists(f"{tmp}/exec.pid") else 126
        if tty_conn is not None and p.stderr is not None and rc != 0:
            err = await p.stderr.read()
            if err and e.config.get("AttachStderr", True):
                await tty_conn.write(err)

    async def _finish_later(
        self, e: Exec, c: Container, p: asyncio.subprocess.Process, listener: socket.socket | None, tmp: str
    ) -> None:
        """A detached exec: its terminal drained so it never blocks, its end recorded."""
        try:
            if e.master_fd >= 0:
                await self._drain_pty(e.master_fd, None)
            await self._exited(e, p, tmp, None)
        finally:
            self._finish(e, listener, tmp)
            self.emit(c, "exec_die", execID=e.id, exitCode=str(e.exit_code))

    async def _run_tty(
        self,
        e: Exec,
        argv: list[str],
        listener: socket.socket,
        conn: Client | None,
        attach_in: bool,
        multiplexed: bool,
    ) -> tuple[asyncio.subprocess.Process, bool]:
        """The runtime hands the pty's master over the console socket; it is pumped to the client
        (True: until the client typed the detach keys)."""
        p = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        e.proc = p
        try:
            peer, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(listener), 10)
        except TimeoutError:
            err = await p.stderr.read() if p.stderr else b""
            await p.wait()
            raise Conflict(err.decode().strip() or "exec: no console received") from None
        master = _recv_fd(peer)
        peer.close()
        e.master_fd = master
        if conn is None:
            await self._drain_pty(master, None)
            return p, False
        keys = detach_keys.parse(e.config.get("DetachKeys") or None)
        return p, await self._pump_pty(master, conn, attach_in, multiplexed, keys)

    async def _run_pipes(
        self, e: Exec, argv: list[str], conn: Client | None, attach_in: bool, multiplexed: bool
    ) -> asyncio.subprocess.Process:
        pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        out = pipe if conn is not None else null
        p = await asyncio.create_subprocess_exec(
            *argv, stdin=pipe if attach_in else null, stdout=out, stderr=out
        )
        e.proc = p
        if conn is not None:
            await self._pump_pipes(p, conn, attach_in, multiplexed)
        return p

    @staticmethod
    def _finish(e: Exec, listener: socket.socket | None, tmp: str) -> None:
        e.running = False
        if e.exit_code is None:
            e.exit_code = 126
        if e.master_fd >= 0:
            try:
                os.close(e.master_fd)
            except OSError:
                pass
            e.master_fd = -1
        if listener is not None:
            listener.close()
        trees.remove_tree(tmp, ignore_errors=True)
        e.done.set()

    async def _pump_pipes(
        self, p: asyncio.subprocess.Process, conn: Client, attach_in: bool, multiplexed: bool
    ) -> None:
        from wharf.engine.logs import frame

        async def out(stream: asyncio.StreamReader | None, name: str) -> None:
            if stream is None:
                return
            while True:
                data = await stream.read(32768)
                if not data:
                    return
                await conn.write(frame(name, data) if multiplexed else data)

        async def inp() -> None:
            assert p.stdin is not None
            while True:
                data = await conn.reader.read(32768)
                if not data:
                    break
                p.stdin.write(data)
                try:
                    await p.stdin.drain()
                except (BrokenPipeError, ConnectionResetError):
                    return
            p.stdin.close()

        tasks = [
            asyncio.ensure_future(out(p.stdout, "stdout")),
            asyncio.ensure_future(out(p.stderr, "stderr")),
        ]
        in_task = asyncio.ensure_future(inp()) if attach_in else None
        await asyncio.gather(*tasks)
        if in_task is not None:
            in_task.cancel()

    async def _pump_pty(
        self, master: int, conn: Client, attach_in: bool, multiplexed: bool, keys: bytes
    ) -> bool:
        """The pty's output to the client: framed as stdout when the start asked for no terminal
        (dockerd frames by the start's Tty, not the exec's)."""
        from wharf.engine.logs import frame

        loop = asyncio.get_running_loop()
        os.set_blocking(master, False)
        q: asyncio.Queue[bytes] = asyncio.Queue()

        def readable() -> None:
            try:
                data = os.read(master, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            q.put_nowait(data)
            if not data:
                loop.remove_reader(master)

        loop.add_reader(master, readable)

        detached = False
        watch = detach_keys.Watch(keys)

        async def inp() -> None:
            nonlocal detached
            while True:
                data = await conn.reader.read(32768)
                if not data:
                    return
                data, detached = watch.feed(data)
                try:
                    if data:
                        os.write(master, data)
                except OSError:
                    return
                if detached:
                    q.put_nowait(b"")  # ends the output loop: the client goes, the process stays
                    return

        in_task = asyncio.ensure_future(inp()) if attach_in else None
        try:
            while True:
                data = await q.get()
                if not data:
                    break
                if not await conn.write(frame("stdout", data) if multiplexed else data):
                    break
        finally:
            loop.remove_reader(master)
            if in_task is not None:
                in_task.cancel()
        return detached

    async def _drain_pty(self, master: int, conn: None) -> None:
        loop = asyncio.get_running_loop()
        os.set_blocking(master, False)
        done: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            try:
                data = os.read(master, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(master)
                if not done.done():
                    done.set_result(None)

        loop.add_reader(master, readable)
        await done

    def resize(self, eid: str, h: int, w: int) -> None:
        e = self.get(eid)
        if e.master_fd < 0:
            if not e.running:
                raise Conflict(f"Exec {eid} is not running")
            return
        set_winsize(e.master_fd, h, w)


def _console_listener(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.setblocking(False)
    return listener


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _recv_fd(sock: socket.socket) -> int:
    sock.setblocking(True)
    fds = array.array("i")
    msg, anc, _, _ = sock.recvmsg(1024, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if not fds:
        raise Conflict("exec: the runtime sent no console")
    return fds[0]
