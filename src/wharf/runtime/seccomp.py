"""``linux.seccomp`` → a BPF filter built by libseccomp (through ctypes) and loaded in the init.

libseccomp compiles the rules into a correct filter for every listed architecture (it also
checks the architecture word, so a 32-bit syscall cannot slip past a 64-bit rule). As in runc:
syscall names the library does not know are skipped, a rule whose action equals the default
action is skipped, conditions repeated on the same argument become separate rules (OR), and the
filter does not set no_new_privs by itself (the init does when the spec asks).

The program is compiled before the container's init is forked (``prepare``: off the path of
`start`, and kept in ``<root>/@seccomp`` for the next create with the same filter) and loaded
with seccomp(2) just before execve (``load``).
"""

from __future__ import annotations

import ctypes

from wharf.errors import InvalidArgument, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EPERM = 1

_ACT_KILL_PROCESS = 0x80000000
_ACT_KILL_THREAD = 0x00000000
_ACT_TRAP = 0x00030000
_ACT_ERRNO = 0x00050000
_ACT_TRACE = 0x7FF00000
_ACT_LOG = 0x7FFC0000
_ACT_ALLOW = 0x7FFF0000
_ACT_NOTIFY = 0x7FC00000

ACTIONS = (
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
)
OPERATORS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}
ARCHES = (
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
)
# seccomp_attr_set attributes and the spec's flags they stand for
_FLTATR_CTL_NNP = 3
_SYSCALL_FLAGS = {"SECCOMP_FILTER_FLAG_LOG": 2, "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
_KNOWN_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW")


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


_lib: Any = None


def _libseccomp() -> Any:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError as exc:
            raise Unsupported(f"seccomp: libseccomp is not installed: {exc}") from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_version.restype = ctypes.POINTER(_Version)
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.POINTER(_ArgCmp),
        ]
        _lib = lib
    return _lib


def preload() -> None:
    """Load libseccomp now (before pivot_root hides the host's libraries)."""
    _libseccomp()


def action(name: str, errno_ret: int | None, default_errno: int | None = None) -> int:
    """The spec's action name (+ errno) → libseccomp's action value."""
    if name == "SCMP_ACT_ALLOW":
        return _ACT_ALLOW
    if name == "SCMP_ACT_ERRNO":
        err = errno_ret if errno_ret is not None else default_errno if default_errno is not None else EPERM
        return _ACT_ERRNO | (err & 0xFFFF)
    if name == "SCMP_ACT_TRACE":
        err = errno_ret if errno_ret is not None else default_errno if default_errno is not None else EPERM
        return _ACT_TRACE | (err & 0xFFFF)
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return _ACT_KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return _ACT_KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return _ACT_TRAP
    if name == "SCMP_ACT_LOG":
        return _ACT_LOG
    if name == "SCMP_ACT_NOTIFY":
        raise Unsupported("linux.seccomp: SCMP_ACT_NOTIFY (seccomp user notification) is not supported")
    raise InvalidArgument(f"config.json: linux.seccomp: unknown action {name!r}")


def _arch_token(name: str) -> int:
    if name not in ARCHES:
        raise InvalidArgument(f"config.json: linux.seccomp.architectures: unknown architecture {name!r}")
    return int(_libseccomp().seccomp_arch_resolve_name(name[len("SCMP_ARCH_") :].lower().encode()))


def validate(spec: dict[str, Any]) -> None:
    """Check names before the container is made, so a bad profile fails ``create`` cleanly."""
    action(spec["defaultAction"], None, spec.get("defaultErrnoRet"))
    for arch in spec.get("architectures") or ():
        if arch not in ARCHES:
            raise InvalidArgument(f"config.json: linux.seccomp.architectures: unknown architecture {arch!r}")
    for flag in spec.get("flags") or ():
        if flag not in _KNOWN_FLAGS:
            raise InvalidArgument(f"config.json: linux.seccomp.flags: unknown flag {flag!r}")
    for i, rule in enumerate(spec.get("syscalls") or ()):
        action(rule["action"], rule.get("errnoRet"))
        for arg in rule.get("args") or ():
            if arg["op"] not in OPERATORS:
                raise InvalidArgument(
                    f"config.json: linux.seccomp.syscalls[{i}]: unknown operator {arg['op']!r}"
                )


def _conditions(args: list[dict[str, Any]]) -> list[list[_ArgCmp]]:
    """One condition list per rule: repeated argument indexes split into one rule each (OR)."""
    cmps = [
        _ArgCmp(a["index"], OPERATORS[a["op"]], a["value"] & 0xFFFFFFFFFFFFFFFF, a.get("valueTwo", 0))
        for a in args
    ]
    if len({a["index"] for a in args}) == len(args):
        return [cmps]
    return [[c] for c in cmps]


def load(spec: dict[str, Any]) -> None:
    """Load the filter of ``spec`` into the calling process (and so into what it execs): the
    program ``prepare`` made, else one compiled now."""
    prog = _prepared.get(_key(spec)) if _prepared else None
    install(prog or compile_filter(spec), flags_of(spec))


