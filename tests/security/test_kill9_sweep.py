"""The kill -9 sweep: wharfd killed at 20 points of a scripted workload, restarted after each.

The workload covers every phase of a container's and an image's life: create (a named and an
anonymous volume), start, stop, rm -v, pull (from a real local registry), build (the classic
builder's steps: a RUN container committed, a COPY into a container committed) and commit.
Each point sends one request and SIGKILLs the daemon as soon as the state on disk shows the
operation at a chosen durable step (a volume made, a snapshot prepared, the runtime's state
written, a process gone, a blob or a layer being written ...), so the kill lands inside the
operation, before its answer. After each restart, what a user sees must hold: every listing
answers; no container is stuck (``removing`` for ever, ``Up`` with its process dead); every
container starts (or runs) and is removed; every image listed can be inspected and run, and a
killed pull, build or commit either left nothing or a usable image, and running it again works;
anonymous volumes go with ``rm -v``, named ones stay; nothing is left behind (runtime state,
shims, mounts, snapshots, temporary files, leases) once the point's containers are gone. A
container made before the first point keeps running through all 20 restarts (live restore).
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import sqlite3
import tarfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import IMAGE, docker, seeded_daemon
from tests.registry import Registry

from wharf.runtime.seccomp import CACHE_DIR

pytestmark = pytest.mark.root

FAT_MB = 24  # a layer big enough that writing, fetching and unpacking it takes a while
ANON = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class World:
    d: Daemon
    reg: Registry
    fat: str = ""  # the registry's image with a FAT_MB layer of random bytes (not kept locally)
    fat_layer: str = ""  # that layer's blob digest
    keep: str = ""  # the container that runs through every restart
    keep_volumes: set[str] = field(default_factory=set)
    landed: list[tuple[str, str, str, str]] = field(default_factory=list)  # phase, point, where, found

    @property
    def images_root(self) -> str:
        return f"{self.d.data_root}/images"

    @property
    def snapshots(self) -> str:
        return f"{self.images_root}/snapshots/overlayfs/snapshots"


@pytest.fixture(scope="module")
def w(rootfs_template: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    reg = Registry(tmp_path_factory.mktemp("k9reg"))
    try:
        with seeded_daemon(rootfs_template) as d:
            world = World(d, reg)
            _prepare(world)
            yield world
            _print_landings(world)
            docker(d, "rm", "-f", "-v", world.keep)
            docker(d, "volume", "rm", "k9keep")
            _no_leftovers(world, keep=False)
    finally:
        reg.close()


def _prepare(w: World) -> None:
    d, host = w.d, w.reg.host
    docker(d, "tag", IMAGE, f"{host}/k9/busybox:latest")
    docker(d, "push", f"{host}/k9/busybox:latest")
    docker(d, "rmi", f"{host}/k9/busybox:latest")
    docker(
        d, "run", "--name", "k9fatsrc", IMAGE, "dd", "if=/dev/urandom", "of=/fat", "bs=1M", f"count={FAT_MB}"
    )
    w.fat = f"{host}/k9/fat:1"
    docker(d, "commit", "k9fatsrc", w.fat)
    docker(d, "rm", "k9fatsrc")
    docker(d, "push", w.fat, timeout=120)
    docker(d, "rmi", w.fat)
    req = urllib.request.Request(
        f"http://{host}/v2/k9/fat/manifests/1",
        headers={
            "Accept": "application/vnd.docker.distribution.manifest.v2+json,"
            " application/vnd.oci.image.manifest.v1+json"
        },
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        w.fat_layer = json.loads(resp.read())["layers"][-1]["digest"]
    w.keep = "k9keep-c"
    docker(d, "run", "-d", "--name", w.keep, "-v", "k9keep:/named", "-v", "/anon", IMAGE, "sleep", "100000")
    w.keep_volumes = {m["Name"] for m in _inspect(d, w.keep)["Mounts"]}
    _no_leftovers(w)


# --- a point: one request, the kill when the disk shows the step, the restart


def _send(d: Daemon, method: str, path: str, body: object = None, raw: bytes | None = None) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.sock)
    ctype = "application/x-tar" if raw is not None else "application/json"
    data = raw if raw is not None else b"" if body is None else json.dumps(body).encode()
    head = f"{method} /v1.41{path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n"
    head += f"Content-Length: {len(data)}\r\n\r\n"
    s.sendall(head.encode() + data)
    return s


def _answered(s: socket.socket) -> bool:
    try:
        return bool(s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False


def _kill_at(
    w: World,
    phase: str,
    point: str,
    s: socket.socket,
    step: Callable[[], bool],
    done: Callable[[bytes], bool],
    delay: float = 0.0,
) -> str:
    """SIGKILL wharfd once ``step()`` holds (then ``delay`` more); where the kill landed:
    'mid-way' (the step seen, the operation unanswered) or 'after' (it had answered)."""
    deadline = time.monotonic() + 30
    seen, answer = False, b""
    while time.monotonic() < deadline:
        if step():
            seen = True
            break
        if _answered(s):
            answer += _drain(s, 0.0)
            if done(answer):
                break
    if seen and delay:
        time.sleep(delay)
    assert w.d.proc is not None
    w.d.proc.send_signal(signal.SIGKILL)
    w.d.proc.wait(10)
    answer += _drain(s, 2.0)
    s.close()
    where = "after" if done(answer) else "mid-way" if seen else "before"
    w.landed.append((phase, point, where, ""))
    w.d.proc = None
    w.d.start()
    return where


def _drain(s: socket.socket, timeout: float) -> bytes:
    """What the socket holds (waiting up to ``timeout`` for more, or until EOF)."""
    s.settimeout(timeout or None)
    if not timeout:
        s.setblocking(False)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except OSError:  # a timeout, nothing more for now, or the daemon gone
        pass
    return out


def _status_2xx(answer: bytes) -> bool:
    return answer.startswith((b"HTTP/1.1 2", b"HTTP/1.1 304"))


def _found(w: World, what: str) -> None:
    phase, point, where, _ = w.landed[-1]
    w.landed[-1] = (phase, point, where, what)


# --- what the disk shows


def _new_entry(
    path: str, before: set[str], match: Callable[[str], bool] = lambda n: True
) -> Callable[[], bool]:
    def step() -> bool:
        try:
            return any(n not in before and match(n) for n in os.listdir(path))
        except FileNotFoundError:
            return False

    return step


def _ls(path: str) -> set[str]:
    try:
        return set(os.listdir(path))
    except FileNotFoundError:
        return set()


def _snapshot_dir(w: World, key: str) -> str:
    db = sqlite3.connect(f"file:{w.images_root}/snapshots/overlayfs/metadata.db?mode=ro", uri=True)
    try:
        (sid,) = db.execute("SELECT id FROM snapshots WHERE key = ?", (key,)).fetchone()
    finally:
        db.close()
    return f"{w.snapshots}/{sid}"


def _gone(path: str) -> Callable[[], bool]:
    return lambda: not os.path.exists(path)


def _pid_gone(pid: int) -> Callable[[], bool]:
    def step() -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except OSError:
            return True

    return step


class _NoRecord:
    """The step "the container's row is gone from engine.db" (one reader kept open: fast)."""

    def __init__(self, d: Daemon, cid: str) -> None:
        self.cid = cid
        self.db = sqlite3.connect(f"file:{d.data_root}/engine.db?mode=ro", uri=True)

    def __call__(self) -> bool:
        try:
            return self.db.execute("SELECT 1 FROM containers WHERE id = ?", (self.cid,)).fetchone() is None
        except sqlite3.Error:
            return False


def _no_partial_writes(w: World) -> None:
    """After a killed build or commit: nothing of its writes is left (none can be resumed),
    once the daemon has opened its image store (at the first request that needs it)."""
    docker(w.d, "images")
    ingest = f"{w.images_root}/content/ingest"
    assert not _ls(ingest), f"a killed commit's partial writes left: {_ls(ingest)}"
    tmp = {n for n in _ls(w.images_root) if n.startswith("tmp")}
    assert not tmp, f"a killed commit's temporary files left: {tmp}"


def _inspect(d: Daemon, *refs: str) -> Any:
    out = json.loads(docker(d, "inspect", *refs).stdout)
    return out[0] if len(refs) == 1 else out


# --- after each restart


def _check(w: World, named: set[str] = frozenset(), partial_ok: bool = False) -> None:  # type: ignore[assignment]
    """Every listing answers, nothing is stuck, every container starts and is removed, every
    image listed is usable; then the point's containers are gone and nothing is left of them."""
    d = w.d
    ids = docker(d, "ps", "-aq", "--no-trunc").stdout.split()
    docker(d, "images")
    docker(d, "volume", "ls")
    infos = _inspect(d, *ids) if len(ids) > 1 else [_inspect(d, ids[0])] if ids else []
    for c in infos:
        st = c["State"]
        assert st["Status"] != "removing", f"{c['Name']} stuck removing"
        if st["Running"]:
            assert not _pid_gone(st["Pid"])(), f"{c['Name']} shown Up, its process {st['Pid']} is dead"
        docker(d, "logs", c["Id"])
    keep = _inspect(d, w.keep)
    assert keep["State"]["Running"], "the container running through the restarts was lost"
    assert docker(d, "exec", w.keep, "echo", "alive").stdout.strip() == "alive"
    for c in infos:
        if c["Id"] == keep["Id"]:
            continue
        if c["State"]["Status"] != "dead":
            docker(d, "start", c["Id"])  # running already: 304, no error
            assert _inspect(d, c["Id"])["State"]["Status"] in ("running", "exited")
        docker(d, "rm", "-f", "-v", c["Id"])
    for line in docker(d, "images", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}").stdout.splitlines():
        image_id, name = line.split()
        ref = image_id if name == "<none>:<none>" else name
        docker(d, "image", "inspect", ref)
        cid = docker(d, "create", "--pull", "never", ref, "true").stdout.strip()
        docker(d, "rm", cid)
    vols = set(docker(d, "volume", "ls", "-q").stdout.split())
    assert named <= vols, f"named volumes lost: {named - vols}"
    left = {v for v in vols - w.keep_volumes - named if not v.startswith("k9named")}
    assert not left, f"volumes of removed containers left: {left}"
    for v in named:
        docker(d, "volume", "rm", v)
    _no_leftovers(w, partial_ok=partial_ok)


