"""The OCI runtime spec's config.json (v1.1, Linux): loading and validation.

A validated spec stays a plain dict (``Spec``): the runtime reads it once, and a dataclass tree
would cost import time on a path that must start faster than a Go binary. What this module
promises is that every field the runtime reads has the type the spec gives it, so the rest of
the runtime can index without checks. A wrong field is reported by its dotted path::

    config.json: process.args: expected a non-empty array
    config.json: linux.namespaces[2].type: unknown namespace type "foo"
"""

from __future__ import annotations

from wharf.errors import InvalidArgument
from wharf.oci import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Spec = dict[str, Any]

NAMESPACE_TYPES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")

# A schema is: a Python type (str, int, bool, float), "num" (int or float), a list [item], a dict
# {field: schema} for an object (fields ending in "!" are required), or ("map", schema) for an
# object with free keys.
_HOOK = {"path!": str, "args": [str], "env": [str], "timeout": int}
_IDMAP = {"containerID!": int, "hostID!": int, "size!": int}
_DEVICE_RULE = {"allow!": bool, "type": str, "major": int, "minor": int, "access": str}
_WEIGHT_DEV = {"major!": int, "minor!": int, "weight": int, "leafWeight": int}
_RATE_DEV = {"major!": int, "minor!": int, "rate!": int}
_SCHEMA: dict[str, Any] = {
    "ociVersion!": str,
    "root": {"path!": str, "readonly": bool},
    "hostname": str,
    "domainname": str,
    "annotations": ("map", str),
    "mounts": [
        {
            "destination!": str,
            "source": str,
            "type": str,
            "options": [str],
            "uidMappings": [_IDMAP],
            "gidMappings": [_IDMAP],
        }
    ],
    "process": {
        "terminal": bool,
        "consoleSize": {"height!": int, "width!": int},
        "user": {"uid!": int, "gid!": int, "umask": int, "additionalGids": [int], "username": str},
        "args": [str],
        "commandLine": str,
        "env": [str],
        "cwd!": str,
        "capabilities": {k: [str] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")},
        "rlimits": [{"type!": str, "soft!": int, "hard!": int}],
        "noNewPrivileges": bool,
        "apparmorProfile": str,
        "oomScoreAdj": int,
        "selinuxLabel": str,
        "ioPriority": {"class!": str, "priority": int},
        "scheduler": {
            "policy!": str,
            "nice": int,
            "priority": int,
            "flags": [str],
            "runtime": int,
            "deadline": int,
            "period": int,
        },
        "execCPUAffinity": {"initial": str, "final": str},
    },
    "hooks": {
        k: [_HOOK]
        for k in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
    },
    "linux": {
        "namespaces": [{"type!": str, "path": str}],
        "uidMappings": [_IDMAP],
        "gidMappings": [_IDMAP],
        "timeOffsets": ("map", {"secs": int, "nanosecs": int}),
        "devices": [
            {"type!": str, "path!": str, "major": int, "minor": int, "fileMode": int, "uid": int, "gid": int}
        ],
        "cgroupsPath": str,
        "resources": {
            "devices": [_DEVICE_RULE],
            "memory": {k: int for k in ("limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness")}
            | {"disableOOMKiller": bool, "useHierarchy": bool, "checkBeforeUpdate": bool},
            "cpu": {
                "shares": int,
                "quota": int,
                "burst": int,
                "period": int,
                "realtimeRuntime": int,
                "realtimePeriod": int,
                "cpus": str,
                "mems": str,
                "idle": int,
            },
            "pids": {"limit!": int},
            "blockIO": {
                "weight": int,
                "leafWeight": int,
                "weightDevice": [_WEIGHT_DEV],
                "throttleReadBpsDevice": [_RATE_DEV],
                "throttleWriteBpsDevice": [_RATE_DEV],
                "throttleReadIOPSDevice": [_RATE_DEV],
                "throttleWriteIOPSDevice": [_RATE_DEV],
            },
            "hugepageLimits": [{"pageSize!": str, "limit!": int}],
            "network": {"classID": int, "priorities": [{"name!": str, "priority!": int}]},
            "rdma": ("map", {"hcaHandles": int, "hcaObjects": int}),
            "unified": ("map", str),
        },
        "rootfsPropagation": str,
        "seccomp": {
            "defaultAction!": str,
            "defaultErrnoRet": int,
            "architectures": [str],
            "flags": [str],
            "listenerPath": str,
            "listenerMetadata": str,
            "syscalls": [
                {
                    "names!": [str],
                    "action!": str,
                    "errnoRet": int,
                    "args": [{"index!": int, "value!": int, "valueTwo": int, "op!": str}],
                }
            ],
        },
        "sysctl": ("map", str),
        "maskedPaths": [str],
        "readonlyPaths": [str],
        "mountLabel": str,
        "personality": {"domain!": str, "flags": [str]},
        "intelRdt": ("map", None),
    },
}

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", "num": "a number"}


def _fail(path: str, msg: str) -> InvalidArgument:
    return InvalidArgument(f"config.json: {path}: {msg}")


def _check(value: Any, schema: Any, path: str) -> None:
    if schema is None:
        return
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise _fail(path, "expected an object")
        for key, sub in schema.items():
            name = key.rstrip("!")
            if name in value:
                if value[name] is not None:
                    _check(value[name], sub, f"{path}.{name}" if path else name)
            elif key.endswith("!"):
                raise _fail(f"{path}.{name}" if path else name, "required field is missing")
    elif isinstance(schema, list):
        if not isinstance(value, list):
            raise _fail(path, "expected an array")
        for i, item in enumerate(value):
            _check(item, schema[0], f"{path}[{i}]")
    elif isinstance(schema, tuple):
        if not isinstance(value, dict):
            raise _fail(path, "expected an object")
        for k, item in value.items():
            _check(item, schema[1], f"{path}.{k}")
    elif schema is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(path, "expected an integer")
    elif not isinstance(value, schema):
        raise _fail(path, f"expected {_TYPE_NAMES.get(schema, schema.__name__)}")


def validate(spec: Any) -> Spec:
    """Check a decoded config.json against the spec's types and the rules the runtime relies on."""
    _check(spec, _SCHEMA, "")
    process = spec.get("process")
    if process is not None:
        if not process.get("args") and not process.get("commandLine"):
            raise _fail("process.args", "expected a non-empty array")
        if not process["cwd"].startswith("/"):
            raise _fail("process.cwd", f"must be an absolute path, got {process['cwd']!r}")
    if "root" not in spec or not spec["root"]["path"]:
        raise _fail("root.path", "required field is missing")
    seen: set[str] = set()
    for i, ns in enumerate(spec.get("linux", {}).get("namespaces") or ()):
        if ns["type"] not in NAMESPACE_TYPES:
            raise _fail(f"linux.namespaces[{i}].type", f"unknown namespace type {ns['type']!r}")
        if ns["type"] in seen:
            raise _fail(f"linux.namespaces[{i}].type", f"duplicate namespace {ns['type']!r}")
        seen.add(ns["type"])
    for i, m in enumerate(spec.get("mounts") or ()):
        if not m["destination"].startswith("/"):
            raise _fail(f"mounts[{i}].destination", f"must be an absolute path, got {m['destination']!r}")
    return spec  # type: ignore[no-any-return]


def load(bundle: str) -> Spec:
    """Read and validate ``<bundle>/config.json``."""
    path = bundle.rstrip("/") + "/config.json"
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise InvalidArgument(f"open {path}: no such file or directory (no bundle there)") from None
    except OSError as exc:
        raise InvalidArgument(f"{path}: {exc.strerror}") from None
    try:
        data = fastjson.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"{path}: {exc}") from None
    return validate(data)