def prepare(spec: dict[str, Any], cache_dir: str) -> None:
    """Have the program of ``spec`` ready for ``load`` (called before forking what will load
    it, while the host is in reach): from ``cache_dir`` if an earlier create compiled it, else
    compiled and kept there. libseccomp takes ~10 ms to compile Docker's profile; a container
    start should not pay that each time (see bench/trace_run.py). A cache file holds the exact
    text it was compiled from, compared in full before its program is used (its name, a CRC,
    only finds it)."""
    import os
    import zlib

    key = _key(spec)
    if key in _prepared:
        return
    head = key.encode() + b"\n"
    path = f"{cache_dir}/{zlib.crc32(head):08x}.bpf"
    try:
        with open(path, "rb") as f:
            data = f.read()
        prog = data[len(head) :]
        if data.startswith(head) and prog and len(prog) % 8 == 0:
            _prepared[key] = prog
            return
    except OSError:
        pass
    prog = compile_filter(spec)
    _prepared[key] = prog
    try:  # a cache, best effort: atomic, root's only
        os.makedirs(cache_dir, 0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, head + prog)
        finally:
            os.close(fd)
        os.rename(tmp, path)
    except OSError:
        pass


_prepared: dict[str, bytes] = {}
# the cache's directory in the runtime's root: "@" is in no container id (runc's [\w+-.]+), so
# it is never taken for a container's (state.list_ids also wants a state.json)
CACHE_DIR = "@seccomp"


def _key(spec: dict[str, Any]) -> str:
    """What the program depends on, as one line: libseccomp's version, the kernel, the machine
    and the spec (in the order config.json gives it: the daemon writes the same each time)."""
    import os

    from wharf.oci import fastjson

    v = _libseccomp().seccomp_version().contents
    u = os.uname()
    return f"{v.major}.{v.minor}.{v.micro} {u.release} {u.machine} " + fastjson.dumps(spec)


def flags_of(spec: dict[str, Any]) -> int:
    """The spec's flags as seccomp(2)'s (TSYNC is moot: the process has one thread)."""
    return sum(_SYSCALL_FLAGS.get(f, 0) for f in set(spec.get("flags") or ()))


def install(prog: bytes, flags: int) -> None:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): needs no_new_privs or CAP_SYS_ADMIN."""
    from wharf.runtime import syscalls

    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = _SockFprog(len(prog) // 8, ctypes.cast(buf, ctypes.c_void_p))
    syscalls.raw_syscall("seccomp", ctypes.c_long(1), ctypes.c_long(flags), ctypes.byref(fprog))


def compile_filter(spec: dict[str, Any]) -> bytes:
    """The BPF program libseccomp makes of ``spec`` (what seccomp_load would load)."""
    import os

    lib = _libseccomp()
    default = action(spec["defaultAction"], None, spec.get("defaultErrnoRet"))
    ctx = lib.seccomp_init(default)
    if not ctx:
        raise InvalidArgument("linux.seccomp: seccomp_init failed")
    try:
        for arch in spec.get("architectures") or ():
            token = _arch_token(arch)
            rc = lib.seccomp_arch_add(ctx, token)
            if rc not in (0, -17):  # EEXIST: the native architecture is already there
                raise OSError(-rc, f"seccomp_arch_add {arch}")
        _check(lib.seccomp_attr_set(ctx, _FLTATR_CTL_NNP, 0), "seccomp_attr_set")
        for rule in spec.get("syscalls") or ():
            act = action(rule["action"], rule.get("errnoRet"))
            if act == default:
                continue
            for name in rule["names"]:
                nr = lib.seccomp_syscall_resolve_name(name.encode())
                if nr == -1:  # __NR_SCMP_ERROR: unknown to this libseccomp / architecture
                    continue
                for conds in _conditions(rule.get("args") or []):
                    arr = (_ArgCmp * len(conds))(*conds) if conds else None
                    rc = lib.seccomp_rule_add_array(ctx, act, nr, len(conds), arr)
                    if rc == -22 and conds:
                        raise InvalidArgument(f"linux.seccomp: invalid argument condition for {name}")
                    _check(rc, f"seccomp rule for {name}")
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _check(lib.seccomp_export_bpf(ctx, fd), "seccomp_export_bpf")
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)


def _check(rc: int, what: str) -> None:
    if rc < 0:
        import os

        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")


def features() -> dict[str, Any]:
    try:
        _libseccomp()
    except Unsupported:
        return {"enabled": False}
    return {
        "enabled": True,
        "actions": [a for a in ACTIONS if a != "SCMP_ACT_NOTIFY"],
        "operators": sorted(OPERATORS),
        "archs": list(ARCHES),
        "knownFlags": list(_KNOWN_FLAGS),
        "supportedFlags": list(_KNOWN_FLAGS),
    }