def _no_leftovers(w: World, keep: bool = True, partial_ok: bool = False) -> None:
    """Once only the kept container remains: no other runtime state, shim, mount, container
    directory, active snapshot, interrupted extraction, temporary file or lease; no partial
    download either, unless ``partial_ok`` (a killed pull keeps its ingests, to resume them)."""
    d = w.d
    kept = {_inspect(d, w.keep)["Id"]} if keep else set()
    assert set(docker(d, "ps", "-aq", "--no-trunc").stdout.split()) == kept
    for root in (f"{d.exec_root}/runtime", f"{d.exec_root}/containers", f"{d.data_root}/containers"):
        left = _ls(root) - {CACHE_DIR}  # the compiled seccomp filters are kept on purpose
        assert left <= kept, (root, left - kept)
    with open("/proc/self/mounts") as f:
        mounted = [line.split()[1] for line in f if f"{d.data_root}/containers/" in line]
    assert [m for m in mounted if not any(k in m for k in kept)] == [], mounted
    shims = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--id" in argv and d.exec_root.encode() in b" ".join(argv):
            shims.append(argv[argv.index(b"--id") + 1].decode())
    assert set(shims) <= kept, f"shims of removed containers: {shims}"
    assert not keep or shims, "no shim found for the kept container: the shim check looks wrong"
    db = sqlite3.connect(f"file:{w.images_root}/snapshots/overlayfs/metadata.db?mode=ro", uri=True)
    try:
        active = {k for (k,) in db.execute("SELECT key FROM snapshots WHERE kind != 'committed'")}
    finally:
        db.close()
    assert active == kept, f"snapshots no container owns: {active - kept}"
    assert not {n for n in _ls(w.snapshots) if n.startswith("rm-")}, "snapshot removals left half-done"
    stray = {n for n in _ls(w.images_root) if n not in ("content", "snapshots", "metadata.db")}
    assert not {n for n in stray if not n.startswith("metadata.db-") and n != "distribution-sources.json"}, (
        stray
    )
    ingest = f"{w.images_root}/content/ingest"
    partial = {
        n: sorted((f, os.path.getsize(f"{ingest}/{n}/{f}")) for f in _ls(f"{ingest}/{n}"))
        for n in _ls(ingest)
    }
    assert partial_ok or not partial, f"partial downloads left: {partial}"
    db = sqlite3.connect(f"file:{w.images_root}/metadata.db?mode=ro", uri=True)
    try:
        leases = db.execute("SELECT id FROM leases").fetchall()
    finally:
        db.close()
    assert not leases, f"leases of killed operations hold content: {leases}"


