"""Cold pull and push of a multi-layer image, wharf vs docker, in one run (issue 4).

The image: if ../shared/bench/setup-anchors.sh has pushed ``127.0.0.1:5000/anchors/multilayer``
(debian base + 2 x 5000 files + 1 small layer, ~75 MB gzip), that one; else one of the same
shape made here with the same file generator (../shared/bench/lib/genfiles.py): a base layer of
3000 larger files and two layers of 5000 files, pushed to a registry of this run's own.

Each engine is driven by the same client, the docker CLI, A B A B. A cold pull starts from an
empty store (a fresh wharfd data root; ``docker rmi`` for dockerd); a push goes to an empty
registry (a fresh docker-registry). dockerd is measured if it answers on ``--docker-host``
(default ``$DOCKER_BENCH_HOST`` or /var/run/docker.sock); else the run says so and prints no
ratio.

The floor, in the same run and the same turns: the same layers fetched from the registry by
``curl`` and unpacked by a plain ``tar -xzf`` into empty directories, every layer's pipeline
started at once (what a pull that overlaps every download, decompression and extraction could
reach; it writes no store, checks no digest and applies no whiteouts).

Quiet filesystem: on an ext4 without a journal (this VM's root filesystem), the kernel will not
reuse an inode for 60 s after it was deleted (300 s while its inode table block is dirty), and
every new inode of the block group scans past those: creating 14,000 files right after deleting
14,000 others in the same place costs seconds (perf: ``recently_deleted`` in ``__ext4_new_inode``).
So that both engines are measured doing their own work, each cold pull waits until ``--quiet``
seconds (default 65) have passed since the bench last deleted files, and the bench deletes
wharf's data roots only at the end. ``--quiet 0`` measures the "pull right after a delete" case.

    .venv/bin/python bench/pull.py [--runs 3] [--quiet 65] [--docker-host unix:///run/docker.sock]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.daemon import Daemon  # noqa: E402
from tests.registry import Registry  # noqa: E402

GENFILES = Path("/work/shared/bench/lib/genfiles.py")
ANCHOR = "127.0.0.1:5000/anchors/multilayer:latest"


def docker(host: str, *args: str, check: bool = True) -> float:
    t = time.perf_counter()
    r = subprocess.run(
        ["docker", *args], env=dict(os.environ, DOCKER_HOST=host), capture_output=True, text=True
    )
    if check and r.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {r.stderr}")
    return time.perf_counter() - t


def anchor_available() -> bool:
    try:
        urllib.request.urlopen("http://127.0.0.1:5000/v2/anchors/multilayer/manifests/latest", timeout=2)
        return True
    except OSError:
        return False


def build_image(work: Path, registry: Registry) -> str:
    from wharf.distribution import push_image
    from wharf.images.store import ImageStore
    from wharf.images.testimage import build_image as build
    from wharf.images.testimage import rootfs_tar

    layers = []
    for name, count, seed, biggest in (
        ("base", 3000, 7, 65536),
        ("a", 5000, 1, 32768),
        ("b", 5000, 2, 32768),
    ):
        out = work / "layers" / name / "opt" / "bench" / name
        subprocess.run([sys.executable, str(GENFILES), "--out", str(out), "--count", str(count), "--seed",
                        str(seed), "--max", str(biggest)], check=True, capture_output=True)  # fmt: skip
        layers.append(rootfs_tar(str(work / "layers" / name)))
    ref = f"{registry.host}/anchors/multilayer:latest"
    store = ImageStore(str(work / "seed"))
    try:
        build(store, ref, [{"etc/bench-release": b"bench-multilayer 1\n"}], raw_layers=layers)
        push_image(store, ref)
    finally:
        store.close()
    return ref


class Quiet:
    """Wait, before a timed pull, until ``seconds`` have passed since the bench last deleted files."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last_delete = time.monotonic()  # what ran before the bench may have deleted files

    def deleted(self) -> None:
        self.last_delete = time.monotonic()

    def settle(self) -> None:
        os.sync()  # and no dirty data of the previous run in flight (the kernel throttles writers)
        time.sleep(max(0.5, self.last_delete + self.seconds - time.monotonic()))


def wharf_round(root: Path, ref: str, push_to: Registry, quiet: Quiet) -> tuple[float, float]:
    root.mkdir(parents=True)
    d = Daemon(root)
    d.start()
    try:
        quiet.settle()
        pull = docker(d.host, "pull", ref)
        target = f"{push_to.host}/bench/multilayer:latest"
        docker(d.host, "tag", ref, target)
        push = docker(d.host, "push", target)
        return pull, push
    finally:
        d.cleanup(remove_root=False)  # removed at the end: see the module's docstring


