"""The build cache and the build's plan through Debian's docker CLI 20.10 (classic builder,
API 1.41) against wharfd: an unchanged rebuild is all cache hits, a touched mtime is still a hit,
a changed file invalidates its COPY and what follows only; the cache outlives a kill -9 of the
daemon; ``--no-cache``, ``builder prune`` and ``system df``; step images hidden from ``images``;
only the stages ``--target`` needs run; ONBUILD triggers run in a child build."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.daemon import Daemon

from .conftest import seeded_daemon

CLI = "/usr/bin/docker"

DOCKERFILE = """\
FROM busybox:latest
ENV A=1
RUN echo first > /first
COPY a.txt /a.txt
COPY b.txt /b.txt
RUN cat /a.txt /b.txt > /both
CMD ["cat", "/both"]
"""


def _docker(
    d: Daemon, *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(d.env(), DOCKER_BUILDKIT="0")
    r = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=180, input=stdin)
    if check and r.returncode:
        raise AssertionError(f"docker {' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


def _steps(out: str) -> dict[int, bool]:
    """Step number → whether it was a cache hit, read from the classic builder's output."""
    hits: dict[int, bool] = {}
    current = 0
    for line in out.splitlines():
        m = re.match(r"Step (\d+)/\d+ :", line)
        if m:
            current = int(m.group(1))
            hits[current] = False
        elif line.strip() == "---> Using cache":
            hits[current] = True
    return hits


@pytest.fixture
def own_daemon(rootfs_template: str) -> Iterator[Daemon]:
    """A daemon of this test alone: the cache tests count hits and restart it."""
    with seeded_daemon(rootfs_template) as d:
        yield d
        assert _docker(d, "ps", "-aq").stdout == "", "a build left a container behind"


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "b.txt").write_text("b\n")
    return tmp_path


def test_rebuilds_hit_the_cache_by_content_and_survive_a_daemon_kill(own_daemon: Daemon, ctx: Path) -> None:
    d = own_daemon
    first = _docker(d, "build", "-t", "cached:1", str(ctx)).stdout
    assert not any(_steps(first).values()), first
    again = _docker(d, "build", "-t", "cached:1", str(ctx)).stdout
    assert _steps(again) == {1: False, **{n: True for n in range(2, 8)}}, again
    image = _docker(d, "images", "-q", "--no-trunc", "cached:1").stdout.strip()
    assert f"Successfully built {image.removeprefix('sha256:')[:12]}" in again

    os.utime(ctx / "a.txt", (1, 1))  # an mtime alone: still the same files
    touched = _docker(d, "build", "-t", "cached:1", str(ctx)).stdout
    assert all(_steps(touched)[n] for n in range(2, 8)), touched

    (ctx / "b.txt").write_text("B changed\n")
    changed = _docker(d, "build", "-t", "cached:1", str(ctx)).stdout
    assert _steps(changed) == {1: False, 2: True, 3: True, 4: True, 5: False, 6: False, 7: False}, changed
    assert _docker(d, "run", "--rm", "cached:1").stdout == "a\nB changed\n"

    d.stop(signal.SIGKILL)  # the cache is in the store's database: it outlives the daemon
    d.start()
    after = _docker(d, "build", "-t", "cached:1", str(ctx)).stdout
    assert all(_steps(after)[n] for n in range(2, 8)), after

    nocache = _docker(d, "build", "--no-cache", "-t", "cached:1", str(ctx)).stdout
    assert not any(_steps(nocache).values()), nocache
    _docker(d, "rmi", "cached:1")