def _print_landings(w: World) -> None:
    print("\nkill -9 sweep:")
    for i, (phase, point, where, found) in enumerate(w.landed, 1):
        print(f"{i:2d} {phase:7s} {point:34s} {where:8s} {found}")


# --- the points, phase by phase (20 in all)

CREATE_POINTS = ["anonymous volume made", "snapshot prepared", "files being written"]


@pytest.mark.parametrize("point", CREATE_POINTS)
def test_create(w: World, point: str) -> None:
    d, n = w.d, CREATE_POINTS.index(point)
    name, named = f"k9c{n}", f"k9named-c{n}"
    vols, snaps, dirs = _ls(f"{d.data_root}/volumes"), _ls(w.snapshots), _ls(f"{d.data_root}/containers")
    steps = {
        0: _new_entry(f"{d.data_root}/volumes", vols, ANON.match),  # type: ignore[arg-type]
        1: _new_entry(w.snapshots, snaps),
        2: lambda: any(
            os.path.exists(f"{d.data_root}/containers/{x}/hosts")
            for x in _ls(f"{d.data_root}/containers") - dirs
        ),
    }
    body = {"Image": IMAGE, "Cmd": ["sleep", "300"], "Volumes": {"/anon": {}},
            "HostConfig": {"Binds": [f"{named}:/named"]}}  # fmt: skip
    s = _send(d, "POST", f"/containers/create?name={name}", body)
    _kill_at(w, "create", point, s, steps[n], _status_2xx)
    listed = name in docker(d, "ps", "-a", "--format", "{{.Names}}").stdout.split()
    anon = {
        v
        for v in docker(d, "volume", "ls", "-q").stdout.split()
        if v not in w.keep_volumes and ANON.match(v)
    }
    _found(w, f"container {'listed' if listed else 'not listed'}, {len(anon)} anonymous volume(s) listed")
    if not listed:
        assert not anon, f"a create that never answered left anonymous volumes {anon}"
    _check(w, {named} if named in docker(d, "volume", "ls", "-q").stdout.split() else set())


