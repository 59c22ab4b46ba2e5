"""Escape classes of runc and Docker, reproduced against wharf.

CVE-2019-5736: a container re-executes whatever runs between its namespaces and its execve
(``#!/proc/self/exe``) and takes a handle to that file. Were it the host's interpreter, the
container could rewrite it once no process runs it. wharf's runtime runs from a sealed memfd
copy, so the handle is to a file nothing can change and no host path names.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import IMAGE, docker
from tests.integration.runtime.helpers import Runtime, bundle, spec_for

pytestmark = pytest.mark.root

HOST_PYTHON = os.path.realpath(sys.executable)
PYTHONHOME = sys.base_prefix

# run by the kernel with /proc/self/exe as its interpreter: whatever executable the process that
# called execve had. It reports what it got hold of and never writes to it.
PROBE = """#!/proc/self/exe
import fcntl, json, os
fd = os.open("/proc/self/exe", os.O_RDONLY)
st = os.fstat(fd)
try:
    seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
except OSError:
    seals = None
print(json.dumps({"dev": st.st_dev, "ino": st.st_ino, "link": os.readlink("/proc/self/exe"),
                  "seals": seals}))
"""

# the host's libraries and the interpreter's standard library, read-only, so that the
# re-executed interpreter can run inside the busybox container at all (what a real image with a
# libc would provide)
MOUNTS = ["/lib:/lib:ro", "/lib64:/lib64:ro", f"{PYTHONHOME}:{PYTHONHOME}:ro"]


def _host_files() -> set[tuple[int, int]]:
    """(dev, ino) of every file the runtime could be run from on this host."""
    paths = [HOST_PYTHON, sys.executable, os.path.join(os.path.dirname(sys.executable), "wharf-runtime")]
    return {(os.stat(p).st_dev, os.stat(p).st_ino) for p in paths if os.path.exists(p)}


def _assert_contained(report: dict[str, Any]) -> None:
    assert (report["dev"], report["ino"]) not in _host_files(), report
    assert report["link"].startswith("/memfd:"), report
    seals = report["seals"]
    assert seals is not None, report
    for seal in (fcntl.F_SEAL_WRITE, fcntl.F_SEAL_GROW, fcntl.F_SEAL_SHRINK, fcntl.F_SEAL_SEAL):
        assert seals & seal, report


@pytest.fixture
def probe_dir(tmp_path: Path) -> Path:
    d = tmp_path / "probe"
    d.mkdir()
    (d / "evil").write_text(PROBE)
    os.chmod(d / "evil", 0o755)
    return d


def _volumes(probe_dir: Path) -> list[str]:
    args = []
    for m in [*MOUNTS, f"{probe_dir}:/probe:ro"]:
        args += ["-v", m]
    return args


def test_entrypoint_proc_self_exe_gets_a_sealed_copy(wharfd: Daemon, probe_dir: Path) -> None:
    r = docker(
        wharfd,
        "run",
        "--rm",
        *_volumes(probe_dir),
        "-e",
        f"PYTHONHOME={PYTHONHOME}",
        "--entrypoint",
        "/probe/evil",
        IMAGE,
    )
    _assert_contained(json.loads(r.stdout.strip().splitlines()[-1]))


def test_exec_proc_self_exe_gets_a_sealed_copy(wharfd: Daemon, probe_dir: Path) -> None:
    name = f"esc-{uuid.uuid4().hex[:8]}"
    docker(wharfd, "run", "-d", "--name", name, *_volumes(probe_dir), IMAGE, "sleep", "300")
    try:
        r = docker(wharfd, "exec", "-e", f"PYTHONHOME={PYTHONHOME}", name, "/probe/evil")
        _assert_contained(json.loads(r.stdout.strip().splitlines()[-1]))
    finally:
        docker(wharfd, "rm", "-f", name, check=False)


def test_runtime_started_from_the_host_interpreter_reexecutes_sealed(
    rt: Runtime, tmp_path: Path, probe_dir: Path, rootfs_template: str
) -> None:
    """The runtime started as pip's console script would start it: the host interpreter runs
    the module (no launcher); it must re-execute itself from a sealed copy. (``rt`` removes the
    container, through the launcher, if the test fails.)"""
    spec = spec_for(["/probe/evil"])
    spec["process"]["env"].append(f"PYTHONHOME={PYTHONHOME}")
    for m in [*MOUNTS, f"{probe_dir}:/probe:ro"]:
        src, dst, _ = m.split(":")
        spec["mounts"].append(
            {"destination": dst, "source": src, "type": "bind", "options": ["rbind", "ro"]}
        )
    b = bundle(tmp_path, spec, rootfs_template)
    cid = rt.new_id()
    argv = [
        sys.executable,
        "-m",
        "wharf.runtime.cli",
        "--root",
        str(rt.root),
        "run",
        "--bundle",
        b,
        cid,
    ]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    _assert_contained(json.loads(r.stdout.strip().splitlines()[-1]))
