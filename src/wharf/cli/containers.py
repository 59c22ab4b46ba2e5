"""Container commands: run, create, start, stop, ps, logs, exec, attach, inspect, stats, ..."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC
from typing import Any

from wharf.cli import format as fmt
from wharf.cli import streams
from wharf.cli.main import Exit, Parser, UsageError, die, each, parser
from wharf.client import APIError, Client

# ---------------------------------------------------------------- run / create / start


def _exit_code_for_start_error(message: str) -> int:
    """The docker CLI's mapping of a failed start to 126 (cannot invoke) / 127 (not found)."""
    if any(s in message for s in ("executable file not found", "no such file or directory")):
        return 127
    if "permission denied" in message or "is a directory" in message:
        return 126
    return 125


def _create(client: Client, o: Any, prog: str) -> str:
    from wharf.cli.create_body import build_create_body

    body, name = build_create_body(o)
    query = {"name": name or None, "platform": o.platform or None}
    if o.pull == "always":
        from wharf.cli.images import pull_image

        pull_image(client, o.image, o.platform, sys.stderr, quiet=o.quiet)
    try:
        created = client.call("POST", "/containers/create", query, body)
    except APIError as exc:
        if exc.status != 404 or "No such image" not in exc.message or o.pull == "never":
            raise
        from wharf.cli.images import pull_image

        sys.stderr.write(f"Unable to find image '{o.image}' locally\n")
        sys.stderr.flush()
        pull_image(client, o.image, o.platform, sys.stderr, quiet=o.quiet)
        created = client.call("POST", "/containers/create", query, body)
    for w in created.get("Warnings") or []:
        sys.stderr.write(f"WARNING: {w}\n")
    cid: str = created["Id"]
    if o.cidfile:
        try:
            fd = os.open(o.cidfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            die(
                "wharf: Container ID file found, make sure the other container isn't running"
                f" or delete {o.cidfile}",
                125,
            )
        with os.fdopen(fd, "w") as f:
            f.write(cid)
    return cid


def cmd_create(client: Client, prog: str, args: list[str]) -> int:
    from wharf.cli.options import add_run_flags

    p = parser(prog, f"{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]")
    add_run_flags(p)
    o = p.parse_args(args)
    try:
        print(_create(client, o, prog))
    except APIError as exc:
        die(f"wharf: Error response from daemon: {exc.message}", 125)
    return 0


class _SigProxy:
    """Forward SIGINT/SIGTERM etc. to the container (docker run/attach --sig-proxy)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)

    def __init__(self, client: Client, cid: str) -> None:
        self.client = client
        self.cid = cid

    def __enter__(self) -> _SigProxy:
        for s in self.SIGNALS:
            signal.signal(s, self._forward)
        return self

    def _forward(self, signum: int, frame: object) -> None:
        def send() -> None:
            try:
                self.client.call("POST", f"/containers/{self.cid}/kill", {"signal": str(signum)})
            except Exception:
                pass

        threading.Thread(target=send, daemon=True).start()

    def __exit__(self, *exc: object) -> None:
        for s in self.SIGNALS:
            signal.signal(s, signal.SIG_DFL)


def _stream_attached(
    client: Client,
    cid: str,
    sock: Any,
    multiplexed: bool,
    stdin: bool,
    tty: bool,
    proxy: bool,
    resize_path: str,
) -> None:
    """Pump the hijacked connection until the container's output ends."""
    stop = threading.Event()
    raw_ctx = streams.RawTerminal(sys.stdin.fileno()) if (tty and stdin and os.isatty(0)) else None
    if tty and os.isatty(1):

        def resize(h: int, w: int) -> None:
            client.call("POST", resize_path, {"h": h, "w": w})

        h, w = streams.terminal_size()
        if h and w:
            try:
                resize(h, w)
            except APIError:
                pass
        streams.on_resize(resize)
    if stdin:
        threading.Thread(target=streams.pump_stdin, args=(sock, stop), daemon=True).start()
    try:
        if raw_ctx is not None:
            with raw_ctx:
                streams.demux(sock.recv, multiplexed)
        elif proxy and not tty:
            with _SigProxy(client, cid):
                streams.demux(sock.recv, multiplexed)
        else:
            streams.demux(sock.recv, multiplexed)
    finally:
        stop.set()
        sock.close()


def cmd_run(client: Client, prog: str, args: list[str]) -> int:
    from wharf.cli.options import add_run_flags

    p = parser(prog, f"{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]")
    add_run_flags(p)
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--sig-proxy", default="true")
    p.add_argument("--detach-keys", default="")
    o = p.parse_args(args)
    try:
        cid = _create(client, o, prog)
    except APIError as exc:
        die(f"wharf: Error response from daemon: {exc.message}", 125)
    if o.detach:
        try:
            client.call("POST", f"/containers/{cid}/start")
        except APIError as exc:
            die(f"wharf: Error response from daemon: {exc.message}", _exit_code_for_start_error(exc.message))
        print(cid)
        return 0
    attach = [x.lower() for x in o.attach] or ["stdout", "stderr"] + (["stdin"] if o.interactive else [])
    query = {
        "stream": "1",
        "stdin": "1" if "stdin" in attach else "0",
        "stdout": "1" if "stdout" in attach else "0",
        "stderr": "1" if "stderr" in attach else "0",
    }
    if o.detach_keys:
        query["detachKeys"] = o.detach_keys
    sock, multiplexed = client.hijack(f"/containers/{cid}/attach", query)
    waiter = client.stream(
        "POST", f"/containers/{cid}/wait", {"condition": "removed" if o.rm else "next-exit"}
    )
    try:
        client.call("POST", f"/containers/{cid}/start")
    except APIError as exc:
        sock.close()
        sys.stderr.write(f"wharf: Error response from daemon: {exc.message}\n")
        return _exit_code_for_start_error(exc.message)
    _stream_attached(
        client,
        cid,
        sock,
        multiplexed,
        "stdin" in attach,
        o.tty,
        o.sig_proxy.lower() not in ("false", "0"),
        f"/containers/{cid}/resize",
    )
    try:
        result = json.loads(waiter.read() or b"{}")
    except (OSError, ValueError):
        result = {}
    if (result.get("Error") or {}).get("Message"):
        sys.stderr.write(f"wharf: {result['Error']['Message']}\n")
    code = result.get("StatusCode")
    if code is None:  # the wait connection broke: ask the daemon
        try:
            code = client.call("GET", f"/containers/{cid}/json")["State"]["ExitCode"]
        except APIError:
            code = 125
    return int(code)


def cmd_start(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]")
    p.add_argument("-a", "--attach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("--detach-keys", default="")
    p.add_argument("containers", nargs="+")
    o = p.parse_args(args)
    if o.attach or o.interactive:
        if len(o.containers) > 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        name = o.containers[0]
        info = client.call("GET", f"/containers/{name}/json")
        cid = info["Id"]
        tty = bool(info["Config"]["Tty"])
        query = {"stream": "1", "stdin": "1" if o.interactive else "0", "stdout": "1", "stderr": "1"}
        sock, multiplexed = client.hijack(f"/containers/{cid}/attach", query)
        waiter = client.stream("POST", f"/containers/{cid}/wait", {"condition": "next-exit"})
        try:
            client.call("POST", f"/containers/{cid}/start")
        except APIError as exc:
            sock.close()
            die(f"Error response from daemon: {exc.message}", 1)
        _stream_attached(
            client, cid, sock, multiplexed, o.interactive, tty, True, f"/containers/{cid}/resize"
        )
        try:
            return int(json.loads(waiter.read() or b"{}").get("StatusCode", 0))
        except (OSError, ValueError):
            return 0
    failed = False
    for name in o.containers:
        try:
            client.call("POST", f"/containers/{name}/start")
        except APIError as exc:
            failed = True
            sys.stderr.write(f"Error response from daemon: {exc.message}\n")
            continue
        print(name, flush=True)
    if failed:
        sys.stderr.write("Error: failed to start containers: " + " ".join(o.containers) + "\n")
    return 1 if failed else 0


def _simple(prog: str, args: list[str], extra: list[tuple[list[str], dict[str, Any]]] | None = None) -> Any:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER [CONTAINER...]")
    for flags, kw in extra or []:
        p.add_argument(*flags, **kw)
    p.add_argument("containers", nargs="+")
    return p.parse_args(args)


def _stop_or_restart(client: Client, prog: str, args: list[str], action: str) -> int:
    timeout: tuple[list[str], dict[str, Any]] = (
        ["-t", "--time", "--timeout"],
        {"type": int, "default": None},
    )
    sig: tuple[list[str], dict[str, Any]] = (["-s", "--signal"], {"default": None})
    o = _simple(prog, args, [timeout, sig])
    q = {"t": o.time, "signal": o.signal}
    return each(o.containers, lambda c: client.call("POST", f"/containers/{c}/{action}", q))


def cmd_stop(client: Client, prog: str, args: list[str]) -> int:
    return _stop_or_restart(client, prog, args, "stop")


def cmd_restart(client: Client, prog: str, args: list[str]) -> int:
    return _stop_or_restart(client, prog, args, "restart")


def cmd_kill(client: Client, prog: str, args: list[str]) -> int:
    o = _simple(prog, args, [(["-s", "--signal"], {"default": None})])
    return each(o.containers, lambda c: client.call("POST", f"/containers/{c}/kill", {"signal": o.signal}))


def cmd_rm(client: Client, prog: str, args: list[str]) -> int:
    o = _simple(
        prog,
        args,
        [
            (["-f", "--force"], {"action": "store_true"}),
            (["-v", "--volumes"], {"action": "store_true"}),
            (["-l", "--link"], {"action": "store_true"}),
        ],
    )
    q = {"force": "1" if o.force else None, "v": "1" if o.volumes else None}
    return each(o.containers, lambda c: client.call("DELETE", f"/containers/{c}", q))


def cmd_pause(client: Client, prog: str, args: list[str]) -> int:
    o = _simple(prog, args)
    return each(o.containers, lambda c: client.call("POST", f"/containers/{c}/pause"))


def cmd_unpause(client: Client, prog: str, args: list[str]) -> int:
    o = _simple(prog, args)
    return each(o.containers, lambda c: client.call("POST", f"/containers/{c}/unpause"))


def cmd_wait(client: Client, prog: str, args: list[str]) -> int:
    o = _simple(prog, args)
    failed = False
    for c in o.containers:
        try:
            res = client.call("POST", f"/containers/{c}/wait")
        except APIError as exc:
            failed = True
            sys.stderr.write(f"Error response from daemon: {exc.message}\n")
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


def cmd_update(client: Client, prog: str, args: list[str]) -> int:
    from wharf.cli.options import parse_bytes

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
    o = p.parse_args(args)
    body: dict[str, Any] = {}
    if o.cpus:
        body["NanoCpus"] = int(round(float(o.cpus) * 1e9))
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
        from wharf.cli.options import restart_policy

        body["RestartPolicy"] = restart_policy(o.restart)
    if not body:
        raise UsageError("you must provide one or more flags when using this command")

    def upd(c: str) -> None:
        res = client.call("POST", f"/containers/{c}/update", None, body)
        for w in (res or {}).get("Warnings") or []:
            sys.stderr.write(f"WARNING: {w}\n")

    return each(o.containers, upd)


# ---------------------------------------------------------------- ps


def _ports(ports: list[dict[str, Any]]) -> str:
    out = []
    for p in sorted(ports or [], key=lambda x: (x.get("PrivatePort", 0), x.get("IP", ""))):
        proto = p.get("Type", "tcp")
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            out.append(f"{ip}:{p['PublicPort']}->{p['PrivatePort']}/{proto}")
        else:
            out.append(f"{p['PrivatePort']}/{proto}")
    return ", ".join(out)


def _ps_row(c: dict[str, Any], trunc: bool) -> dict[str, Any]:
    cmd = c.get("Command") or ""
    names = [n.lstrip("/") for n in c.get("Names") or []]
    size = ""
    if "SizeRw" in c:
        size = f"{fmt.human_size(c.get('SizeRw') or 0)} (virtual {fmt.human_size(c.get('SizeRootFs') or 0)})"
    image = c.get("Image") or ""
    if trunc and image.startswith("sha256:"):
        image = image[7:19]
    created = float(c.get("Created") or 0)
    return {
        "ID": c["Id"][:12] if trunc else c["Id"],
        "Image": image,
        "Command": json.dumps(fmt.truncate(cmd, 20) if trunc else cmd, ensure_ascii=False),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
        "RunningFor": fmt.ago(created),
        "Ports": _ports(c.get("Ports") or []),
        "State": c.get("State", ""),
        "Status": c.get("Status", ""),
        "Size": size,
        "Names": ",".join(names),
        "Labels": ",".join(f"{k}={v}" for k, v in (c.get("Labels") or {}).items()),
        "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in c.get("Mounts") or []),
        "Networks": ",".join((c.get("NetworkSettings") or {}).get("Networks") or {}),
    }


PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
}


def filters_arg(values: list[str]) -> dict[str, list[str]] | None:
    out: dict[str, list[str]] = {}
    for v in values:
        k, eq, val = v.partition("=")
        if not eq:
            raise UsageError(f"bad format of filter (expected name=value): {v}")
        out.setdefault(k.strip().lower(), []).append(val)
    return out or None


def cmd_ps(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default="")
    p.add_argument("-n", "--last", type=int, default=-1)
    p.add_argument("-l", "--latest", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-s", "--size", action="store_true")
    o = p.parse_args(args)
    limit = 1 if o.latest else o.last
    query = {
        "all": "1" if o.all or limit > 0 else None,
        "limit": str(limit) if limit > 0 else None,
        "size": "1" if o.size else None,
        "filters": filters_arg(o.filter),
    }
    rows = [_ps_row(c, not o.no_trunc) for c in client.call("GET", "/containers/json", query) or []]
    if o.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    template = (
        o.format
        or "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
    )
    if not o.format and o.size:
        template = template.replace("{{.Names}}", "{{.Names}}\t{{.Size}}")
    if template == "table":
        template = (
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
        )
    out = fmt.format_rows(template, rows, PS_HEADERS)
    if out:
        print(out)
    return 0


# ---------------------------------------------------------------- logs / attach / exec


def get_timestamp(value: str) -> str:
    """Docker's --since/--until: a Go duration before now, RFC 3339, or Unix seconds."""
    if not value:
        return value
    from wharf.cli.options import parse_duration

    try:
        return f"{time.time() - parse_duration(value) / 1e9:.9f}"
    except UsageError:
        pass
    if value.replace(".", "", 1).isdigit():
        return value
    from datetime import datetime

    v = value.replace("Z", "+00:00")
    forms = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
             "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M", "%Y-%m-%d")  # fmt: skip
    for form in forms:
        try:
            dt = datetime.strptime(v, form)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=datetime.now().astimezone().tzinfo or UTC)
        return f"{dt.timestamp():.9f}"
    raise UsageError(f'failed to parse value as time or duration: "{value}"')


