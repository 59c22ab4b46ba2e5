"""Device rules on cgroup v2: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE.

cgroup v2 has no devices.allow/deny files: the kernel asks the BPF programs attached to the
cgroup (BPF_CGROUP_DEVICE) whether an open or mknod of a device is allowed. This module turns
the spec's ``linux.resources.devices`` list (v1 semantics: rules apply in order, the last
matching one wins) into such a program, loads it with bpf(2) and attaches it.

The program reads ``struct bpf_cgroup_dev_ctx {u32 access_type; u32 major; u32 minor}``
(``access_type`` = access << 16 | type) and walks the rules from the last to the first: the
first one that matches decides (return 1 allow, 0 deny). If none matches, the device is
allowed, as in a fresh v1 devices cgroup; specs start with a deny-all rule.
"""

from __future__ import annotations

import ctypes
import os
import struct

from wharf.errors import FailedPrecondition
from wharf.runtime.cgroups.v1 import DEFAULT_ALLOWED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_DEV_BLOCK, _DEV_CHAR = 1, 2
_ACC = {"m": 1, "r": 2, "w": 4}

# opcodes
_LDXW = 0x61  # dst = *(u32 *)(src + off)
_AND64_K = 0x57
_RSH64_K = 0x77
_MOV64_X = 0xBF
_MOV64_K = 0xB7
_JNE_K = 0x55
_EXIT = 0x95

_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_PROG_TYPE_CGROUP_DEVICE = 15
_ATTACH_CGROUP_DEVICE = 6
_F_ALLOW_MULTI = 2
_SYS_BPF = {"x86_64": 321, "aarch64": 280}


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, dst | (src << 4), off, imm)


def parse_rule(rule: str | dict[str, Any]) -> tuple[str, int, int, int, bool]:
    """(type, major, minor, access bits, allow); -1 for a wildcard number."""
    if isinstance(rule, str):  # "c 1:3 rwm", always an allow (the defaults)
        typ, nums, access = rule.split()
        major_s, minor_s = nums.split(":")
        major = -1 if major_s == "*" else int(major_s)
        minor = -1 if minor_s == "*" else int(minor_s)
        return typ, major, minor, _bits(access), True
    maj = rule.get("major")
    mi = rule.get("minor")
    return (
        rule.get("type") or "a",
        -1 if maj is None else maj,
        -1 if mi is None else mi,
        _bits(rule.get("access") or "rwm"),
        bool(rule.get("allow")),
    )


def _bits(access: str) -> int:
    return sum(_ACC[c] for c in set(access))


def program(rules: list[dict[str, Any]]) -> bytes:
    """The filter for ``rules`` followed by the always-allowed defaults, as eBPF bytecode."""
    parsed = [parse_rule(r) for r in rules] + [parse_rule(r) for r in DEFAULT_ALLOWED]
    code = [
        _insn(_LDXW, 2, 1, 0),  # r2 = access_type
        _insn(_AND64_K, 2, imm=0xFFFF),  # r2 = type
        _insn(_LDXW, 3, 1, 0),
        _insn(_RSH64_K, 3, imm=16),  # r3 = access
        _insn(_LDXW, 4, 1, 4),  # r4 = major
        _insn(_LDXW, 5, 1, 8),  # r5 = minor
    ]
    for typ, major, minor, access, allow in reversed(parsed):
        block = _rule_block(typ, major, minor, access, allow)
        code += block
        if len(block) == 2:  # matches every device: what follows could never run (the verifier
            return b"".join(code)  # refuses unreachable instructions)
    code += [_insn(_MOV64_K, 0, imm=1), _insn(_EXIT)]
    return b"".join(code)


def _rule_block(typ: str, major: int, minor: int, access: int, allow: bool) -> list[bytes]:
    """Instructions that return the rule's verdict if it matches, else fall through."""
    checks: list[tuple[int, int, int]] = []  # (register, value, and-mask or 0)
    if typ in ("b", "c"):
        checks.append((2, _DEV_BLOCK if typ == "b" else _DEV_CHAR, 0))
    if access != 7:
        checks.append((6, 0, ~access & 7))  # requested bits outside the rule's: no match
    if major != -1:
        checks.append((4, major, 0))
    if minor != -1:
        checks.append((5, minor, 0))
    # each check is one jump, except the access check (mov, and, jump)
    body: list[tuple[str, int, int, int]] = []
    for reg, value, mask in checks:
        if mask:
            body.append(("mov", 6, 3, 0))
            body.append(("and", 6, mask, 0))
        body.append(("jne", reg, value, 0))
    out: list[bytes] = []
    total = len(body) + 2  # + verdict mov + exit
    for i, (op, reg, value, _) in enumerate(body):
        if op == "mov":
            out.append(_insn(_MOV64_X, reg, value))
        elif op == "and":
            out.append(_insn(_AND64_K, reg, imm=value))
        else:
            out.append(_insn(_JNE_K, reg, off=total - i - 1, imm=value))
    out.append(_insn(_MOV64_K, 0, imm=1 if allow else 0))
    out.append(_insn(_EXIT))
    return out


def _bpf(cmd: int, attr: bytes) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    buf = ctypes.create_string_buffer(attr, len(attr))
    ret = libc.syscall(_SYS_BPF[os.uname().machine], cmd, buf, len(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return int(ret)


def load(code: bytes) -> int:
    """BPF_PROG_LOAD; returns the program's fd. The verifier's log comes with a failure."""
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"Apache")
    log = ctypes.create_string_buffer(65536)
    attr = struct.pack(
        "<IIQQIIQII16sII",
        _PROG_TYPE_CGROUP_DEVICE,
        len(code) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license_),
        1,
        len(log),
        ctypes.addressof(log),
        0,
        0,
        b"wharf_devices",
        0,
        _ATTACH_CGROUP_DEVICE,
    )
    try:
        return _bpf(_BPF_PROG_LOAD, attr)
    except OSError as exc:
        detail = log.value.decode(errors="replace").strip().splitlines()[-3:]
        raise FailedPrecondition(f"loading the cgroup v2 device filter: {exc.strerror}: {detail}") from None


def attach(cgroup_dir: str, rules: list[dict[str, Any]]) -> None:
    """Load the filter for ``rules`` and attach it to ``cgroup_dir`` (a cgroup2 directory)."""
    prog = load(program(rules))
    try:
        dfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = struct.pack("<IIIII", dfd, prog, _ATTACH_CGROUP_DEVICE, _F_ALLOW_MULTI, 0)
            try:
                _bpf(_BPF_PROG_ATTACH, attr)
            except OSError as exc:
                raise FailedPrecondition(
                    f"attaching the device filter to {cgroup_dir}: {exc.strerror}"
                ) from None
        finally:
            os.close(dfd)
    finally:
        os.close(prog)  # the attachment keeps the program alive
