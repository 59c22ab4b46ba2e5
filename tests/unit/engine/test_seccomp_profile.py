"""Docker's default seccomp profile converted for one container, as dockerd does."""

from __future__ import annotations

import pytest

from wharf.engine.seccomp_profile import default_profile, kernel_version, load_profile, to_oci
from wharf.errors import InvalidArgument

DOCKER_DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]


def _names(oci: dict) -> set[str]:  # type: ignore[type-arg]
    return {n for r in oci["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}


def test_default_caps_on_amd64() -> None:
    oci = to_oci(default_profile(), DOCKER_DEFAULT_CAPS, "x86_64", (6, 18))
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO" and oci["defaultErrnoRet"] == 1
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = _names(oci)
    assert {"read", "arch_prctl", "chroot", "ptrace"} <= allowed  # chroot: CAP_SYS_CHROOT is held
    assert not {"mount", "unshare", "reboot", "init_module", "sync_file_range2"} & allowed
    clone3 = [r for r in oci["syscalls"] if r["names"] == ["clone3"]]
    assert clone3 == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    clone = [r for r in oci["syscalls"] if r["names"] == ["clone"]]
    assert clone and clone[0]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"


def test_sys_admin_opens_mount_and_unrestricted_clone() -> None:
    oci = to_oci(default_profile(), [*DOCKER_DEFAULT_CAPS, "CAP_SYS_ADMIN"], "x86_64", (6, 18))
    allowed = _names(oci)
    assert {"mount", "unshare", "setns", "clone3"} <= allowed
    assert not [r for r in oci["syscalls"] if r["names"] == ["clone3"] and r["action"] == "SCMP_ACT_ERRNO"]


def test_arm64_and_old_kernel() -> None:
    oci = to_oci(default_profile(), DOCKER_DEFAULT_CAPS, "aarch64", (4, 4))
    assert oci["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    allowed = _names(oci)
    assert "arm_fadvise64_64" in allowed and "arch_prctl" not in allowed
    assert "ptrace" not in allowed  # needs kernel 4.8


def test_kernel_version_and_bad_profiles() -> None:
    assert kernel_version("6.18.0-1-amd64") == (6, 18)
    assert kernel_version("4.8") == (4, 8)
    with pytest.raises(InvalidArgument, match="Decoding seccomp profile failed: invalid character 'n'"):
        load_profile("{nope")
    assert load_profile("{}") is None  # neither a default action nor rules: no filter, as dockerd
