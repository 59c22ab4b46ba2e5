"""WHARF_TRACE: one `docker run --rm` leaves a timeline written by the daemon, the shim and the
runtime, on one clock, in the order the work happens (bench/trace_run.py reads it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.engine.conftest import IMAGE, docker, seeded_daemon

pytestmark = pytest.mark.root


def _traced_run(
    rootfs_template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *run: str
) -> tuple[str, list[list[str]]]:
    """`docker run --rm RUN...` on a daemon started with WHARF_TRACE: its output, and the lines
    the run appended (as written: <ns> <pid> <who> <event and detail>)."""
    trace = tmp_path / "trace.log"
    monkeypatch.setenv("WHARF_TRACE", str(trace))
    with seeded_daemon(rootfs_template) as d:
        monkeypatch.delenv("WHARF_TRACE")
        trace.write_text("")
        out = docker(d, "run", "--rm", *run).stdout
        return out, [line.split(" ", 3) for line in trace.read_text().splitlines()]


def test_a_run_leaves_a_timeline_of_every_process(
    rootfs_template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, appended = _traced_run(rootfs_template, tmp_path, monkeypatch, IMAGE, "true")
    # each process appends its lines as they happen: in the file, one pid's stamps only go up
    # (across processes a writer preempted between its clock read and its write lands later)
    for pid in {p for _, p, _, _ in appended}:
        stamps = [int(ns) for ns, p, _, _ in appended if p == pid]
        assert stamps == sorted(stamps), pid
    # one clock: sorted by the stamp, as the docs and bench/trace_run.py read it, the lines
    # are the run's timeline
    lines = sorted(appended, key=lambda f: int(f[0]))
    events = [(who, what) for _, _, who, what in lines]
    order = [  # wharf's runtime: the warm spawner forks, creates, and becomes the shim
        ("wharfd", "spec written"),
        ("spawner", "forked"),
        ("runtime", "create"),
        ("runtime", "init ready"),
        ("shim", "adopted"),
        ("shim", "init exited"),
        ("shim", "exit written"),
        ("wharfd", "exit recorded"),
    ]
    at = [next(i for i, e in enumerate(events) if e == want) for want in order]
    assert at == sorted(at), events
    # the daemon's mark follows the start's return: `true` may have exited by then
    assert events.index(("wharfd", "runtime start")) > at[order.index(("shim", "adopted"))]
    pids = {who: {p for _, p, w, _ in lines if w == who} for who in ("wharfd", "spawner", "shim", "runtime")}
    assert all(len(p) == 1 for p in pids.values()) and not pids["wharfd"] & pids["shim"]
    # the spawner's fork created the container in-process and then became the shim
    assert pids["spawner"] == pids["runtime"] == pids["shim"]
    assert ("shim", "runtime create") not in events


def test_another_runtime_is_run_by_the_shim_as_a_command(
    rootfs_template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """runc (not wharf's runtime) gets no spawner: the shim runs `runc create` itself."""
    out, lines = _traced_run(
        rootfs_template, tmp_path, monkeypatch, "--runtime", "runc", IMAGE, "echo", "by runc"
    )
    assert out == "by runc\n"
    names = [" ".join(fields[2:]) for fields in lines]
    assert "shim runtime create" in names and "shim runtime create exited" in names
    assert not any(n.startswith(("spawner ", "runtime ")) for n in names)
