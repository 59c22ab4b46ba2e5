"""Docker seccomp profiles → the OCI ``linux.seccomp`` section for one container.

``seccomp_default.json`` beside this file is Docker's default profile, unmodified (moby
``profiles/seccomp/default.json`` at v27.5.1, Apache-2.0): wharf applies it, like dockerd, to
every container started without ``--security-opt seccomp=...``. A Docker profile is a superset
of the OCI section: its rules carry ``includes``/``excludes`` conditions on the container's
capabilities (its bounding set), the architecture and the kernel version, and ``archMap``
lists the sub-architectures to allow beside the native one. The conversion keeps the rules
that apply to this container on this host, as dockerd does before handing the spec to the
runtime.
"""

from __future__ import annotations

import json
import os
from typing import Any

from wharf.errors import InvalidArgument

_HERE = os.path.dirname(os.path.abspath(__file__))

# uname -m → Go's GOARCH names, which the profile's "arches" conditions use
_GOARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
# uname -m → the profile's native SCMP_ARCH name
_SCMP_NATIVE = {
    "x86_64": "SCMP_ARCH_X86_64",
    "aarch64": "SCMP_ARCH_AARCH64",
    "armv7l": "SCMP_ARCH_ARM",
    "i686": "SCMP_ARCH_X86",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64",
}


def default_profile() -> dict[str, Any]:
    with open(os.path.join(_HERE, "seccomp_default.json"), "rb") as f:
        profile: dict[str, Any] = json.load(f)
    return profile


def load_profile(text: str) -> dict[str, Any]:
    """A profile given with ``--security-opt seccomp=<file>`` (its content)."""
    try:
        profile = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"decoding seccomp profile failed: {exc}") from None
    except RecursionError:
        raise InvalidArgument("decoding seccomp profile failed: exceeded max depth") from None
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise InvalidArgument("decoding seccomp profile failed: defaultAction is missing")
    return profile


def kernel_version(release: str | None = None) -> tuple[int, int]:
    release = release or os.uname().release
    parts = release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return 0, 0


def to_oci(
    profile: dict[str, Any],
    bounding_caps: list[str],
    machine: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The OCI section for a container with ``bounding_caps`` on a ``machine`` host."""
    machine = machine or os.uname().machine
    kernel = kernel or kernel_version()
    goarch = _GOARCH.get(machine, machine)
    caps = set(bounding_caps)
    out: dict[str, Any] = {"defaultAction": profile["defaultAction"]}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    out["architectures"] = _architectures(profile, machine)
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    rules = []
    for rule in profile.get("syscalls") or ():
        if not _applies(rule, caps, goarch, kernel):
            continue
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        oci: dict[str, Any] = {"names": list(names), "action": rule["action"]}
        if rule.get("errnoRet") is not None:
            oci["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            oci["args"] = [
                {"index": a["index"], "value": a["value"], "valueTwo": a.get("valueTwo", 0), "op": a["op"]}
                for a in rule["args"]
            ]
        rules.append(oci)
    out["syscalls"] = rules
    return out


def _architectures(profile: dict[str, Any], machine: str) -> list[str]:
    native = _SCMP_NATIVE.get(machine)
    if profile.get("archMap"):
        for entry in profile["archMap"]:
            if entry["architecture"] == native:
                return [native, *entry.get("subArchitectures", [])]
        return [native] if native else []
    return list(profile.get("architectures") or [])


def _applies(rule: dict[str, Any], caps: set[str], goarch: str, kernel: tuple[int, int]) -> bool:
    inc = rule.get("includes") or {}
    exc = rule.get("excludes") or {}
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    if exc.get("arches") and goarch in exc["arches"]:
        return False
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    if inc.get("minKernel") and kernel < kernel_version(inc["minKernel"]):
        return False
    return True
