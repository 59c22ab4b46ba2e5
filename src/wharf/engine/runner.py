"""Running a container's OCI runtime: wharf's own in-process where no new process is needed,
any runtime (``runc``, or wharf-runtime for create/exec) as a command.

With wharf's runtime, the operations that need no new process (start, kill, pause, resume,
delete: a fifo write, a signal, cgroup files) run in an executor thread through the runtime's
library: each saves a Python interpreter start (~15 ms). ``blocking`` is how every engine
module runs blocking work off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from wharf.engine.config import DaemonConfig
from wharf.errors import FailedPrecondition, WharfError

T = TypeVar("T")
_LIBRARY_OPS = ("start", "kill", "pause", "resume", "delete")


async def blocking(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the default executor."""
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class RuntimeRunner:
    def __init__(self, cfg: DaemonConfig, root: str) -> None:
        self.cfg = cfg
        self.root = root

    def argv(self, runtime: str, *args: str) -> list[str]:
        """The command line that runs ``runtime`` (a runtime name) with ``args``."""
        return [self.cfg.runtime_path(runtime), "--root", self.root, *args]

    async def run(self, runtime: str, *args: str, check: bool = True) -> tuple[int, str]:
        """Run the runtime with ``args``; returns (status, output). ``check``: a failure raises
        FailedPrecondition with the runtime's own message."""
        if runtime == "wharf" and args and args[0] in _LIBRARY_OPS:
            try:
                await blocking(_library_op, self.root, list(args))
            except WharfError as exc:
                if check:
                    raise FailedPrecondition(str(exc)) from None
                return 1, str(exc)
            return 0, ""
        proc = await asyncio.create_subprocess_exec(
            *self.argv(runtime, *args),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        text = out.decode("utf-8", "replace").strip()
        if check and proc.returncode != 0:
            raise FailedPrecondition(runtime_message(text))
        return proc.returncode or 0, text


def runtime_message(text: str) -> str:
    """The one line that matters of a runtime's error output (wharf-runtime or runc's logrus)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return "OCI runtime failed"
    last = lines[-1]
    if 'msg="' in last:
        last = last.split('msg="', 1)[1].rsplit('"', 1)[0]
    for prefix in ("wharf-runtime: ", "runc: "):
        if last.startswith(prefix):
            last = last[len(prefix) :]
    return last


def start_error_code(msg: str) -> int:
    """Docker's exit code for a process that could not start: 127 not found, 126 not executable."""
    if "executable file not found" in msg or "no such file or directory" in msg.lower():
        return 127
    if "permission denied" in msg.lower():
        return 126
    return 128


def _library_op(root: str, args: list[str]) -> None:
    from wharf.runtime import container as rt

    op = args[0]
    if op == "delete":
        rt.delete(root, args[-1], "--force" in args)
    elif op == "kill":
        rt.kill(root, args[1], rt.parse_signal(args[2] if len(args) > 2 else "TERM"))
    elif op == "start":
        rt.start(root, args[1])
    elif op == "pause":
        rt.pause(root, args[1])
    elif op == "resume":
        rt.resume(root, args[1])
