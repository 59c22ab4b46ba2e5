"""docker save/load interop with the real engine: an image saved by wharf loads in ``docker load``
and one saved by docker (built by docker's own builder) loads in wharf, same IDs, same files.

Needs dockerd: ``$WHARF_TEST_DOCKER_HOST`` names a running one, else the test starts a private
dockerd (its own data root, exec root, socket and network namespace; no iptables, no bridge;
stopped by PID and removed after). Where dockerd is not installed the tests are skipped.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import umount_under

from wharf.images import archive
from wharf.images.store import ImageStore
from wharf.images.testimage import build_image
from wharf.snapshots.mount import mount_all, unmount

pytestmark = pytest.mark.root
DOCKERD = shutil.which("dockerd")
DOCKER = shutil.which("docker")


def _docker(host: str, *args: str) -> bytes:
    r = subprocess.run(
        [str(DOCKER), *args], env=dict(os.environ, DOCKER_HOST=host), capture_output=True, timeout=120
    )
    assert r.returncode == 0, f"docker {' '.join(args)}: {r.stderr.decode(errors='replace')}"
    return r.stdout


@pytest.fixture(scope="module")
def docker_host() -> Iterator[str]:
    if os.environ.get("WHARF_TEST_DOCKER_HOST"):
        yield os.environ["WHARF_TEST_DOCKER_HOST"]
        return
    if DOCKERD is None or DOCKER is None:
        pytest.skip("dockerd is not installed (apt-get install docker.io)")
    base = tempfile.mkdtemp(prefix="wdk-")  # short: containerd's socket path must fit a sockaddr_un
    host = f"unix://{base}/docker.sock"
    log = open(f"{base}/dockerd.log", "wb")
    # in a network namespace of its own: with --bridge=none dockerd deletes the host's docker0
    # (removeDefaultBridgeInterface), which belongs to the machine's own dockerd
    argv = ["unshare", "--net", DOCKERD, "--data-root", f"{base}/data", "--exec-root", f"{base}/exec",
            "-H", host, "--pidfile", f"{base}/dockerd.pid", "--iptables=false", "--ip6tables=false",
            "--bridge=none", "--storage-driver=overlay2"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([str(DOCKER), "-H", host, "version"], capture_output=True).returncode != 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"dockerd did not start: {Path(base, 'dockerd.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield host
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        umount_under(base)
        shutil.rmtree(base, ignore_errors=True)


def _files(tar_bytes: bytes) -> dict[str, bytes]:
    out = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        for m in tar:
            f = tar.extractfile(m) if m.isfile() else None
            if f is not None:
                out[m.name.lstrip("./")] = f.read()
    return out


def test_docker_loads_what_wharf_saves(docker_host: str, store: ImageStore, tmp_path: Path) -> None:
    layers: list[dict[str, bytes | None]] = [
        {"etc/os-release": b"wharf\n", "bin/tool": b"#!/bin/sh\n", "etc/gone": b"x"},
        {"etc/gone": None, "srv/data/a.txt": b"a" * 5000},
    ]
    name = f"wharf-interop/saved:{os.getpid()}"
    rec = build_image(store, name, layers)
    out = tmp_path / "img.tar"
    with open(out, "wb") as f:
        archive.save(store, [name], f)
    try:
        loaded = _docker(docker_host, "load", "-i", str(out)).decode()
        assert f"Loaded image: {name}" in loaded
        info = json.loads(_docker(docker_host, "image", "inspect", name))[0]
        assert info["Id"] == rec.id  # the same config, byte for byte
        assert info["RootFS"]["Layers"] == store.config(rec)["rootfs"]["diff_ids"]
        # docker unpacked the layers: its view of the filesystem is the image's
        cid = _docker(docker_host, "create", "--network", "none", name, "/bin/tool").decode().strip()
        try:
            files = _files(_docker(docker_host, "export", cid))
        finally:
            _docker(docker_host, "rm", cid)
        assert files["etc/os-release"] == b"wharf\n"
        assert files["srv/data/a.txt"] == b"a" * 5000
        assert "etc/gone" not in files  # the whiteout applied
    finally:
        subprocess.run([str(DOCKER), "-H", docker_host, "rmi", "-f", name], capture_output=True)


def test_wharf_loads_what_docker_saves(docker_host: str, store: ImageStore, tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "app").mkdir(parents=True)
    (ctx / "app" / "hello.txt").write_text("built by docker\n")
    (ctx / "app" / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (ctx / "app" / "run.sh").chmod(0o755)
    (ctx / "Dockerfile").write_text(
        "FROM scratch\nCOPY app/hello.txt /srv/\nCOPY app/run.sh /usr/local/bin/\n"
        'ENV GREETING=hi\nCMD ["/x"]\n'
    )
    name = f"wharf-interop/built:{os.getpid()}"
    try:
        env = dict(os.environ, DOCKER_HOST=docker_host, DOCKER_BUILDKIT="0")
        r = subprocess.run([str(DOCKER), "build", "-q", "-t", name, str(ctx)], env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        info = json.loads(_docker(docker_host, "image", "inspect", name))[0]
        saved = tmp_path / "docker.tar"
        _docker(docker_host, "save", "-o", str(saved), name)
    finally:
        subprocess.run([str(DOCKER), "-H", docker_host, "rmi", "-f", name], capture_output=True)
    with open(saved, "rb") as f:
        assert archive.load(store, f) == [f"Loaded image: {name}"]
    rec = store.resolve(name)
    assert rec.id == info["Id"]
    config = store.config(rec)
    assert config["rootfs"]["diff_ids"] == info["RootFS"]["Layers"]
    assert "GREETING=hi" in config["config"]["Env"]
    # run-ready: a view of the top snapshot holds docker's files with their modes
    target = tmp_path / "view"
    target.mkdir()
    key = f"interop-view-{os.getpid()}"
    mount_all(store.snapshots.view(key, store.top_chain_id(rec)), str(target))
    try:
        assert (target / "srv/hello.txt").read_text() == "built by docker\n"
        assert (target / "usr/local/bin/run.sh").stat().st_mode & 0o777 == 0o755
    finally:
        unmount(str(target))
        store.snapshots.remove(key)