START_POINTS = ["bundle written", "runtime state made", "process started, record next"]


@pytest.mark.parametrize("point", START_POINTS)
def test_start(w: World, point: str) -> None:
    d, n = w.d, START_POINTS.index(point)
    cid = docker(d, "create", "--name", f"k9s{n}", IMAGE, "sleep", "300").stdout.strip()
    steps = {0: lambda: os.path.exists(f"{d.exec_root}/containers/{cid}/config.json"),
             1: lambda: os.path.exists(f"{d.exec_root}/runtime/{cid}"),
             2: lambda: os.path.exists(f"{d.exec_root}/runtime/{cid}/state.json")
             and not os.path.exists(f"{d.exec_root}/runtime/{cid}/exec.fifo")}  # fmt: skip
    s = _send(d, "POST", f"/containers/{cid}/start")
    _kill_at(w, "start", point, s, steps[n], _status_2xx)
    _found(w, f"status after restart: {_inspect(d, cid)['State']['Status']}")
    _check(w)


STOP_POINTS = ["in the grace period", "process gone, exit being recorded"]


@pytest.mark.parametrize("point", STOP_POINTS)
def test_stop(w: World, point: str) -> None:
    d, n = w.d, STOP_POINTS.index(point)
    cid = docker(d, "run", "-d", "--name", f"k9t{n}", IMAGE, "sleep", "300").stdout.strip()
    pid = _inspect(d, cid)["State"]["Pid"]
    steps = {0: lambda: True, 1: _pid_gone(pid)}
    s = _send(d, "POST", f"/containers/{cid}/stop?t=1")
    _kill_at(w, "stop", point, s, steps[n], _status_2xx, delay=0.3 if n == 0 else 0.0)
    st = _inspect(d, cid)["State"]
    _found(w, f"status after restart: {st['Status']} (exit {st['ExitCode']})")
    if _pid_gone(pid)():
        assert not st["Running"], "a container whose process died is shown running"
    _check(w)


