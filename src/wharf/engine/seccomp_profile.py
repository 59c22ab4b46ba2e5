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

from wharf.base.gojson import json_kind
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


BUILTIN = "builtin"  # the default profile, by name (daemon's "seccomp-profile", seccomp=builtin)
UNCONFINED = "unconfined"

# a profile's fields as dockerd decodes them (moby's seccomp.Seccomp): (JSON kind, Go type)
_TOP = {
    "defaultAction": (str, "specs.LinuxSeccompAction"),
    "architectures": (list, "[]specs.Arch"),
    "archMap": (list, "[]seccomp.Architecture"),
    "syscalls": (list, "[]*seccomp.Syscall"),
}
_SYSCALL = {
    "name": (str, "string"),
    "names": (list, "[]string"),
    "action": (str, "specs.LinuxSeccompAction"),
    "args": (list, "[]*specs.LinuxSeccompArg"),
}


def _go_json_error(exc: json.JSONDecodeError) -> str:
    """Go's encoding/json words for the commonest syntax errors."""
    rest = exc.doc[exc.pos :]
    if not rest.strip():
        return "unexpected end of JSON input"
    c = rest.lstrip()[0]
    if exc.msg.startswith("Extra data"):
        return f"invalid character '{c}' after top-level value"
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character '{c}' looking for beginning of object key string"
    if exc.msg.startswith("Expecting ':'"):
        return f"invalid character '{c}' after object key"
    if exc.msg.startswith("Expecting ','"):
        return f"invalid character '{c}' after object key:value pair"
    return f"invalid character '{c}' looking for beginning of value"


def _type_error(doc: dict[str, Any]) -> str | None:
    """The first field of a wrong JSON kind, in Go's words (null is every type's zero value)."""
    for key, value in doc.items():
        want = _TOP.get(key)
        if want is not None and value is not None and not isinstance(value, want[0]):
            where = f"Go struct field Seccomp.{key} of type {want[1]}"
            return f"json: cannot unmarshal {json_kind(value)} into {where}"
        if key == "syscalls" and isinstance(value, list):
            for call in value:
                if call is not None and not isinstance(call, dict):
                    return (
                        f"json: cannot unmarshal {json_kind(call)} into Go struct field Seccomp.syscalls "
                        "of type seccomp.Syscall"
                    )
                for k, v in (call or {}).items():
                    want = _SYSCALL.get(k)
                    if want is not None and v is not None and not isinstance(v, want[0]):
                        return (
                            f"json: cannot unmarshal {json_kind(v)} into Go struct field "
                            f"Syscall.syscalls.{k} of type {want[1]}"
                        )
    return None


def load_profile(text: str) -> dict[str, Any] | None:
    """A profile given as JSON text (``--security-opt seccomp=<file>`` sends the file's content;
    the daemon's ``seccomp-profile`` file), checked as dockerd decodes it; None for a profile
    with neither a default action nor rules, which dockerd takes as no filter at all."""
    try:
        profile = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"Decoding seccomp profile failed: {_go_json_error(exc)}") from None
    except RecursionError:
        raise InvalidArgument("Decoding seccomp profile failed: exceeded max depth") from None
    if profile is None:
        return None
    if not isinstance(profile, dict):
        raise InvalidArgument(
            f"Decoding seccomp profile failed: json: cannot unmarshal {json_kind(profile)} "
            "into Go value of type seccomp.Seccomp"
        )
    wrong = _type_error(profile)
    if wrong:
        raise InvalidArgument(f"Decoding seccomp profile failed: {wrong}")
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    if profile.get("architectures") and profile.get("archMap"):
        raise InvalidArgument(
            "'architectures' and 'archMap' were specified in the seccomp profile, use either "
            "'architectures' or 'archMap'"
        )
    for call in profile.get("syscalls") or ():
        if call and call.get("name") and call.get("names"):
            raise InvalidArgument(
                "'name' and 'names' were specified in the seccomp profile, use either 'name' or 'names'"
            )
    return profile


def for_container(
    asked: str | None, daemon: str, privileged: bool, bounding_caps: list[str]
) -> dict[str, Any] | None:
    """The container's ``linux.seccomp`` (None: no filter), chosen as dockerd chooses:
    ``asked`` is its ``seccomp=`` value (None when it gave none), ``daemon`` the daemon's
    profile: BUILTIN, UNCONFINED or a profile's JSON text. A privileged container has no filter
    unless it names a profile itself."""
    if asked == UNCONFINED:
        return None
    if privileged and not asked:
        return None
    chosen = asked or daemon
    if chosen == UNCONFINED:
        return None
    profile = default_profile() if chosen == BUILTIN else load_profile(chosen)
    if profile is None:
        return None
    oci = to_oci(profile, bounding_caps)
    check_names(oci)
    return oci


def check_names(oci: dict[str, Any]) -> None:
    """Actions, architectures and operators the runtime knows, refused in runc's words before a
    runtime sees them (an unknown syscall name is skipped by the runtime, as runc skips it)."""
    from wharf.runtime.seccomp import ACTIONS, ARCHES, OPERATORS

    def action(name: Any) -> None:
        if name not in ACTIONS:
            raise InvalidArgument(f"string {name or ''} is not a valid action for seccomp")

    action(oci.get("defaultAction"))
    for arch in oci.get("architectures") or ():
        if arch not in ARCHES:
            raise InvalidArgument(f"string {arch} is not a valid arch for seccomp")
    for rule in oci.get("syscalls") or ():
        action(rule.get("action"))
        for arg in rule.get("args") or ():
            if arg.get("op") not in OPERATORS:
                raise InvalidArgument(f"string {arg.get('op') or ''} is not a valid operator for seccomp")


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
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction") or ""}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    out["architectures"] = _architectures(profile, machine)
    if profile.get("flags"):
        out["flags"] = list(profile["flags"])
    rules = []
    for rule in profile.get("syscalls") or ():
        if not rule or not _applies(rule, caps, goarch, kernel):
            continue
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        oci: dict[str, Any] = {"names": list(names), "action": rule.get("action") or ""}
        if rule.get("errnoRet") is not None:
            oci["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            oci["args"] = [_arg(a) for a in rule["args"]]
        rules.append(oci)
    out["syscalls"] = rules
    return out


def _arg(a: Any) -> dict[str, Any]:
    if not isinstance(a, dict):
        kind = "object" if a is None else json_kind(a)
        raise InvalidArgument(
            f"Decoding seccomp profile failed: json: cannot unmarshal {kind} into Go struct field "
            "Syscall.syscalls.args of type specs.LinuxSeccompArg"
        )
    return {"index": a.get("index") or 0, "value": a.get("value") or 0, "valueTwo": a.get("valueTwo") or 0,
            "op": a.get("op") or ""}  # fmt: skip


def _architectures(profile: dict[str, Any], machine: str) -> list[str]:
    native = _SCMP_NATIVE.get(machine)
    if profile.get("archMap"):
        for entry in profile["archMap"]:
            if isinstance(entry, dict) and entry.get("architecture") == native:
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
    if exc.get("minKernel") and kernel >= kernel_version(exc["minKernel"]):
        return False
    return True