def floor_round(dest: Path, blob_urls: list[str], quiet: Quiet) -> float:
    """curl | tar -xzf of every layer at once into empty directories: seconds until the last ends."""
    dirs = [dest / f"layer{k}" for k in range(len(blob_urls))]
    for d in dirs:
        d.mkdir(parents=True)
    quiet.settle()
    t = time.perf_counter()
    pipes = []
    for url, d in zip(blob_urls, dirs, strict=True):
        curl = subprocess.Popen(["curl", "-sfL", url], stdout=subprocess.PIPE)
        tar = subprocess.Popen(["tar", "-xzf", "-", "-C", str(d)], stdin=curl.stdout)
        assert curl.stdout is not None
        curl.stdout.close()
        pipes.append((curl, tar))
    for curl, tar in pipes:
        if tar.wait() != 0 or curl.wait() != 0:
            raise RuntimeError("the floor's curl | tar -xzf failed")
    return time.perf_counter() - t


def docker_round(host: str, ref: str, push_to: Registry, quiet: Quiet) -> tuple[float, float]:
    docker(host, "rmi", "-f", ref, check=False)  # absent on the first run
    quiet.deleted()
    quiet.settle()
    pull = docker(host, "pull", ref)
    target = f"{push_to.host}/bench/multilayer:latest"
    docker(host, "tag", ref, target)
    try:
        return pull, docker(host, "push", target)
    finally:
        docker(host, "rmi", target)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quiet", type=float, default=65.0)
    p.add_argument(
        "--docker-host", default=os.environ.get("DOCKER_BENCH_HOST", "unix:///var/run/docker.sock")
    )
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wharf-pullbench-"))
    source: Registry | None = None
    quiet = Quiet(args.quiet)
    try:
        if anchor_available():
            ref = ANCHOR
        else:
            source = Registry(work / "source")
            ref = build_image(work, source)
        host, _, rest = ref.partition("/")
        url = f"http://{host}/v2/{rest.rsplit(':', 1)[0]}/manifests/latest"
        accept = (
            "application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"
        )
        sizes = json.loads(
            urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": accept})).read()
        )
        total = sum(layer["size"] for layer in sizes["layers"])
        blobs = [f"{url.rsplit('/manifests/', 1)[0]}/blobs/{layer['digest']}" for layer in sizes["layers"]]
        results: dict[str, dict[str, list[float]]] = {
            "wharf": {"pull": [], "push": []},
            "floor": {"pull": []},
        }
        docker_env = dict(os.environ, DOCKER_HOST=args.docker_host)
        have_docker = subprocess.run(["docker", "info"], env=docker_env, capture_output=True).returncode == 0
        if have_docker:
            results["docker"] = {"pull": [], "push": []}
        for i in range(args.runs):
            rounds: list[tuple[str, Callable[[Registry], tuple[float, float]]]] = [
                ("wharf", lambda reg, i=i: wharf_round(work / f"wharfd-{i}", ref, reg, quiet))
            ]
            if have_docker:
                rounds.append(("docker", lambda reg: docker_round(args.docker_host, ref, reg, quiet)))
            floor = floor_round(work / f"floor-{i}", blobs, quiet)
            results["floor"]["pull"].append(floor)
            print(f"run {i + 1}: floor  curl | tar -xzf {floor:6.2f} s", flush=True)
            for engine, run in rounds:
                empty = Registry(work / f"empty-{engine}-{i}")
                try:
                    pull, push = run(empty)
                finally:
                    empty.close()
                    quiet.deleted()
                results[engine]["pull"].append(pull)
                results[engine]["push"].append(push)
                print(f"run {i + 1}: {engine:<6} pull {pull:6.2f} s   push {push:6.2f} s", flush=True)
        layers = f"{len(sizes['layers'])} layers, {total / 1e6:.1f} MB compressed"
        print(f"image {ref}: {layers}; quiet {args.quiet:g} s")
        if not have_docker:
            print("dockerd is not answering on --docker-host: wharf's figures alone, no ratio")
        fl = statistics.median(results["floor"]["pull"])
        w = statistics.median(results["wharf"]["pull"])
        print(f"{'floor: curl | tar -xzf (s)':<32} {fl:6.2f}   wharf's cold pull / floor {w / fl:.2f}")
        for what, key in (("cold pull (s)", "pull"), ("push to an empty registry (s)", "push")):
            w = statistics.median(results["wharf"][key])
            if not have_docker:
                print(f"{what:<32} wharf {w:6.2f}")
                continue
            d = statistics.median(results["docker"][key])
            print(f"{what:<32} wharf {w:6.2f}   docker {d:6.2f}   ratio {w / d:.2f}")
        print(json.dumps(results))
    finally:
        if source is not None:
            source.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