RM_POINTS = ["snapshot being removed", "record deleted", "rm -f: process killed"]


@pytest.mark.parametrize("point", RM_POINTS)
def test_rm(w: World, point: str) -> None:
    d, n = w.d, RM_POINTS.index(point)
    named = f"k9named-r{n}"
    cid = docker(d, "run", "-d", "--name", f"k9r{n}", "-v", f"{named}:/named", "-v", "/anon", IMAGE,
                 "sleep", "300").stdout.strip()  # fmt: skip
    anon = {m["Name"] for m in _inspect(d, cid)["Mounts"] if m["Name"] != named}
    pid = _inspect(d, cid)["State"]["Pid"]
    if n < 2:
        docker(d, "stop", "-t", "0", cid)
    no_record = _NoRecord(d, cid)
    steps = {0: _gone(_snapshot_dir(w, cid)), 1: no_record, 2: _pid_gone(pid)}
    s = _send(d, "DELETE", f"/containers/{cid}?v=1&force=1")
    try:
        _kill_at(w, "rm", point, s, steps[n], _status_2xx)
    finally:
        no_record.db.close()
    listed = cid in docker(d, "ps", "-aq", "--no-trunc").stdout.split()
    vols = set(docker(d, "volume", "ls", "-q").stdout.split())
    status = _inspect(d, cid)["State"]["Status"] if listed else "gone"
    _found(w, f"container {status}, anonymous volume {'listed' if anon & vols else 'gone'}")
    if not listed:
        assert not anon & vols, "rm -v removed the container but left its anonymous volume"
    assert named in vols
    _check(w, {named})


PULL_POINTS = ["layer downloading", "layer blob committed", "layer unpacking"]


def _big_ingest(root: str) -> bool:
    for dirpath, _, files in os.walk(root):
        for f in files:
            try:
                if os.path.getsize(os.path.join(dirpath, f)) > 1 << 16:
                    return True
            except OSError:
                pass
    return False


