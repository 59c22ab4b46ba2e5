"""wharf vs docker under load, in one run on this machine (issue 16, "Load").

Two loads, each engine driven the same way (the real `docker` CLI for containers, raw unix
sockets for connections), engines in turn A B A B for ``--runs`` rounds:

- 500 connections opened at once (all connected before any request is sent: a listen backlog
  smaller than that refuses the rest with EAGAIN), then a /_ping on each; counted: connects
  refused and answers received;
- 200 containers, ``docker run --rm IMAGE true``, by 8 parallel clients; counted: the wall time,
  the runs that failed and what is left afterwards (``ps -a``; for wharf also runtime state and
  mounts under its data root).

wharfd runs with a data root of its own (bench/engine.py's start_wharfd: the busybox rootfs of
the host's busybox-static); dockerd must be running already with the anchor busybox image
(``bash ../shared/bench/setup-anchors.sh``), else the run stops: a figure without its
neighbour from the same run is not compared with anything.

    .venv/bin/python bench/load.py [--runs 3] [--image IMAGE-for-docker]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import DOCKER_SOCK, docker, dockerd_running, start_wharfd, stop_wharfd

CONNECTIONS = 500
CONTAINERS = 200
CLIENTS = 8


def connections(sock: str) -> dict[str, float]:
    """Open CONNECTIONS connections before sending anything, then ping on each."""
    socks: list[socket.socket] = []
    refused = answered = 0
    t0 = time.monotonic()
    try:
        for _ in range(CONNECTIONS):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            try:
                s.connect(sock)
            except (BlockingIOError, ConnectionRefusedError):
                refused += 1
                s.close()
                continue
            socks.append(s)
        for s in socks:
            s.setblocking(True)
            s.settimeout(60)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for s in socks:
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            answered += data.startswith(b"HTTP/1.1 200")
    finally:
        for s in socks:
            s.close()
    return {
        "connects refused": refused,
        "pings answered": answered,
        "500 pings (ms)": (time.monotonic() - t0) * 1000,
    }


def containers(host: str, image: str, leftovers: Callable[[str], int]) -> dict[str, float]:
    tag = uuid.uuid4().hex[:6]

    def one(i: int) -> bool:
        r = docker(host, "run", "--rm", "--name", f"load-{tag}-{i}", image, "true", check=False)
        if r.returncode != 0:
            print(f"  failed: {r.stderr.strip()[:300]}", file=sys.stderr)
        return r.returncode == 0

    t0 = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        ok = sum(pool.map(one, range(CONTAINERS)))
    wall = time.monotonic() - t0
    time.sleep(1)  # --rm is the client's wait then the daemon's removal: let the last ones finish
    return {"200 runs (s)": wall, "runs failed": CONTAINERS - ok, "left behind": leftovers(host)}


def _ps(host: str) -> int:
    return len(docker(host, "ps", "-aq").stdout.split())


def wharf_leftovers(root: str, execroot: str, host: str) -> int:
    runtime = os.path.join(execroot, "runtime")
    state = len([n for n in os.listdir(runtime) if not n.startswith("@")]) if os.path.isdir(runtime) else 0
    with open("/proc/self/mounts") as f:
        mounts = sum(f"{root}/data/containers/" in line for line in f)
    return _ps(host) + state + mounts


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--image", default="127.0.0.1:5000/anchors/busybox:latest", help="docker's image")
    args = p.parse_args()
    if not dockerd_running():
        print("dockerd is not answering on /var/run/docker.sock: run ../shared/bench/setup-anchors.sh")
        return 2
    results: dict[str, list[dict[str, float]]] = {"wharf": [], "docker": []}
    for run in range(args.runs):
        for engine in ("wharf", "docker"):
            if engine == "docker":
                host = "unix://" + DOCKER_SOCK
                fig = connections(DOCKER_SOCK)
                fig.update(containers(host, args.image, _ps))
            else:
                root = tempfile.mkdtemp(prefix="wharf-load-")
                proc, sock, execroot = start_wharfd(root)
                try:
                    fig = connections(sock)
                    left = partial(wharf_leftovers, root, execroot)
                    fig.update(containers(f"unix://{sock}", "busybox:latest", left))
                finally:
                    stop_wharfd(proc, root)
            results[engine].append(fig)
            line = ", ".join(f"{k} {v:.1f}" for k, v in fig.items())
            print(f"run {run + 1} {engine}: {line}", flush=True)
    keys = list(results["wharf"][0])
    width = max(len(k) for k in keys)
    print(f"{'median of ' + str(args.runs) + ' runs':<{width}}  {'wharf':>10}  {'docker':>10}")
    for k in keys:
        w = statistics.median(r[k] for r in results["wharf"])
        d = statistics.median(r[k] for r in results["docker"])
        print(f"{k:<{width}}  {w:>10.1f}  {d:>10.1f}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
