"""json-file logs with rotation, the logs options (tail, since/until, timestamps, stderr
separation), and stats as a stream, through the real docker CLI."""

from __future__ import annotations

import glob
import json
import os
import time

import pytest
from tests.daemon import Daemon, UnixHTTPConnection
from tests.integration.engine.conftest import CLI, IMAGE

pytestmark = pytest.mark.root


@pytest.fixture
def docker(wharfd: Daemon) -> CLI:
    return CLI(wharfd, "docker")


def test_rotation_keeps_max_files_and_logs_read_across_them(docker: CLI, wharfd: Daemon) -> None:
    script = "i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); done"
    cid = docker("run", "-d", "--log-opt", "max-size=2k", "--log-opt", "max-file=3", IMAGE,
                 "sh", "-c", script).stdout.strip()  # fmt: skip
    try:
        assert docker("wait", cid).stdout.strip() == "0"
        path = json.loads(docker("inspect", cid).stdout)[0]["LogPath"]
        files = sorted(glob.glob(path + "*"))
        assert len(files) == 3, files  # the live file and two rotated ones, older ones dropped
        assert all(os.path.getsize(f) <= 2048 + 200 for f in files)
        lines = docker("logs", cid).stdout.split()
        assert lines[-1] == "line-399"
        nums = [int(x.split("-")[1]) for x in lines]
        assert nums == list(range(nums[0], 400)) and nums[0] > 0  # contiguous, the oldest gone
        assert docker("logs", "--tail", "3", cid).stdout.split() == ["line-397", "line-398", "line-399"]
    finally:
        docker("rm", "-f", cid, check=False)


def test_logs_streams_timestamps_since_until(docker: CLI) -> None:
    cid = docker(
        "run", "-d", IMAGE, "sh", "-c", "echo out1; echo err1 >&2; sleep 1.2; echo out2"
    ).stdout.strip()
    try:
        docker("wait", cid)
        r = docker("logs", cid)
        assert (r.stdout, r.stderr) == ("out1\nout2\n", "err1\n")
        stamped = docker("logs", "-t", cid).stdout.splitlines()
        assert stamped[0].endswith(" out1") and stamped[0][:4].isdigit() and "T" in stamped[0]
        first = stamped[0].split()[0]
        later = docker("logs", "--since", stamped[1].split()[0], cid).stdout.split()
        assert later == ["out2"]
        early = docker("logs", "--until", first, cid)
        assert early.stdout.split() == ["out1"]
    finally:
        docker("rm", "-f", cid, check=False)


def test_stats_stream_gives_successive_samples(wharfd: Daemon, docker: CLI) -> None:
    cid = docker("run", "-d", IMAGE, "sh", "-c", "while true; do :; done").stdout.strip()
    try:
        conn = UnixHTTPConnection(wharfd.sock)
        try:
            conn.request("GET", f"/v1.47/containers/{cid}/stats")
            resp = conn.getresponse()
            samples = [json.loads(resp.readline()) for _ in range(3)]
        finally:
            conn.close()
        usage = [s["cpu_stats"]["cpu_usage"]["total_usage"] for s in samples]
        assert usage[0] < usage[1] < usage[2]  # a busy loop: CPU time grows between samples
        assert samples[2]["precpu_stats"]["cpu_usage"]["total_usage"] == usage[1]
        assert samples[0]["pids_stats"]["current"] >= 1 and samples[0]["memory_stats"]["usage"] > 0
        t0 = time.time()
        pct = docker("stats", "--no-stream", "--format", "{{.CPUPerc}}", cid).stdout.strip()
        assert float(pct.rstrip("%")) > 20 and time.time() - t0 < 5
    finally:
        docker("rm", "-f", cid, check=False)
