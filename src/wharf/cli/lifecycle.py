"""Moving containers through their lifecycle: stop, restart, kill, rm, pause, unpause, wait,
rename, update. Each takes several containers where Docker's does, acting on each in turn."""

from __future__ import annotations

import json
import sys
from typing import Any

from wharf.cli.create_body import parse_cpus
from wharf.cli.main import UsageError, each, parser, report
from wharf.client import APIError, Client

Flag = tuple[list[str], dict[str, Any]]


def _containers_args(prog: str, args: list[str], extra: list[Flag] | None = None) -> Any:
    """``[OPTIONS] CONTAINER [CONTAINER...]``, the options being ``extra``."""
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]")
    for flags, kw in extra or []:
        p.add_argument(*flags, **kw)
    p.add_argument("containers", nargs="+")
    return p.parse_args(args)


def _stop_or_restart(client: Client, prog: str, args: list[str], action: str) -> int:
    timeout: Flag = (["-t", "--time", "--timeout"], {"type": int, "default": None})
    sig: Flag = (["-s", "--signal"], {"default": None})
    o = _containers_args(prog, args, [timeout, sig])
    q = {"t": o.time, "signal": o.signal}
    return each(o.containers, lambda c: client.call("POST", f"/containers/{c}/{action}", q))


def cmd_stop(client: Client, prog: str, args: list[str]) -> int:
    return _stop_or_restart(client, prog, args, "stop")


def cmd_restart(client: Client, prog: str, args: list[str]) -> int:
    return _stop_or_restart(client, prog, args, "restart")


def cmd_kill(client: Client, prog: str, args: list[str]) -> int:
    o = _containers_args(prog, args, [(["-s", "--signal"], {"default": None})])
    return each(o.containers, lambda c: client.call("POST", f"/containers/{c}/kill", {"signal": o.signal}))


def cmd_rm(client: Client, prog: str, args: list[str]) -> int:
    o = _containers_args(
        prog,
        args,
        [
            (["-f", "--force"], {"action": "store_true"}),
            (["-v", "--volumes"], {"action": "store_true"}),
            (["-l", "--link"], {"action": "store_true"}),
        ],
    )
    q = {"force": "1" if o.force else None, "v": "1" if o.volumes else None, "link": "1" if o.link else None}
    return each(o.containers, lambda c: client.call("DELETE", f"/containers/{c.strip('/')}", q))


def cmd_pause(client: Client, prog: str, args: list[str]) -> int:
    o = _containers_args(prog, args)
    return each(o.containers, lambda c: client.call("POST", f"/containers/{c}/pause"))


def cmd_unpause(client: Client, prog: str, args: list[str]) -> int:
    o = _containers_args(prog, args)
    return each(o.containers, lambda c: client.call("POST", f"/containers/{c}/unpause"))


def cmd_wait(client: Client, prog: str, args: list[str]) -> int:
    o = _containers_args(prog, args)
    failed = False
    for c in o.containers:
        try:
            res = client.call("POST", f"/containers/{c}/wait")
        except APIError as exc:
            failed = True
            report(exc)
            continue
        if isinstance(res, bytes):
            res = json.loads(res)
        print(res.get("StatusCode"), flush=True)
    return 1 if failed else 0


def cmd_rename(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} CONTAINER NEW_NAME")
    p.add_argument("container")
    p.add_argument("new_name")
    o = p.parse_args(args)
    if not o.new_name.strip():
        raise UsageError("Neither old nor new names may be empty")
    client.call("POST", f"/containers/{o.container}/rename", {"name": o.new_name})
    return 0


def _update_args(prog: str, args: list[str]) -> Any:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("--cpus", default="")
    p.add_argument("-c", "--cpu-shares", type=int, default=None)
    p.add_argument("--cpu-period", type=int, default=None)
    p.add_argument("--cpu-quota", type=int, default=None)
    p.add_argument("--cpuset-cpus", default=None)
    p.add_argument("--cpuset-mems", default=None)
    p.add_argument("-m", "--memory", default="")
    p.add_argument("--memory-reservation", default="")
    p.add_argument("--memory-swap", default="")
    p.add_argument("--pids-limit", type=int, default=None)
    p.add_argument("--restart", default="")
    p.add_argument("containers", nargs="+")
    return p.parse_args(args)


def update_body(o: Any) -> dict[str, Any]:
    """``update``'s flags → the body of POST /containers/{id}/update: only what was given."""
    from wharf.cli.options import parse_bytes, restart_policy

    body: dict[str, Any] = {}
    if o.cpus:
        body["NanoCpus"] = parse_cpus(o.cpus)
    for key, val in (
        ("CpuShares", o.cpu_shares),
        ("CpuPeriod", o.cpu_period),
        ("CpuQuota", o.cpu_quota),
        ("CpusetCpus", o.cpuset_cpus),
        ("CpusetMems", o.cpuset_mems),
        ("PidsLimit", o.pids_limit),
    ):
        if val is not None:
            body[key] = val
    if o.memory:
        body["Memory"] = parse_bytes(o.memory)
    if o.memory_reservation:
        body["MemoryReservation"] = parse_bytes(o.memory_reservation)
    if o.memory_swap:
        body["MemorySwap"] = -1 if o.memory_swap == "-1" else parse_bytes(o.memory_swap)
    if o.restart:
        body["RestartPolicy"] = restart_policy(o.restart)
    if not body:
        raise UsageError("you must provide one or more flags when using this command")
    return body


def cmd_update(client: Client, prog: str, args: list[str]) -> int:
    o = _update_args(prog, args)
    body = update_body(o)

    def upd(c: str) -> None:
        res = client.call("POST", f"/containers/{c}/update", None, body)
        for w in (res or {}).get("Warnings") or []:
            sys.stderr.write(f"WARNING: {w}\n")

    return each(o.containers, upd)