@pytest.mark.parametrize("point", PULL_POINTS)
def test_pull(w: World, point: str) -> None:
    d, n = w.d, PULL_POINTS.index(point)
    blob = f"{w.images_root}/content/blobs/sha256/{w.fat_layer.split(':')[1]}"
    assert not os.path.exists(blob), "the removed image's layer is still stored"
    snaps = _ls(w.snapshots)
    steps = {0: lambda: _big_ingest(f"{w.images_root}/content/ingest"), 1: lambda: os.path.exists(blob),
             2: _new_entry(w.snapshots, snaps)}  # fmt: skip
    repo, _, tag = w.fat.rpartition(":")
    s = _send(d, "POST", f"/images/create?fromImage={repo}&tag={tag}")
    _kill_at(w, "pull", point, s, steps[n], lambda a: b"Status: " in a)
    listed = w.fat in docker(d, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    _found(w, f"image {'listed' if listed else 'not listed'}")
    _check(w, partial_ok=True)  # a listed image must run: a half-unpacked one fails here
    docker(d, "pull", w.fat, timeout=120)
    out = docker(d, "run", "--rm", w.fat, "stat", "-c", "%s", "/fat").stdout.strip()
    assert out == str(FAT_MB << 20)
    docker(d, "rmi", w.fat)
    _no_leftovers(w)


BUILD_POINTS = ["RUN step running", "COPY into the container", "committing the COPY step"]


def _payload(tmp: Path) -> Path:
    p = tmp / "payload"
    if not p.exists():
        p.write_bytes(os.urandom(16 << 20))
    return p


def _tar_of(path: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(path, arcname="payload")
    return buf.getvalue()


def _build(d: Daemon, tag: str, payload: Path, until: str = "") -> str:
    """The classic builder's steps for ``FROM busybox / RUN echo built > /built / COPY payload
    /payload``: a container per step, committed; returns the container of step ``until``."""
    run = docker(d, "create", IMAGE, "/bin/sh", "-c", "echo built > /built; sleep 0.5").stdout.strip()
    if until == "run":
        return run
    docker(d, "start", "-a", run)
    step1 = docker(d, "commit", run).stdout.strip()
    docker(d, "rm", run)
    cp = docker(d, "create", step1, "/bin/sh", "-c", "#(nop) COPY file:payload in /payload").stdout.strip()
    if until == "copy":
        return cp
    docker(d, "cp", str(payload), f"{cp}:/payload")
    if until == "commit":
        return cp
    docker(d, "commit", "--change", 'CMD ["sh"]', cp, tag)
    docker(d, "rm", cp)
    return ""


@pytest.mark.parametrize("point", BUILD_POINTS)
def test_build(w: World, point: str, tmp_path: Path) -> None:
    d, n = w.d, BUILD_POINTS.index(point)
    tag, payload = f"k9built:{n}", _payload(tmp_path)
    cid = _build(d, tag, payload, until=("run", "copy", "commit")[n])
    if n == 0:
        docker(d, "start", cid)
        s = _send(d, "POST", f"/containers/{cid}/wait")
        step: Callable[[], bool] = lambda: True  # noqa: E731
    elif n == 1:
        upper = f"{_snapshot_dir(w, cid)}/fs/payload"
        s = _send(d, "PUT", f"/containers/{cid}/archive?path=/", raw=_tar_of(payload))
        step = lambda: os.path.exists(upper)  # noqa: E731
    else:
        before = _ls(w.images_root)
        s = _send(d, "POST", f"/commit?container={cid}&repo=k9built&tag={n}")
        step = _new_entry(w.images_root, before)
    done = (lambda a: b"StatusCode" in a) if n == 0 else _status_2xx
    _kill_at(w, "build", point, s, step, done, delay=0.1 if n == 0 else 0.0)
    _no_partial_writes(w)
    listed = tag in docker(d, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    status = _inspect(d, cid)["State"]["Status"]
    _found(w, f"build container {status}, image {'listed' if listed else 'not listed'}")
    _check(w)
    _build(d, tag, payload)  # built again from the start, as docker build would
    out = docker(d, "run", "--rm", tag, "sh", "-c", "cat /built; stat -c %s /payload").stdout.split()
    assert out == ["built", str(16 << 20)]
    docker(d, "rmi", tag)
    docker(d, "image", "prune", "-f")
    _no_leftovers(w)


COMMIT_POINTS = ["layer being written", "layer blob being stored", "layer unpacking"]


@pytest.mark.parametrize("point", COMMIT_POINTS)
def test_commit(w: World, point: str) -> None:
    d, n = w.d, COMMIT_POINTS.index(point)
    name, tag = f"k9m{n}", f"k9commit:{n}"
    docker(d, "run", "--name", name, IMAGE, "dd", "if=/dev/urandom", "of=/fat", "bs=1M", f"count={FAT_MB}")
    roots, snaps = _ls(w.images_root), _ls(w.snapshots)

    steps = {0: _new_entry(w.images_root, roots), 1: lambda: _big_ingest(f"{w.images_root}/content/ingest"),
             2: _new_entry(w.snapshots, snaps)}  # fmt: skip
    s = _send(d, "POST", f"/commit?container={name}&repo=k9commit&tag={n}")
    _kill_at(w, "commit", point, s, steps[n], _status_2xx)
    _no_partial_writes(w)
    listed = tag in docker(d, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    _found(w, f"image {'listed' if listed else 'not listed'}")
    docker(d, "commit", name, tag)  # again, while the container is still there
    _check(w)
    out = docker(d, "run", "--rm", tag, "stat", "-c", "%s", "/fat").stdout.strip()
    assert out == str(FAT_MB << 20)
    docker(d, "rmi", tag)
    _no_leftovers(w)


def test_every_phase_killed_mid_way(w: World) -> None:
    phases = {p for p, _, where, _ in w.landed if where == "mid-way"}
    assert len(w.landed) == 20
    assert phases == {"create", "start", "stop", "rm", "pull", "build", "commit"}, w.landed
