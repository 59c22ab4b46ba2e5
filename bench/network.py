"""The cost of networking a container, wharf vs docker in one run (issue 6).

`run --rm IMAGE true` on the default bridge and with `--network none`, interleaved (one of
each per round, so that drift of the machine hits both alike), driven by the real `docker` CLI
against each engine. The network setup cost is the difference of the two medians. A third
series publishes a port (`-p 127.0.0.1::80`), which adds the port reservation and the nftables
map element.

    .venv/bin/python bench/network.py [--runs 30] [--image IMAGE-for-docker]

dockerd is measured only if it is running already (../shared/bench/setup-anchors.sh makes its
image); otherwise the figures measured for docker on this kind of machine are printed beside
ours.
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

DOCKER_REFERENCE = {"default bridge": 472.0, "--network none": 389.0, "-p 127.0.0.1::80": float("nan")}


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
    ref = dict(DOCKER_REFERENCE)
    ref["network setup (bridge - none)"] = ref["default bridge"] - ref["--network none"]
    ref["daemon RSS after (MB)"] = float("nan")
    have = "docker" in results
    width = max(len(k) for k in ref)
    print(
        f"{'figure (ms, median)':<{width}}  {'wharf':>8}  {'docker' if have else 'docker (ref)':>12}  ratio"
    )
    for key, r in ref.items():
        w = results["wharf"][key]
        d = results["docker"].get(key, r) if have else r
        ratio = f"{w / d:.2f}" if d == d and d else "-"
        print(f"{key:<{width}}  {w:>8.1f}  {d:>12.1f}  {ratio}")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