def test_step_images_are_hidden_and_builder_prune_empties_the_cache(own_daemon: Daemon, ctx: Path) -> None:
    d = own_daemon
    _docker(d, "build", "-t", "pruned:1", str(ctx))
    old = _docker(d, "images", "-q", "pruned:1").stdout.strip()
    listed = _docker(d, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    assert sorted(listed) == ["busybox:latest", "pruned:1"]  # the steps' images are intermediate
    assert _docker(d, "images", "-a", "-q").stdout.count("\n") > 2  # ... and shown by -a
    assert "Build cache usage" in _docker(d, "system", "df", "-v").stdout
    status, df = d.request("GET", "/system/df")
    steps = [e["Description"] for e in df["BuildCache"]]
    assert status == 200 and "RUN cat /a.txt /b.txt > /both" in steps and len(steps) == 6, steps
    from .conftest import WHARF

    pruned = subprocess.run([WHARF, "builder", "prune", "-f"], env=d.env(), capture_output=True, text=True)
    assert pruned.returncode == 0 and "Deleted build cache objects:" in pruned.stdout, pruned.stderr
    assert "Total reclaimed space" in pruned.stdout
    again = _docker(d, "builder", "prune", "-f").stdout  # the docker CLI's: nothing left
    assert "Deleted build cache objects" not in again and "Total reclaimed space: 0B" in again, again
    rebuilt = _docker(d, "build", "-t", "pruned:1", str(ctx)).stdout
    assert not any(_steps(rebuilt).values()), rebuilt
    # made again, not taken from the cache: the tag moved, the old image is dangling (as Docker)
    assert _docker(d, "images", "-q", "-f", "dangling=true").stdout.split() == [old]
    _docker(d, "rmi", "pruned:1", old)
    assert _docker(d, "images", "-q").stdout.count("\n") == 1  # busybox only


MULTI = """\
FROM busybox:latest AS unused
RUN echo never > /never
FROM busybox:latest AS left
RUN echo left > /left
FROM busybox:latest AS right
RUN echo right > /right
FROM busybox:latest AS final
COPY --from=left /left /left
COPY --from=right /right /right
CMD ["cat", "/left", "/right"]
FROM busybox:latest AS after
RUN echo after
"""


def test_target_runs_only_the_stages_it_needs(own_daemon: Daemon, tmp_path: Path) -> None:
    d = own_daemon
    (tmp_path / "Dockerfile").write_text(MULTI)
    out = _docker(d, "build", "--target", "final", "-t", "multi:1", str(tmp_path)).stdout
    assert "echo never" not in out and "echo after" not in out, out
    assert out.index("echo left") < out.index("echo right") < out.index("COPY --from=left")
    assert _docker(d, "run", "--rm", "multi:1").stdout == "left\nright\n"
    bad = _docker(d, "build", "--target", "nope", str(tmp_path), check=False)
    assert bad.returncode == 1 and "failed to reach build target nope in Dockerfile" in bad.stderr
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest AS me\nCOPY --from=me /bin/busybox /x\n")
    itself = _docker(d, "build", str(tmp_path), check=False)
    assert itself.returncode == 1, itself.stdout
    assert 'cannot copy from stage "me", it needs to be defined before current stage "me"' in itself.stderr
    _docker(d, "rmi", "multi:1")


def test_onbuild_triggers_run_in_the_child_build(own_daemon: Daemon, tmp_path: Path) -> None:
    d = own_daemon
    parent, child = tmp_path / "parent", tmp_path / "child"
    parent.mkdir()
    child.mkdir()
    (parent / "Dockerfile").write_text(
        "FROM busybox:latest\nONBUILD COPY hello.txt /hello.txt\nONBUILD RUN echo triggered > /trig\n"
    )
    (child / "Dockerfile").write_text("FROM onbuild-parent:1\nCMD cat /hello.txt /trig\n")
    (child / "hello.txt").write_text("from the child's context\n")
    _docker(d, "build", "-t", "onbuild-parent:1", str(parent))
    out = _docker(d, "build", "-t", "onbuild-child:1", str(child)).stdout
    assert "# Executing 2 build triggers" in out, out
    assert _docker(d, "run", "--rm", "onbuild-child:1").stdout == "from the child's context\ntriggered\n"
    onbuild = _docker(d, "inspect", "-f", "{{json .Config.OnBuild}}", "onbuild-child:1").stdout.strip()
    assert onbuild in ("null", "[]")
    _docker(d, "rmi", "onbuild-child:1", "onbuild-parent:1")


def test_a_client_that_goes_away_cancels_the_build(own_daemon: Daemon, tmp_path: Path) -> None:
    """Ctrl-C of the client (its connection closes): the running RUN's container is removed, its
    mounts go, no step image of the unfinished step is left."""
    import time

    d = own_daemon
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN echo started && sleep 60\n")
    env = dict(d.env(), DOCKER_BUILDKIT="0")
    client = subprocess.Popen([CLI, "build", str(tmp_path)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout is not None
        for line in client.stdout:
            if line.strip() == "started":  # the RUN's own output, not its Step line
                break
        assert _docker(d, "ps", "-q").stdout.strip(), "the RUN step's container is not running"
    finally:
        client.send_signal(signal.SIGINT)
        client.wait(timeout=30)
    deadline = time.monotonic() + 20
    while _docker(d, "ps", "-aq").stdout.strip() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _docker(d, "ps", "-aq").stdout == "", "the cancelled build left its container"
    with open("/proc/self/mountinfo") as f:
        left = [line.split()[4] for line in f if d.data_root in line.split()[4] and "/containers/" in line]
    assert not left, left
