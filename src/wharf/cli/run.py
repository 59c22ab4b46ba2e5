"""Running containers: run, create, start, attach.

``run`` follows the docker CLI's order: create (pulling on "No such image"), attach (hijacked),
``wait?condition=next-exit|removed`` (armed before the start), start, stream, then the exit code
from the wait's body. The daemon refusing the create or the start is ``RunFailed``, which main
turns into Docker's words and 125 (126/127 for a start, by the error's words).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from wharf.cli import streams
from wharf.cli.main import WHARF_FAILED, RunFailed, UsageError, die, parser, report
from wharf.client import APIError, Client


def _create(client: Client, o: Any) -> str:
    """POST /containers/create for the parsed run/create flags (pulling the image when it is
    missing, or always with ``--pull always``); -> the container's id."""
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
        _write_cidfile(o.cidfile, cid)
    return cid


def _write_cidfile(path: str, cid: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        die(
            f"wharf: Container ID file found, make sure the other container isn't running or delete {path}",
            WHARF_FAILED,
        )
    with os.fdopen(fd, "w") as f:
        f.write(cid)


def _create_or_fail(client: Client, o: Any) -> str:
    try:
        return _create(client, o)
    except APIError as exc:
        raise RunFailed(exc.message) from None


def _start_or_fail(client: Client, cid: str, sock: Any = None) -> None:
    try:
        client.call("POST", f"/containers/{cid}/start")
    except APIError as exc:
        if sock is not None:
            sock.close()
        raise RunFailed(exc.message, starting=True) from None


def cmd_create(client: Client, prog: str, args: list[str]) -> int:
    from wharf.cli.options import add_run_flags

    p = parser(prog, f"{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]")
    add_run_flags(p)
    o = p.parse_args(args)
    print(_create_or_fail(client, o))
    return 0


def _attach_query(o: Any) -> dict[str, str]:
    """The streams ``run`` attaches: ``-a`` as given, else stdout+stderr (+stdin with -i)."""
    attach = [x.lower() for x in o.attach] or ["stdout", "stderr"] + (["stdin"] if o.interactive else [])
    query = {
        "stream": "1",
        "stdin": "1" if "stdin" in attach else "0",
        "stdout": "1" if "stdout" in attach else "0",
        "stderr": "1" if "stderr" in attach else "0",
    }
    if o.detach_keys:
        query["detachKeys"] = o.detach_keys
    return query


def _exit_status(client: Client, cid: str, waiter: Any) -> int:
    """The container's exit code from the wait's body (or, if that broke, its inspect)."""
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
            code = WHARF_FAILED
    return int(code)


def cmd_run(client: Client, prog: str, args: list[str]) -> int:
    from wharf.cli.options import add_run_flags

    p = parser(prog, f"{prog} [OPTIONS] IMAGE [COMMAND] [ARG...]")
    add_run_flags(p)
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--sig-proxy", default="true")
    p.add_argument("--detach-keys", default="")
    o = p.parse_args(args)
    cid = _create_or_fail(client, o)
    if o.detach:
        _start_or_fail(client, cid)
        print(cid)
        return 0
    query = _attach_query(o)
    sock, multiplexed = client.hijack(f"/containers/{cid}/attach", query)
    waiter = client.stream(
        "POST", f"/containers/{cid}/wait", {"condition": "removed" if o.rm else "next-exit"}
    )
    _start_or_fail(client, cid, sock)
    proxy = o.sig_proxy.lower() not in ("false", "0")
    stdin = query["stdin"] == "1"
    streams.attached(client, cid, sock, multiplexed, stdin, o.tty, proxy, f"/containers/{cid}/resize")
    return _exit_status(client, cid, waiter)


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
        return _start_attached(client, o.containers[0], o.interactive)
    failed = False
    for name in o.containers:
        try:
            client.call("POST", f"/containers/{name}/start")
        except APIError as exc:
            failed = True
            report(exc)
            continue
        print(name, flush=True)
    if failed:
        sys.stderr.write("Error: failed to start containers: " + " ".join(o.containers) + "\n")
    return 1 if failed else 0


def _start_attached(client: Client, name: str, interactive: bool) -> int:
    """``start -a``: attach, arm the wait, start, stream; -> the container's exit code."""
    info = client.call("GET", f"/containers/{name}/json")
    cid = info["Id"]
    tty = bool(info["Config"]["Tty"])
    query = {"stream": "1", "stdin": "1" if interactive else "0", "stdout": "1", "stderr": "1"}
    sock, multiplexed = client.hijack(f"/containers/{cid}/attach", query)
    waiter = client.stream("POST", f"/containers/{cid}/wait", {"condition": "next-exit"})
    try:
        client.call("POST", f"/containers/{cid}/start")
    except APIError:
        sock.close()
        raise  # main says it as any daemon error: exit 1
    streams.attached(client, cid, sock, multiplexed, interactive, tty, True, f"/containers/{cid}/resize")
    try:
        return int(json.loads(waiter.read() or b"{}").get("StatusCode", 0))
    except (OSError, ValueError):
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
    proxy = o.sig_proxy.lower() not in ("false", "0")
    streams.attached(client, cid, sock, multiplexed, stdin, tty, proxy, f"/containers/{cid}/resize")
    try:
        after = client.call("GET", f"/containers/{cid}/json")["State"]
    except APIError:
        return 0
    if after.get("Running"):
        return 0  # detached, or the stream closed under us
    return int(after.get("ExitCode") or 0)
