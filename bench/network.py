"""The cost of networking a container, wharf vs docker in one run (issue 6).

`run --rm IMAGE true` on the default bridge and with `--network none`, interleaved (one of
each per round, so that drift of the machine hits both alike), driven by the real `docker` CLI
against each engine. The network setup cost is the difference of the two medians. A third
series publishes a port (`-p 127.0.0.1::80`), which adds the port reservation and the nftables
map element.

    .venv/bin/python bench/network.py [--runs 30] [--image IMAGE-for-docker]

dockerd is measured only if it is running already (../shared/bench/setup-anchors.sh makes its
image); otherwise the run says so and prints no ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import DOCKER_SOCK, docker, dockerd_running, rss_kib, start_wharfd, stop_wharfd


def series(host: str, image: str, runs: int) -> dict[str, float]:
    variants = {
        "default bridge": ["run", "--rm", image, "true"],
        "--network none": ["run", "--rm", "--network", "none", image, "true"],
        "-p 127.0.0.1::80": ["run", "--rm", "-p", "127.0.0.1::80", image, "true"],
    }
    for argv in variants.values():  # warm
        docker(host, *argv)
    samples: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(runs):
        for name, argv in variants.items():
            t = time.perf_counter()
            docker(host, *argv)
            samples[name].append((time.perf_counter() - t) * 1000)
    out = {k: statistics.median(v) for k, v in samples.items()}
    out["network setup (bridge - none)"] = out["default bridge"] - out["--network none"]
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--image", default="127.0.0.1:5000/anchors/busybox:latest", help="docker's image")
    args = p.parse_args()
    results: dict[str, dict[str, float]] = {}
    root = tempfile.mkdtemp(prefix="wharf-bench-net-")
    proc, sock, _ = start_wharfd(root)
    try:
        results["wharf"] = series(f"unix://{sock}", "busybox:latest", args.runs)
        results["wharf"]["daemon RSS after (MB)"] = rss_kib(proc.pid) / 1024
    finally:
        stop_wharfd(proc, root)
    if dockerd_running():
        results["docker"] = series("unix://" + DOCKER_SOCK, args.image, args.runs)
    have = "docker" in results
    if not have:
        print("dockerd is not running (bash ../shared/bench/setup-anchors.sh starts it): no ratio")
    keys = list(results["wharf"])
    width = max(len(k) for k in keys)
    print(f"{'figure (ms, median)':<{width}}  {'wharf':>8}" + (f"  {'docker':>8}  ratio" if have else ""))
    for key in keys:
        w = results["wharf"][key]
        if not have:
            print(f"{key:<{width}}  {w:>8.1f}")
            continue
        d = results["docker"].get(key, float("nan"))
        ratio = f"{w / d:.2f}" if d == d and d else "-"
        print(f"{key:<{width}}  {w:>8.1f}  {d:>8.1f}  {ratio}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