def cmd_logs(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER")
    p.add_argument("--details", action="store_true")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--since", default="")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--until", default="")
    p.add_argument("container")
    o = p.parse_args(args)
    query = {
        "stdout": "1",
        "stderr": "1",
        "follow": "1" if o.follow else None,
        "since": get_timestamp(o.since) or None,
        "until": get_timestamp(o.until) or None,
        "timestamps": "1" if o.timestamps else None,
        "tail": o.tail,
        "details": "1" if o.details else None,
    }
    resp = client.stream("GET", f"/containers/{o.container}/logs", query)
    multiplexed = "multiplexed" in (resp.getheader("Content-Type") or "")
    streams.demux(resp.read1, multiplexed)
    return 0


def cmd_attach(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER")
    p.add_argument("--detach-keys", default="")
    p.add_argument("--no-stdin", action="store_true")
    p.add_argument("--sig-proxy", default="true")
    p.add_argument("container")
    o = p.parse_args(args)
    info = client.call("GET", f"/containers/{o.container}/json")
    cid = info["Id"]
    state = info["State"]
    if not state.get("Running"):
        die("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        die("You cannot attach to a paused container, unpause it first")
    stdin = not o.no_stdin and bool(info["Config"].get("OpenStdin"))
    tty = bool(info["Config"].get("Tty"))
    query = {"stream": "1", "stdin": "1" if stdin else "0", "stdout": "1", "stderr": "1"}
    if o.detach_keys:
        query["detachKeys"] = o.detach_keys
    sock, multiplexed = client.hijack(f"/containers/{cid}/attach", query)
    _stream_attached(
        client, cid, sock, multiplexed, stdin, tty, o.sig_proxy.lower() not in ("false", "0"),
        f"/containers/{cid}/resize",
    )  # fmt: skip
    try:
        after = client.call("GET", f"/containers/{cid}/json")["State"]
    except APIError:
        return 0
    if after.get("Running"):
        return 0  # detached, or the stream closed under us
    return int(after.get("ExitCode") or 0)


def cmd_exec(client: Client, prog: str, args: list[str]) -> int:
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
    from wharf.cli.options import kv_list

    body = {
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
    eid = client.call("POST", f"/containers/{o.container}/exec", None, body)["Id"]
    if o.detach:
        client.call("POST", f"/exec/{eid}/start", None, {"Detach": True, "Tty": o.tty})
        return 0
    sock, multiplexed = client.hijack(f"/exec/{eid}/start", None, {"Detach": False, "Tty": o.tty})
    _stream_attached(
        client, o.container, sock, multiplexed, o.interactive, o.tty, False, f"/exec/{eid}/resize"
    )
    for _ in range(50):
        info = client.call("GET", f"/exec/{eid}/json")
        if not info.get("Running"):
            code = info.get("ExitCode")
            return int(code) if code is not None else 126
        time.sleep(0.02)
    return 0


# ---------------------------------------------------------------- inspect / top / port / diff / export


def cmd_inspect(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] NAME|ID [NAME|ID...]")
    p.add_argument("-f", "--format", default="")
    p.add_argument("-s", "--size", action="store_true")
    p.add_argument("--type", default="", choices=["", "container", "image", "network", "volume"])
    p.add_argument("names", nargs="+")
    o = p.parse_args(args)
    objs: list[Any] = []
    failed = False
    for name in o.names:
        obj = None
        kinds = [o.type] if o.type else ["container", "image", "network", "volume"]
        for kind in kinds:
            path = {
                "container": f"/containers/{name}/json",
                "image": f"/images/{name}/json",
                "network": f"/networks/{name}",
                "volume": f"/volumes/{name}",
            }[kind]
            try:
                obj = client.call("GET", path, {"size": "1"} if o.size and kind == "container" else None)
                break
            except APIError as exc:
                if exc.status != 404:
                    raise
        if obj is None:
            failed = True
            what = {"": "object", "container": "container", "image": "image"}.get(o.type, o.type)
            sys.stderr.write(f"Error: No such {what}: {name}\n")
            continue
        objs.append(obj)
    print_objects(objs, o.format)
    return 1 if failed else 0


def inspect_each(client: Client, names: list[str], path: str, template: str,
                 query: dict[str, Any] | None = None) -> int:  # fmt: skip
    """``network inspect``/``volume inspect``: each object by name (``path`` with ``{}``), the
    daemon's words for the missing ones, exit 1 if any was missing."""
    objs: list[Any] = []
    failed = False
    for name in names:
        try:
            objs.append(client.call("GET", path.format(name), query))
        except APIError as exc:
            if exc.status != 404:
                raise
            failed = True
            sys.stderr.write(f"Error response from daemon: {exc.message}\n")
    print_objects(objs, template)
    return 1 if failed else 0


def print_objects(objs: list[Any], template: str) -> None:
    if template:
        for obj in objs:
            print(fmt.render(template, obj))
    else:
        print(json.dumps(objs, indent=4, ensure_ascii=False))


def cmd_top(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} CONTAINER [ps OPTIONS]")
    p.add_argument("container")
    p.add_argument("ps_args", nargs="*")
    o, extra = p.parse_known_args(args)
    ps_args = " ".join([*o.ps_args, *extra])
    res = client.call("GET", f"/containers/{o.container}/top", {"ps_args": ps_args or None})
    rows = [list(res.get("Titles") or [])] + [list(r) for r in res.get("Processes") or []]
    print(fmt.table(rows))
    return 0


def cmd_port(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} CONTAINER [PRIVATE_PORT[/PROTO]]")
    p.add_argument("container")
    p.add_argument("port", nargs="?")
    o = p.parse_args(args)
    info = client.call("GET", f"/containers/{o.container}/json")
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if o.port:
        key = o.port if "/" in o.port else f"{o.port}/tcp"
        bindings = ports.get(key)
        if not bindings:
            die(f"Error: No public port '{key}' published for {o.container}")
        for b in bindings:
            print(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}")
        return 0
    for key in sorted(ports, key=lambda k: (int(k.split("/")[0]), k)):
        for b in ports[key] or []:
            ip = b.get("HostIp") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            print(f"{key} -> {ip}:{b.get('HostPort')}")
    return 0


def cmd_diff(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} CONTAINER")
    p.add_argument("container")
    o = p.parse_args(args)
    for ch in client.call("GET", f"/containers/{o.container}/changes") or []:
        print(f"{'CAD'[ch['Kind']]} {ch['Path']}")
    return 0


def copy_to_output(resp: Any, output: str, what: str) -> None:
    if output and output != "-":
        tmp = output + ".wharf-tmp"
        with open(tmp, "wb") as f:
            while chunk := resp.read1(1 << 20):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, output)
        return
    if os.isatty(sys.stdout.fileno()):
        die("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    out = sys.stdout.buffer
    while chunk := resp.read1(1 << 20):
        out.write(chunk)
    out.flush()


def cmd_export(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER")
    p.add_argument("-o", "--output", default="")
    p.add_argument("container")
    o = p.parse_args(args)
    if not o.output and os.isatty(sys.stdout.fileno()):
        die("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    copy_to_output(client.stream("GET", f"/containers/{o.container}/export"), o.output, "container")
    return 0


def cmd_commit(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")
    p.add_argument("-a", "--author", default="")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-m", "--message", default="")
    p.add_argument("-p", "--pause", nargs="?", const="true", default="true")
    p.add_argument("container")
    p.add_argument("reference", nargs="?", default="")
    o = p.parse_args(args)
    repo, tag = o.reference, ""
    if "@" in repo:
        die("Error parsing reference: refusing to create a tag with a digest reference")
    head, sep, last = repo.rpartition(":")
    if sep and "/" not in last:
        repo, tag = head, last
    pause = "false" if o.pause.lower() in ("false", "0") else "true"
    query = {"container": o.container, "repo": repo, "tag": tag, "author": o.author, "comment": o.message,
             "pause": pause, "changes": o.change or None}  # fmt: skip
    resp = client.call("POST", "/commit", {k: v for k, v in query.items() if v}, {})
    print(resp["Id"])
    return 0


def print_deleted(title: str, names: list[str], end: str = "\n") -> None:
    """Docker's prune report for one kind of object: "Deleted Containers:", the names, and
    (``end``) a blank line."""
    if names:
        print(f"Deleted {title}:")
        print("\n".join(names), end="\n" + end)


def print_reclaimed(space: int) -> None:
    print(f"Total reclaimed space: {fmt.human_size(space)}")


def confirm(message: str, force: bool) -> bool:
    if force:
        return True
    sys.stdout.write(f"{message}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def cmd_container_prune(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("-f", "--force", action="store_true")
    o = p.parse_args(args)
    if not confirm("WARNING! This will remove all stopped containers.", o.force):
        return 0
    res = client.call("POST", "/containers/prune", {"filters": filters_arg(o.filter)})
    print_deleted("Containers", res.get("ContainersDeleted") or [])
    print_reclaimed(res.get("SpaceReclaimed") or 0)
    return 0


# ---------------------------------------------------------------- stats


def _bytes_binary(n: float) -> str:
    """go-units BytesSize: binary units (``1.5MiB``)."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"


def stats_row(s: dict[str, Any], name: str, trunc: bool) -> dict[str, str]:
    cpu = s.get("cpu_stats") or {}
    pre = s.get("precpu_stats") or {}
    cpu_delta = (cpu.get("cpu_usage") or {}).get("total_usage", 0) - (pre.get("cpu_usage") or {}).get(
        "total_usage", 0
    )
    sys_delta = (cpu.get("system_cpu_usage") or 0) - (pre.get("system_cpu_usage") or 0)
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or []) or 1
    cpu_pct = cpu_delta / sys_delta * online * 100.0 if sys_delta > 0 and cpu_delta > 0 else 0.0
    mem = s.get("memory_stats") or {}
    mstats = mem.get("stats") or {}
    usage = mem.get("usage") or 0
    inactive = mstats.get("total_inactive_file", mstats.get("inactive_file", 0)) or 0
    usage = usage - inactive if inactive < usage else usage
    limit = mem.get("limit") or 0
    mem_pct = usage / limit * 100.0 if limit else 0.0
    rx = tx = 0
    for net in (s.get("networks") or {}).values():
        rx += net.get("rx_bytes", 0)
        tx += net.get("tx_bytes", 0)
    rd = wr = 0
    for e in (s.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []:
        op = (e.get("op") or "").lower()
        if op == "read":
            rd += e.get("value", 0)
        elif op == "write":
            wr += e.get("value", 0)
    cid = s.get("id") or ""
    running = bool(mem) or bool(cpu.get("cpu_usage", {}).get("total_usage"))
    dash = "--"
    return {
        "Container": name,
        "ID": cid[:12] if trunc else cid,
        "Name": (s.get("name") or "").lstrip("/") or dash,
        "CPUPerc": f"{cpu_pct:.2f}%" if running else dash,
        "MemUsage": f"{_bytes_binary(usage)} / {_bytes_binary(limit)}" if running else "-- / --",
        "MemPerc": f"{mem_pct:.2f}%" if running else dash,
        "NetIO": f"{fmt.human_size(rx)} / {fmt.human_size(tx)}" if running else "-- / --",
        "BlockIO": f"{fmt.human_size(rd)} / {fmt.human_size(wr)}" if running else "-- / --",
        "PIDs": str((s.get("pids_stats") or {}).get("current", 0)) if running else dash,
    }


STATS_HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}


def cmd_stats(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] [CONTAINER...]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--format", default="")
    p.add_argument("--no-stream", action="store_true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("containers", nargs="*")
    o = p.parse_args(args)
    names = list(o.containers)
    if not names:
        names = [
            c["Id"] for c in client.call("GET", "/containers/json", {"all": "1" if o.all else None}) or []
        ]
    template = o.format or (
        "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}"
        "\t{{.PIDs}}"
    )
    samples: dict[str, dict[str, str]] = {}
    errors: list[str] = []

    def fetch(name: str) -> None:
        try:
            s = client.call("GET", f"/containers/{name}/stats", {"stream": "0"})
            samples[name] = stats_row(s, name, not o.no_trunc)
        except APIError as exc:
            errors.append(exc.message)

    while True:
        threads = [threading.Thread(target=fetch, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors and o.no_stream:
            for e in errors:
                sys.stderr.write(f"Error response from daemon: {e}\n")
            return 1
        out = fmt.format_rows(template, [samples[n] for n in names if n in samples], STATS_HEADERS)
        if o.no_stream:
            if out:
                print(out)
            return 0
        sys.stdout.write("\033[2J\033[H" + out + "\n")
        sys.stdout.flush()
        errors.clear()
        time.sleep(0.5)


__all__ = ["Exit", "Parser"]
