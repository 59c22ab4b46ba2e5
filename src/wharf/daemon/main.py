"""wharfd: serve the Docker Engine API over a unix socket (and tcp, with TLS, when asked).

The daemon holds an exclusive lock on ``<data-root>/wharfd.lock`` (one daemon per data root),
adopts containers whose shims outlived a previous daemon, then serves. SIGTERM/SIGINT stop the
server only: containers keep running (live restore) and the next daemon adopts them.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import logging
import os
import signal
import socket
import ssl
import sys
import time
from typing import Any

from wharf.base.files import atomic_write, ensure_dir
from wharf.engine.config import DaemonConfig, load
from wharf.errors import WharfError

log = logging.getLogger("wharf.daemon")
# pending connections the kernel queues for accept (dockerd's listeners: 4096; the kernel caps
# it at net.core.somaxconn)
BACKLOG = 4096


class LogfmtFormatter(logging.Formatter):
    """dockerd's (logrus) text format: time="..." level=info msg="..." — one event per line."""

    def format(self, record: logging.LogRecord) -> str:
        t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        t += f".{int(record.msecs * 1000):06d}Z"
        level = {"WARNING": "warning", "CRITICAL": "fatal"}.get(record.levelname, record.levelname.lower())
        msg = record.getMessage()
        if record.exc_info:
            msg += " " + self.formatException(record.exc_info).replace("\n", " | ")
        msg = msg.replace("\\", "\\\\").replace('"', '\\"')
        return f'time="{t}" level={level} msg="{msg}" module={record.name}'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="wharfd", description="The wharf daemon (Docker Engine API).")
    p.add_argument("--config-file", default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--exec-root", default=None)
    p.add_argument("-H", "--host", action="append", default=None)
    p.add_argument("-l", "--log-level", default=None)
    p.add_argument("-D", "--debug", action="store_true", default=None)
    p.add_argument("--default-runtime", default=None)
    p.add_argument("--cgroup-parent", default=None)
    p.add_argument("--tlsverify", action="store_true", default=None)
    p.add_argument("--tlscacert", default=None)
    p.add_argument("--tlscert", default=None)
    p.add_argument("--tlskey", default=None)
    p.add_argument("--registry-mirror", action="append", default=None)
    p.add_argument("--insecure-registry", action="append", default=None)
    p.add_argument("--userns-remap", default=None)
    # Go's boolean flags: --flag is true, --flag=false sets it off
    p.add_argument("--no-new-privileges", nargs="?", const="true", default=None, type=_go_bool)
    p.add_argument("--icc", nargs="?", const="true", default=None, type=_go_bool)
    p.add_argument("--seccomp-profile", default=None)
    return p.parse_args(argv)


def _go_bool(value: str) -> bool:
    from wharf.base.units import parse_bool

    parsed = parse_bool(value)
    if parsed is None:
        raise argparse.ArgumentTypeError(f'invalid boolean value "{value}"')
    return parsed


def _tls_context(cfg: DaemonConfig) -> ssl.SSLContext | None:
    t = cfg.tls
    if not (t.get("tlscert") and t.get("tlskey")):
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(t["tlscert"], t["tlskey"])
    if t.get("tlsverify") and t.get("tlscacert"):
        ctx.load_verify_locations(t["tlscacert"])
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _socket_in_use(path: str) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


async def serve(cfg: DaemonConfig) -> None:
    from aiohttp import web

    from wharf.api.app import make_app
    from wharf.api.fastping import PingFirst
    from wharf.engine.engine import Engine

    engine = Engine(cfg)
    await engine.restore()
    engine.restore_volumes()
    await engine.net.init()
    engine.restore_links()
    app = make_app(engine)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    answers = _ping_answers()
    aiohttp_protocol = runner.server
    assert aiohttp_protocol is not None
    loop = asyncio.get_running_loop()
    sites: list[Any] = []
    unix_servers: list[asyncio.Server] = []  # pings answered before aiohttp (api/fastping.py)
    sockets: list[str] = []  # removed at a clean stop: no socket is left that nothing answers
    for host in cfg.hosts:
        if host.startswith("unix://"):
            path = host[len("unix://") :]
            os.makedirs(os.path.dirname(path) or ".", 0o755, exist_ok=True)
            if os.path.exists(path):
                if _socket_in_use(path):
                    raise WharfError(f"{path}: address already in use (is another wharfd running?)")
                os.unlink(path)
            unix_servers.append(
                await loop.create_unix_server(
                    lambda: PingFirst(aiohttp_protocol, answers), path, backlog=BACKLOG
                )
            )
            sockets.append(path)
            os.chmod(path, 0o660)
            log.info("API listen on %s", host)
            continue
        elif host.startswith("tcp://"):
            hostport = host[len("tcp://") :]
            h, _, port = hostport.rpartition(":")
            ctx = _tls_context(cfg)
            if ctx is None and h not in ("127.0.0.1", "localhost", "::1", "[::1]"):
                log.warning("serving the API on %s without TLS: anyone who can reach it is root", host)
            site: Any = web.TCPSite(
                runner,
                h.strip("[]") or "0.0.0.0",
                int(port or (2376 if ctx else 2375)),
                ssl_context=ctx,
                backlog=BACKLOG,
            )
            await site.start()
        else:
            raise WharfError(f"invalid host: {host}")
        sites.append(site)
        log.info("API listen on %s", host)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("daemon has completed initialization")
    await stop.wait()
    log.info("processing signal, shutting down (containers keep running)")
    for server in unix_servers:
        server.close()
    await runner.cleanup()
    for path in sockets:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    await engine.close()


def _ping_answers() -> Any:
    from wharf.api.fastping import Answers, targets
    from wharf.api.routes.system import ping_headers
    from wharf.api.server import API_VERSION, MIN_API_VERSION, SERVER

    return Answers(ping_headers(), SERVER, targets(MIN_API_VERSION, API_VERSION))


def _data_root(cfg: DaemonConfig) -> None:
    """The daemon's root: the data root itself (root:root), or under a remap <uid>.<gid> in it."""
    from wharf.engine import userns

    if cfg.remap is None:
        os.chown(cfg.data_root, os.geteuid(), 0)  # a remap's group, if one ran before, goes
        return
    cfg.data_root = userns.make_root(cfg.data_root, cfg.remap)


def main(argv: list[str] | None = None) -> int:
    # dockerd's setDefaultUmask: what the daemon makes (its socket, from bind() to the chmod
    # that follows; state directories) is never open to others, whatever umask it inherited
    os.umask(0o022)
    args = parse_args(argv)
    overrides: dict[str, Any] = {
        "data-root": args.data_root,
        "exec-root": args.exec_root,
        "hosts": args.host,
        "log-level": args.log_level,
        "debug": args.debug,
        "default-runtime": args.default_runtime,
        "cgroup-parent": args.cgroup_parent,
        "registry-mirrors": args.registry_mirror,
        "insecure-registries": args.insecure_registry,
        "tlsverify": args.tlsverify,
        "tlscacert": args.tlscacert,
        "tlscert": args.tlscert,
        "tlskey": args.tlskey,
        "userns-remap": args.userns_remap,
        "no-new-privileges": args.no_new_privileges,
        "icc": args.icc,
        "seccomp-profile": args.seccomp_profile,
    }
    try:
        cfg = load(args.config_file, overrides)
    except WharfError as exc:
        print(f"wharfd: {exc}", file=sys.stderr)
        return 1
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel({"warn": "WARNING", "fatal": "CRITICAL"}.get(cfg.log_level, cfg.log_level.upper()))
    logging.getLogger("pyroute2").setLevel(logging.WARNING)  # its debug is one line per netlink message
    # the data root holds what containers wrote (volumes, snapshots: setuid binaries among them);
    # 0710 root:root, as dockerd's since CVE-2021-41091, keeps every host user but root out
    # (with userns-remap: root:<remapped gid>, and the daemon's root is <uid>.<gid> in it). The
    # exec root holds the socket, so others may traverse it (0711) but not list it.
    from wharf.engine import userns

    try:
        cfg.remap = userns.setup(cfg.userns_remap)  # before anything is made, as dockerd's
    except WharfError as exc:
        print(f"wharfd: failed to start daemon: {exc}", file=sys.stderr)
        return 1
    # one daemon per data root, remapped or not (the lock is the top's, not <uid>.<gid>'s)
    ensure_dir(cfg.data_root, 0o710)
    ensure_dir(cfg.exec_root, 0o711)
    lock = open(f"{cfg.data_root}/wharfd.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"wharfd: another wharfd is using {cfg.data_root}", file=sys.stderr)
        return 1
    try:
        _data_root(cfg)
    except WharfError as exc:
        print(f"wharfd: failed to start daemon: {exc}", file=sys.stderr)
        return 1
    atomic_write(f"{cfg.exec_root}/wharfd.pid", str(os.getpid()), durable=False)
    try:
        asyncio.run(serve(cfg))
    except WharfError as exc:
        log.error("%s", exc)
        return 1
    finally:
        try:
            os.unlink(f"{cfg.exec_root}/wharfd.pid")
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
