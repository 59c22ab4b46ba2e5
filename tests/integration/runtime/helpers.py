"""Drive wharf-runtime (or runc) on busybox bundles built for one test."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import RUNTIME, TEST_CGROUP_PARENT

from wharf.fixtures.busybox import base_spec, make_bundle


class Runtime:
    """One runtime binary with a state root of the test's own; ``cleanup`` deletes leftovers."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.ids: list[str] = []

    def cmd(
        self, *args: str, check: bool = False, timeout: float = 60, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run the runtime; output goes through files, not pipes, because a detached container
        keeps the runtime's stdio open long after the runtime has returned."""
        argv = [self.binary, "--root", str(self.root), *args]
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            kw.setdefault("stdin", subprocess.DEVNULL)
            p = subprocess.run(argv, stdout=out, stderr=err, text=True, timeout=timeout, **kw)
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(argv, p.returncode, out.read(), err.read())
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r

    def new_id(self) -> str:
        cid = f"t{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        return cid

    def cleanup(self) -> None:
        for cid in self.ids:
            self.cmd("delete", "--force", cid)


def spec_for(args: list[str], cid_hint: str = "") -> dict[str, Any]:
    spec = base_spec(args)
    spec["linux"]["cgroupsPath"] = f"/{TEST_CGROUP_PARENT}/{cid_hint or uuid.uuid4().hex[:8]}"
    return spec


def bundle(tmp: Path, spec: dict[str, Any], template: str) -> str:
    path = tmp / f"bundle-{uuid.uuid4().hex[:6]}"
    return make_bundle(str(path), spec, template)


def write_spec(bundle_dir: str, spec: dict[str, Any]) -> None:
    with open(os.path.join(bundle_dir, "config.json"), "w") as f:
        json.dump(spec, f)


def runtime_path() -> str:
    return RUNTIME


def run_detached(rt: Runtime, tmp: Path, template: str, args: list[str]) -> str:
    """`run -d` a container of the test's own; returns its id (``rt.cleanup`` removes it)."""
    cid = rt.new_id()
    rt.cmd("run", "-d", "--bundle", bundle(tmp, spec_for(args, cid), template), cid, check=True)
    return cid


def remove_runc_parent_cgroups() -> None:
    """runc leaves the parent cgroups of a cgroupsPath it created; wharf-runtime removes its own.
    Tests that drive runc call this so the session's leak check speaks of wharf only."""
    for hier in os.listdir("/sys/fs/cgroup"):
        d = f"/sys/fs/cgroup/{hier}/{TEST_CGROUP_PARENT}"
        if os.path.isdir(d):
            try:
                os.rmdir(d)
            except OSError:
                pass  # not empty: a container of another test still lives there
