"""Where the time of one `docker run --rm IMAGE true` goes, phase by phase (issue 17).

Starts a wharfd of its own with ``WHARF_TRACE`` set (src/wharf/base/trace.py: the daemon, the
shim and the runtime each append a line per event to one file, on one clock), runs the command
``--runs`` times after a warm-up, and prints for every event the median time since the client
started and since the event before it. The client's own start and end are marked here, around
the docker CLI's process.

    .venv/bin/python bench/trace_run.py [--runs 11] [--network none] [--image busybox:latest]
        [--wharfd OTHER/.venv/bin/wharfd]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engine import start_wharfd, stop_wharfd

_ID = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b")
_PID = re.compile(r"pid=\d+")


def one_run(host: str, trace: str, argv: list[str]) -> list[tuple[str, int]]:
    """The events of one run, as (label, ns since the client started)."""
    open(trace, "w").close()
    t0 = time.monotonic_ns()
    r = subprocess.run(["docker", *argv], env=dict(os.environ, DOCKER_HOST=host), capture_output=True)
    t1 = time.monotonic_ns()
    if r.returncode != 0:
        raise SystemExit(f"docker {' '.join(argv)}: {r.stderr.decode()}")
    events = [(0, "client", "docker CLI started", "")]
    with open(trace) as f:
        for line in f:
            ns, _pid, who, rest = line.rstrip("\n").split(" ", 3)
            events.append((int(ns) - t0, who, rest, ""))
    events.append((t1 - t0, "client", "docker CLI exited", ""))
    events.sort()
    seen: dict[str, int] = {}
    out = []
    for ns, who, what, _ in events:
        label = f"{who}: " + _ID.sub("<id>", _PID.sub("", what)).strip()
        seen[label] = seen.get(label, 0) + 1
        out.append((label if seen[label] == 1 else f"{label} #{seen[label]}", ns))
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=11)
    p.add_argument("--network", default="")
    p.add_argument("--image", default="busybox:latest")
    p.add_argument("--wharfd", default="", help="another checkout's .venv/bin/wharfd (a before/after)")
    args = p.parse_args()
    root = tempfile.mkdtemp(prefix="wharf-trace-")
    trace = f"{root}/trace.log"
    os.environ["WHARF_TRACE"] = trace
    proc, sock, _ = start_wharfd(root, args.wharfd)
    del os.environ["WHARF_TRACE"]
    argv = ["run", "--rm", *(["--network", args.network] if args.network else []), args.image, "true"]
    try:
        host = f"unix://{sock}"
        one_run(host, trace, argv)  # warm-up
        runs = [one_run(host, trace, argv) for _ in range(args.runs)]
    finally:
        stop_wharfd(proc, root)
    order = [label for label, _ in runs[0]]
    at = {label: statistics.median(dict(r).get(label, 0) for r in runs) for label in order}
    print(f"docker {' '.join(argv)}: median of {args.runs} runs (ms)")
    print(f"{'since start':>11}  {'step':>7}  event")
    prev = 0.0
    for label in order:
        ms = at[label] / 1e6
        print(f"{ms:>11.1f}  {ms - prev:>7.1f}  {label}")
        prev = ms
    return 0


if __name__ == "__main__":
    sys.exit(main())
