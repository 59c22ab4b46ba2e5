"""Pure pieces of the runtime: mount options, secure_join, the runc flag parser, signals."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wharf.errors import InvalidArgument
from wharf.runtime import mountopts
from wharf.runtime import syscalls as s
from wharf.runtime.cli import COMMANDS, GLOBAL_FLAGS, parse_flags
from wharf.runtime.container import parse_signal
from wharf.runtime.securejoin import secure_join


def test_mount_options_split_into_flags_propagation_and_data() -> None:
    o = mountopts.parse(["nosuid", "noexec", "ro", "rslave", "mode=755", "size=65536k", "rro"])
    assert o.flags == s.MS_NOSUID | s.MS_NOEXEC | s.MS_RDONLY
    assert o.propagation == [s.MS_SLAVE | s.MS_REC]
    assert o.data == ["mode=755", "size=65536k"]
    assert o.attr_set == mountopts.MOUNT_ATTR_RDONLY


def test_mount_options_clearing_flags_and_bind() -> None:
    o = mountopts.parse(["ro", "rw", "rbind", "suid"])
    assert o.flags == s.MS_BIND | s.MS_REC
    assert o.is_bind


def test_idmap_mounts_refused_clearly() -> None:
    with pytest.raises(InvalidArgument, match="idmapped"):
        mountopts.parse(["idmap"], "mounts[0].options")


def test_secure_join_stays_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/", root / "escape")
    os.symlink("../../../..", root / "etc" / "up")
    os.symlink("/etc", root / "abs")
    r = str(root)
    assert secure_join(r, "/etc/../../x") == f"{r}/x"
    assert secure_join(r, "/escape/etc/passwd") == f"{r}/etc/passwd"
    assert secure_join(r, "etc/up/tmp") == f"{r}/tmp"
    assert secure_join(r, "/abs/hosts") == f"{r}/etc/hosts"
    assert secure_join(r, "/") == r


def test_secure_join_symlink_loop(tmp_path: Path) -> None:
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(OSError):
        secure_join(str(tmp_path), "/a/x")


def test_flags_like_urfave_cli() -> None:
    g, rest = parse_flags(["--root", "/r", "-log=/l", "--debug", "run", "-b", "x", "id"], GLOBAL_FLAGS, "g")
    assert g == {"root": "/r", "log": "/l", "debug": True}
    assert rest == ["run", "-b", "x", "id"]
    flags, pos = parse_flags(rest[1:], COMMANDS["run"], "run")
    assert flags == {"bundle": "x"} and pos == ["id"]
    flags, pos = parse_flags(["-e", "A=1", "--env=B=2", "-t", "id", "ls", "-l"], COMMANDS["exec"], "exec")
    assert flags == {"env": ["A=1", "B=2"], "tty": True} and pos == ["id", "ls", "-l"]
    with pytest.raises(InvalidArgument, match="flag provided but not defined: -nope"):
        parse_flags(["--nope"], COMMANDS["start"], "start")
    with pytest.raises(InvalidArgument, match="parse error"):
        parse_flags(["--preserve-fds", "x"], COMMANDS["create"], "create")


@pytest.mark.parametrize(
    ("raw", "num"), [("9", 9), ("KILL", 9), ("SIGTERM", 15), ("sigusr1", 10), ("RTMIN+3", 37)]
)
def test_signals(raw: str, num: int) -> None:
    assert parse_signal(raw) == num


def test_unknown_signal() -> None:
    with pytest.raises(InvalidArgument, match="unknown signal"):
        parse_signal("SIGFOO")


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("1024", 1024),
        ("64M", 64 << 20),
        ("64m", 64 << 20),
        ("1.5g", 3 << 29),
        ("512kb", 512 << 10),
        ("-1", -1),
    ],
)
def test_ram_in_bytes(raw: str, value: int) -> None:
    from wharf.runtime.update import ram_in_bytes

    assert ram_in_bytes(raw) == value


@pytest.mark.parametrize("raw", ["", "M", "12x", "-5", "1.2.3m"])
def test_ram_in_bytes_rejects(raw: str) -> None:
    from wharf.runtime.update import ram_in_bytes

    with pytest.raises(ValueError):
        ram_in_bytes(raw)


def test_init_cpuset_fills_an_ancestor_another_create_left_empty(tmp_path: Path) -> None:
    """A parent another create made and has not given its cpus and mems yet: the child's
    initialisation gives them to the parent first, then copies them (it copied empty values
    and the cgroup took no task). Files stand in for cgroupfs here; test_load's creates under
    a new parent run the same code on the real one."""
    from wharf.runtime.cgroups import v1

    top, parent, child = tmp_path / "cpuset", tmp_path / "cpuset" / "p", tmp_path / "cpuset" / "p" / "c"
    child.mkdir(parents=True)
    (top / "cpuset.cpus").write_text("0-1\n")
    (top / "cpuset.mems").write_text("0\n")
    for d in (parent, child):
        (d / "cpuset.cpus").write_text("")
        (d / "cpuset.mems").write_text("")
    v1.init_cpuset(str(child))
    assert [(d / "cpuset.cpus").read_text() for d in (parent, child)] == ["0-1", "0-1"]
    assert [(d / "cpuset.mems").read_text() for d in (parent, child)] == ["0", "0"]
