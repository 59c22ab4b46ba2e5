"""``wharf exec``: a new process in a running container, attached over a hijacked connection
(or detached); the exit code is the process's, read from the exec's inspect once it ends."""

from __future__ import annotations

import argparse
import time
from typing import Any

from wharf.cli import streams
from wharf.cli.main import CANNOT_INVOKE, parser
from wharf.client import Client


def _exec_args(prog: str, args: list[str]) -> argparse.Namespace:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER COMMAND [ARG...]")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--detach-keys", default="")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("--env-file", action="append", default=[])
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-u", "--user", default="")
    p.add_argument("-w", "--workdir", default="")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)
    o = p.parse_args(args)
    if not o.command:
        p.error("requires at least 2 arguments")
    return o


def exec_body(o: argparse.Namespace) -> dict[str, Any]:
    """``exec``'s flags → the body of POST /containers/{id}/exec."""
    from wharf.cli.options import kv_list

    return {
        "AttachStdin": o.interactive and not o.detach,
        "AttachStdout": not o.detach,
        "AttachStderr": not o.detach,
        "Tty": o.tty,
        "Cmd": o.command,
        "Env": kv_list(o.env, o.env_file, "env"),
        "WorkingDir": o.workdir,
        "User": o.user,
        "Privileged": o.privileged,
        "DetachKeys": o.detach_keys,
    }


def cmd_exec(client: Client, prog: str, args: list[str]) -> int:
    o = _exec_args(prog, args)
    eid = client.call("POST", f"/containers/{o.container}/exec", None, exec_body(o))["Id"]
    if o.detach:
        client.call("POST", f"/exec/{eid}/start", None, {"Detach": True, "Tty": o.tty})
        return 0
    sock, multiplexed = client.hijack(f"/exec/{eid}/start", None, {"Detach": False, "Tty": o.tty})
    streams.attached(
        client, o.container, sock, multiplexed, o.interactive, o.tty, False, f"/exec/{eid}/resize"
    )
    for _ in range(50):
        info = client.call("GET", f"/exec/{eid}/json")
        if not info.get("Running"):
            code = info.get("ExitCode")
            return int(code) if code is not None else CANNOT_INVOKE
        time.sleep(0.02)
    return 0
