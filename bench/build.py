"""docker build of the anchors' context: wharf vs dockerd's BuildKit and legacy builder, one run.

The context is ``/var/lib/bench-anchors/build-ctx`` (``../shared/bench/setup-anchors.sh``: FROM
the anchors' debian, ENV, WORKDIR, COPY of 1,000 files, a RUN, CMD). Every engine is driven by
the same client, Debian's docker CLI 20.10 (``/usr/bin/docker``), with the anchors' command line:
``build --network none -q -t anchors-build:NAME [--no-cache] CTX``:

- ``buildkit``: dockerd with ``DOCKER_BUILDKIT=1``;
- ``legacy``: dockerd with ``DOCKER_BUILDKIT=0`` (the classic builder);
- ``wharf``: a wharfd of this run (its own data root, the debian base pulled from the anchors'
  registry first) with ``DOCKER_BUILDKIT=0`` (wharf is a classic-builder endpoint);
- ``floor``: the same client against a stub that reads the context and answers a finished
  build at once: what the client itself costs (reading and sending 1,000 files), which no
  classic-builder engine can go under.

"Cold" is ``--no-cache`` with the base image present; "fully cached" is the same command again
after a warm-up build. The engines take turns, each run started by the next one (A B C, B C A,
C A B: a build that deletes thousands of files slows the file creation of the build after it on
this ext4), medians are printed with the
spread, and the ratios wharf/BuildKit against the issue's goals (cold at most 0.8, cached at
most 0.5). At the end the images made are removed from dockerd by ID (those whose Env holds
``BENCH_ENV=1``, as the anchors' notes do) and wharfd's data root is deleted.

    .venv/bin/python bench/build.py [--runs 6] [--docker-host unix:///run/docker.sock] [--without-legacy]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.daemon import Daemon  # noqa: E402

CLI = "/usr/bin/docker"
STATE = Path(os.environ.get("BENCH_STATE", "/var/lib/bench-anchors"))


def _client(host: str, buildkit: bool, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DOCKER_HOST=host, DOCKER_BUILDKIT="1" if buildkit else "0")
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=600)


def timed_build(host: str, buildkit: bool, name: str, ctx: Path, cold: bool) -> float:
    args = ["build", "--network", "none", "-q", "-t", f"anchors-build:{name}"]
    if cold:
        args.append("--no-cache")
    os.sync()  # nothing of the previous build still being written back
    t = time.perf_counter()
    r = _client(host, buildkit, *args, str(ctx))
    elapsed = time.perf_counter() - t
    if r.returncode:
        raise RuntimeError(f"{name}: docker build exited {r.returncode}: {r.stderr}")
    return elapsed


class StubDaemon:
    """The client's own share, the floor of every engine here: a unix socket that answers
    /_ping, reads the build's whole context and answers a finished build at once."""

    def __init__(self, path: str) -> None:
        import socket
        import threading

        self.path = path
        self._sock = socket.socket(socket.AF_UNIX)
        self._sock.bind(path)
        self._sock.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: Any) -> None:
        with conn, conn.makefile("rb") as f:
            first, headers = f.readline(), {}
            while (line := f.readline()) not in (b"\r\n", b""):
                k, _, v = line.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            if b"/build" not in first:
                conn.sendall(b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Length: 2\r\n\r\nOK")
                return
            while headers.get("transfer-encoding") == "chunked":
                n = int(f.readline(), 16)
                f.read(n + 2)
                if n == 0:
                    break
            image = "sha256:" + "0" * 64
            body = json.dumps({"aux": {"ID": image}}).encode() + b"\r\n"
            body += json.dumps({"stream": image + "\n"}).encode() + b"\r\n"
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            conn.sendall(head.encode() + body)

    def close(self) -> None:
        self._sock.close()
        os.unlink(self.path)


def base_image(ctx: Path) -> str:
    for line in (ctx / "Dockerfile").read_text().splitlines():
        if line.upper().startswith("FROM "):
            return line.split()[1]
    raise RuntimeError("the context's Dockerfile has no FROM")


def remove_outputs(host: str) -> None:
    """dockerd's images of this bench: ours by tag, and those whose Env holds BENCH_ENV=1."""
    ids = _client(host, False, "images", "-aq", "--no-trunc").stdout.split()
    for iid in ids:
        env = _client(host, False, "inspect", "-f", "{{json .Config.Env}}", iid).stdout
        if "BENCH_ENV=1" in env:
            _client(host, False, "rmi", "-f", iid)


def _cell(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.0f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=6)
    p.add_argument("--docker-host", default=os.environ.get("DOCKER_BENCH_HOST", "unix:///run/docker.sock"))
    p.add_argument("--context", default=str(STATE / "build-ctx"))
    p.add_argument(
        "--without-legacy", action="store_true",
        help="leave dockerd's classic builder out (its builds delete thousands of files, which "
        "slows every other engine's next file creations on this ext4)",
    )  # fmt: skip
    args = p.parse_args()
    ctx = Path(args.context)
    if not (ctx / "Dockerfile").exists():
        print(f"no build context at {ctx}: run ../shared/bench/setup-anchors.sh first", file=sys.stderr)
        return 2
    base = base_image(ctx)
    have_docker = _client(args.docker_host, False, "info").returncode == 0
    work = Path(tempfile.mkdtemp(prefix="wharf-buildbench-"))
    (work / "wharfd").mkdir()
    d = Daemon(work / "wharfd")
    try:
        d.start()
        pulled = _client(d.host, False, "pull", base)
        if pulled.returncode:
            raise RuntimeError(f"wharfd could not pull {base}: {pulled.stderr}")
        engines: list[tuple[str, str, bool]] = [("wharf", d.host, False)]
        if have_docker:
            _client(args.docker_host, False, "pull", base)
            engines.append(("buildkit", args.docker_host, True))
            if not args.without_legacy:
                engines.append(("legacy", args.docker_host, False))
        else:
            print("dockerd is not answering on --docker-host: wharf's figures alone, no ratio")
        stub = StubDaemon(str(work / "stub.sock"))
        engines.append(("floor", f"unix://{stub.path}", False))
        results: dict[str, dict[str, list[float]]] = {e: {"cold": [], "cached": []} for e, _, _ in engines}
        for name, host, buildkit in engines:  # warm-up: every engine has built it once
            timed_build(host, buildkit, name, ctx, cold=False)
        for i in range(args.runs):
            # each engine in turn goes first: a build that deletes thousands of files (the legacy
            # builder's containers) slows the file creation of whichever build comes next (ext4
            # keeps deleted inodes from reuse for a while), so no engine always follows it
            turn = engines[i % len(engines) :] + engines[: i % len(engines)]
            for name, host, buildkit in turn:
                cold = timed_build(host, buildkit, name, ctx, cold=True)
                cached = timed_build(host, buildkit, name, ctx, cold=False)
                results[name]["cold"].append(cold)
                results[name]["cached"].append(cached)
                print(
                    f"run {i + 1}: {name:<8} cold {cold * 1000:6.0f} ms   cached {cached * 1000:6.0f} ms",
                    flush=True,
                )
        stub.close()
        print(f"\ncontext {ctx}, base {base}, {args.runs} runs, client {CLI} (medians, min-max)")
        print(f"{'builder':<10} {'cold (--no-cache)':<28} fully cached")
        for name, r in results.items():
            print(f"{name:<10} {_cell(r['cold']):<28} {_cell(r['cached'])}")
        if have_docker:
            w, bk = results["wharf"], results["buildkit"]
            cold_ratio = statistics.median(w["cold"]) / statistics.median(bk["cold"])
            cached_ratio = statistics.median(w["cached"]) / statistics.median(bk["cached"])
            print(
                f"wharf / BuildKit: cold {cold_ratio:.2f} (goal <= 0.8),"
                f" cached {cached_ratio:.2f} (goal <= 0.5)"
            )
        return 0
    finally:
        d.cleanup()
        if have_docker:
            remove_outputs(args.docker_host)


if __name__ == "__main__":
    sys.exit(main())
