"""Docker's default seccomp profile, converted by the engine, enforced by wharf-runtime and
runc alike: creating a user namespace needs no capability, yet the profile forbids it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.integration.runtime.helpers import Runtime, bundle, remove_runc_parent_cgroups, spec_for
from tests.unit.engine.test_seccomp_profile import DOCKER_DEFAULT_CAPS

from wharf.engine.seccomp_profile import default_profile, to_oci

pytestmark = pytest.mark.root

SCRIPT = "unshare -U true; echo userns=$?; ls / >/dev/null; echo ls=$?"


def _run(rt: Runtime, tmp_path: Path, template: str, with_profile: bool) -> str:
    cid = rt.new_id()
    spec = spec_for(["sh", "-c", SCRIPT], cid)
    caps = list(DOCKER_DEFAULT_CAPS)
    spec["process"]["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    if with_profile:
        spec["linux"]["seccomp"] = to_oci(default_profile(), caps)
    r = rt.cmd("run", "--bundle", bundle(tmp_path, spec, template), cid)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("binary", ["wharf-runtime", "runc"])
def test_default_profile_blocks_unshare(
    binary: str, rt: Runtime, tmp_path: Path, rootfs_template: str
) -> None:
    if binary == "runc":
        found = shutil.which("runc")
        if found is None:
            pytest.skip("runc is not installed")
        rt = Runtime(found, tmp_path / "runc-state")
    try:
        assert _run(rt, tmp_path, rootfs_template, False).split() == ["userns=0", "ls=0"]
        assert _run(rt, tmp_path, rootfs_template, True).split() == ["userns=1", "ls=0"]
    finally:
        rt.cleanup()
        remove_runc_parent_cgroups()
