#!/usr/bin/env python3
"""wharf-runtime run vs runc run of the same busybox bundle, /bin/true, A B A B, medians.

Two cases: the bundle's default namespaces (pid, ipc, uts, mount, network: a new network
namespace) and the same without a network namespace. Beside them, in the same turns, the floor
of a runtime that is a Python program: the bare interpreter wharf-runtime runs
(``python -IS -c pass``), which is paid before any of the runtime's own work. Run as root:

    .venv/bin/python bench/runtime.py [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

from wharf.fixtures.busybox import base_spec, make_bundle

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHARF = os.path.join(REPO, ".venv", "bin", "wharf-runtime")


def one(binary: str, root: str, bundle: str) -> float:
    cid = f"b{uuid.uuid4().hex[:10]}"
    t0 = time.perf_counter()
    r = subprocess.run([binary, "--root", root, "run", "--bundle", bundle, cid], capture_output=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{binary} failed: {r.stderr.decode()}")
    return dt


def bare_interpreter() -> float:
    python = os.path.join(REPO, ".venv", "bin", "python")
    t0 = time.perf_counter()
    subprocess.run([python, "-IS", "-c", "pass"], check=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    runc = shutil.which("runc")
    work = tempfile.mkdtemp(prefix="wharf-bench-")
    try:
        results: dict[str, dict[str, list[float]]] = {}
        for case in ("netns", "no-netns"):
            spec = base_spec(["/bin/true"])
            spec["linux"]["cgroupsPath"] = "/wharf-bench"
            if case == "no-netns":
                spec["linux"]["namespaces"] = [
                    n for n in spec["linux"]["namespaces"] if n["type"] != "network"
                ]
            bundle = make_bundle(f"{work}/{case}", spec)
            runners = {"wharf-runtime": WHARF}
            if runc:
                runners["runc"] = runc
            times: dict[str, list[float]] = {name: [] for name in runners}
            for name, binary in runners.items():  # warm-up
                one(binary, f"{work}/root-{name}", bundle)
            times["python -IS -c pass"] = []
            for _ in range(args.runs):
                for name, binary in runners.items():
                    times[name].append(one(binary, f"{work}/root-{name}", bundle))
                times["python -IS -c pass"].append(bare_interpreter())
            results[case] = times
        report = {}
        for case, times in results.items():
            med = {name: statistics.median(v) * 1000 for name, v in times.items()}
            report[case] = med
            line = "  ".join(f"{name} {ms:.1f} ms" for name, ms in med.items())
            ratio = ""
            if "runc" in med:
                ratio = (
                    f"  ratio wharf/runc {med['wharf-runtime'] / med['runc']:.2f}"
                    f"  (the bare interpreter alone: {med['python -IS -c pass'] / med['runc']:.2f} of runc)"
                )
            print(f"run /bin/true [{case}] medians over {args.runs}: {line}{ratio}")
        print(json.dumps(report))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
