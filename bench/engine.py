"""wharf vs docker, the engine's figures in one run (issue 5).

Both are driven by the same client, the real `docker` CLI (DOCKER_HOST selects the engine), with
the same busybox image. wharfd runs with a data root of its own, seeded with the busybox rootfs
made from the host's busybox-static; dockerd is used only if it is running already (start it
and run ../shared/bench/setup-anchors.sh first), else the run says so and prints no ratio: a
figure from another day or machine is no neighbour.

    .venv/bin/python bench/engine.py [--runs 15] [--image IMAGE-for-docker]
        [--compare-wharfd OTHER/.venv/bin/wharfd] [--rounds 2]

``--compare-wharfd`` measures a second wharfd (an older checkout: before/after a change) in the
same run; ``--rounds`` measures the engines in turn that often (A B A B) and prints the medians
of the rounds.

Figures: run --rm true (default network / --network none), run -d + rm -f, 100 sequential
detached starts, ps with 0 and 100 containers, per-container host PSS of 50 idle containers
(the shims; the containers' own processes are the same for every engine), daemon idle RSS and
its growth per container (RSS with the 100 containers up, less idle, / 100: dockerd's alone,
not containerd's), and API requests per second on /_ping (16 clients) and /containers/json
(4 clients, 100 containers), from 2 client processes (bench/httpload.py).
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

FIGURES = (
    "run --rm (default network)",
    "run --rm (--network none)",
    "run -d + rm -f",
    "100 detached starts (s)",
    "ps, 0 containers",
    "ps, 100 containers",
    "per-container PSS (MiB)",
    "daemon idle RSS (MB)",
    "daemon RSS growth per container (KiB)",
    "/_ping req/s (16 clients)",
    "/containers/json req/s (4 clients, 100 ctrs)",
)


# the bench daemon's own bridge, subnet and nftables table, removed by cleanup_network()
BENCH_CONFIG = {
    "cgroup-parent": "/wharf-bench",
    "bridge": "wharfbench0",
    "bip": "10.213.0.1/24",
    "default-address-pools": [{"base": "10.213.0.0/16", "size": 24}],
    "firewall-table": "wharf_bench",
}


def cleanup_network() -> None:
    subprocess.run(["ip", "link", "del", str(BENCH_CONFIG["bridge"])], capture_output=True)
    subprocess.run(
        ["nft", "delete", "table", "inet", str(BENCH_CONFIG["firewall-table"])], capture_output=True
    )


def docker(host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DOCKER_HOST=host)
    r = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {r.stderr}")
    return r


def timed_ms(host: str, runs: int, *args: str) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        docker(host, *args)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def run_d_rm(host: str, image: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        cid = docker(host, "run", "-d", image, "sleep", "60").stdout.strip()
        docker(host, "rm", "-f", cid)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def shim_pids(host: str, ids: list[str], wharf_exec_root: str | None) -> list[int]:
    pids = []
    if wharf_exec_root:
        for cid in ids:
            try:
                pids.append(int(Path(f"{wharf_exec_root}/containers/{cid}/shim.pid").read_text()))
            except (OSError, ValueError):
                pass
        return pids
    out = subprocess.run(["pgrep", "-f", "containerd-shim"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def api_rps(sock: str, path: str, clients: int, seconds: float = 3.0) -> float:
    """Answers per second to ``clients`` keep-alive clients in 2 processes (bench/httpload.py:
    one process of http.client threads measured itself, not the engine)."""
    from httpload import rps

    return rps(sock, path, clients, seconds)


def measure(
    host: str, image: str, runs: int, daemon_pid: int, sock: str, exec_root: str | None
) -> dict[str, float]:
    out: dict[str, float] = {}
    docker(host, "run", "--rm", image, "true")  # warm
    idle = rss_kib(daemon_pid)
    out["daemon idle RSS (MB)"] = idle / 1024
    out["run --rm (default network)"] = timed_ms(host, runs, "run", "--rm", image, "true")
    out["run --rm (--network none)"] = timed_ms(
        host, runs, "run", "--rm", "--network", "none", image, "true"
    )
    out["run -d + rm -f"] = run_d_rm(host, image, runs)
    out["ps, 0 containers"] = timed_ms(host, runs, "ps")
    out["/_ping req/s (16 clients)"] = api_rps(sock, "/_ping", 16)
    t = time.perf_counter()
    ids = [docker(host, "run", "-d", image, "sleep", "600").stdout.strip() for _ in range(100)]
    out["100 detached starts (s)"] = time.perf_counter() - t
    out["daemon RSS growth per container (KiB)"] = (rss_kib(daemon_pid) - idle) / 100
    try:
        out["ps, 100 containers"] = timed_ms(host, runs, "ps")
        out["/containers/json req/s (4 clients, 100 ctrs)"] = api_rps(sock, "/containers/json", 4)
        pids = shim_pids(host, ids[:50], exec_root)
        if pids:
            out["per-container PSS (MiB)"] = sum(pss_kib(p) for p in pids) / len(pids) / 1024
    finally:
        for i in range(0, len(ids), 25):
            docker(host, "rm", "-f", *ids[i : i + 25], check=False)
    return out


def start_wharfd(root: str, wharfd: str = "") -> tuple[subprocess.Popen[bytes], str, str]:
    from wharf.fixtures.busybox import make_rootfs
    from wharf.images.store import ImageStore
    from wharf.images.testimage import build_image, rootfs_tar

    data, execroot, sock = f"{root}/data", f"{root}/exec", f"{root}/wharf.sock"
    os.makedirs(data)
    rootfs = make_rootfs(f"{root}/rootfs")
    store = ImageStore(f"{data}/images")
    build_image(store, "busybox:latest", [], raw_layers=[rootfs_tar(rootfs)])
    store.close()
    cfg = f"{root}/daemon.json"
    Path(cfg).write_text(json.dumps(BENCH_CONFIG))
    proc = subprocess.Popen(
        [wharfd or str(REPO / ".venv/bin/wharfd"), "--config-file", cfg, "--data-root", data,
         "--exec-root", execroot, "-H", f"unix://{sock}"],
        stdout=subprocess.DEVNULL, stderr=open(f"{root}/wharfd.log", "wb"),
    )  # fmt: skip
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    time.sleep(0.2)
    return proc, sock, execroot


def stop_wharfd(proc: subprocess.Popen[bytes], root: str) -> None:
    """Stop the bench daemon; its bridge, nftables table and data root go with it."""
    proc.terminate()
    proc.wait()
    cleanup_network()
    subprocess.run(["rm", "-rf", root])
    parent = str(BENCH_CONFIG["cgroup-parent"]).strip("/")
    for hier in os.listdir("/sys/fs/cgroup"):  # its cgroup parent, empty once the daemon is gone
        try:
            os.rmdir(f"/sys/fs/cgroup/{hier}/{parent}")
        except OSError:
            pass


DOCKER_SOCK = "/var/run/docker.sock"


def dockerd_running() -> bool:
    return (
        os.path.exists(DOCKER_SOCK) and docker("unix://" + DOCKER_SOCK, "info", check=False).returncode == 0
    )


def median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for r in rounds for k in r}
    return {k: statistics.median([r[k] for r in rounds if k in r]) for k in keys}


def _cell(median: float | None, rounds: list[dict[str, float]], key: str) -> str:
    """The median of the rounds and, with more than one round, their spread (min-max)."""
    if median is None:
        return "nan"
    vals = [r[key] for r in rounds if key in r]
    if len(vals) < 2:
        return f"{median:.1f}"
    return f"{median:.1f} ({min(vals):.1f}-{max(vals):.1f})"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--image", default="127.0.0.1:5000/anchors/busybox:latest", help="docker's image")
    p.add_argument(
        "--compare-wharfd",
        default="",
        help="another wharfd (e.g. an older checkout's .venv/bin/wharfd), measured in the same run",
    )
    p.add_argument("--rounds", type=int, default=1, help="engines measured in turn, A B A B, this often")
    args = p.parse_args()
    engines: list[tuple[str, str]] = [("wharf", "")]
    if args.compare_wharfd:
        engines.append(("wharf (other)", args.compare_wharfd))
    have_docker = dockerd_running()
    if have_docker:
        engines.append(("docker", ""))
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name, _ in engines}
    for _ in range(args.rounds):
        for name, wharfd in engines:
            if name == "docker":
                out = subprocess.run(["pgrep", "-xo", "dockerd"], capture_output=True, text=True).stdout
                sock = DOCKER_SOCK
                rounds[name].append(
                    measure("unix://" + sock, args.image, args.runs, int(out.split()[0]), sock, None)
                )
                continue
            root = tempfile.mkdtemp(prefix="wharf-bench-")
            proc, sock, execroot = start_wharfd(root, wharfd)
            try:
                rounds[name].append(
                    measure(f"unix://{sock}", "busybox:latest", args.runs, proc.pid, sock, execroot)
                )
            finally:
                stop_wharfd(proc, root)
    results = {name: median_of(r) for name, r in rounds.items()}
    names = list(results)
    width = max(len(k) for k in FIGURES)
    if not have_docker:
        print("dockerd is not running (bash ../shared/bench/setup-anchors.sh starts it): no ratio")
    ratio_head = "  ratio to docker" if have_docker else ""
    print(f"{'figure':<{width}}  " + "  ".join(f"{n:>24}" for n in names) + ratio_head)
    for key in FIGURES:
        cells = "  ".join(f"{_cell(results[n].get(key), rounds[n], key):>24}" for n in names)
        w, d = results["wharf"].get(key), results.get("docker", {}).get(key)
        ratio = (f"  {w / d:.2f}" if w is not None and d else "  -") if have_docker else ""
        print(f"{key:<{width}}  {cells}{ratio}")
    print(json.dumps({"rounds": rounds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
