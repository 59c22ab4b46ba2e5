"""userns-remap: containers' root is a subordinate uid of the host, not root.

A daemon of this module's own runs with ``"userns-remap": <a test user>``, whose ranges this
module writes to /etc/subuid and /etc/subgid (and removes after, with the user, even when a
test fails). Each test reads what a user sees: ids inside the container, owners on the host,
what a host user gets from a setuid binary a container left, dockerd's refusals.

Measured against dockerd 20.10 (runc) with --userns-remap on this machine: the same refusals
(400, these words), <data-root>/<uid>.<gid> with the data root 0710 and the remapped gid,
a missing -v source made for the remapped root, host files seen as 65534 and not writable,
commit keeping 1:2, cp in giving 0:0, an unknown UsernsMode taken as private. Both fail
--ipc=host (mqueue cannot be mounted without an ipc namespace of the user namespace's) and
--device with another path inside (the node is bound from that path on the host).
"""

from __future__ import annotations

import io
import json
import os
import pwd
import stat
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.daemon import Daemon, new_root
from tests.integration.engine.conftest import IMAGE, docker
from tests.registry import Registry

from wharf.base.idmap import IdMap
from wharf.engine import userns
from wharf.images.store import ImageStore
from wharf.images.testimage import build_image, rootfs_tar

SIZE = 65536


def _drop_lines(name: str) -> None:
    for path in (userns.SUBUID, userns.SUBGID):
        try:
            lines = Path(path).read_text().splitlines(keepends=True)
        except FileNotFoundError:
            continue
        kept = [line for line in lines if line.split(":", 1)[0] != name]
        if kept != lines:
            Path(path).write_text("".join(kept))


def _remove_user(name: str) -> None:
    subprocess.run(["userdel", name], capture_output=True)
    _drop_lines(name)


# the backups useradd, usermod and userdel leave (shadow's "-" files), put back as found
BACKUPS = [f"/etc/{n}-" for n in ("passwd", "group", "shadow", "gshadow", "subuid", "subgid")]


@contextmanager
def _backups_as_found() -> Iterator[None]:
    saved: dict[str, tuple[bytes, os.stat_result] | None] = {}
    for path in BACKUPS:
        try:
            saved[path] = (Path(path).read_bytes(), os.stat(path))
        except FileNotFoundError:
            saved[path] = None
    try:
        yield
    finally:
        for path, was in saved.items():
            if was is None:
                Path(path).unlink(missing_ok=True)
                continue
            Path(path).write_bytes(was[0])
            os.chmod(path, stat.S_IMODE(was[1].st_mode))
            os.chown(path, was[1].st_uid, was[1].st_gid)


@pytest.fixture(scope="module")
def remap_user() -> Iterator[tuple[str, int]]:
    """A system user of the test's own with a range of 65536 in /etc/subuid and /etc/subgid."""
    with _backups_as_found():
        yield from _remap_user()


def _remap_user() -> Iterator[tuple[str, int]]:
    name = f"wharfns{os.getpid() % 100000}"
    _remove_user(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/bin/false", "--user-group", name],
        check=True,
        capture_output=True,
    )
    try:
        start = max(userns.next_free_range(userns.SUBUID), userns.next_free_range(userns.SUBGID))
        for path in (userns.SUBUID, userns.SUBGID):
            with open(path, "a") as f:
                f.write(f"{name}:{start}:{SIZE}\n")
        yield name, start
    finally:
        _remove_user(name)


def _seeded(d: Daemon, rootfs: str, start: int) -> None:
    ids = ((0, start, SIZE),)
    store = ImageStore(f"{d.data_root}/{start}.{start}/images", id_map=IdMap(ids, ids))
    try:
        build_image(store, IMAGE, [], raw_layers=[rootfs_tar(rootfs)])
    finally:
        store.close()


@pytest.fixture(scope="module")
def remapped(rootfs_template: str, remap_user: tuple[str, int]) -> Iterator[tuple[Daemon, int]]:
    name, start = remap_user
    d = Daemon(new_root())
    try:
        os.chmod(d.root, 0o711)  # the remapped root must pass through (dockerd checks it too)
        (d.root / "daemon.json").write_text(json.dumps({**d.config(), "userns-remap": name}))
        _seeded(d, rootfs_template, start)
        d.start()
        yield d, start
    finally:
        try:
            d.sweep()
        except OSError:
            pass  # it never started: cleanup() below removes what there is
        finally:
            d.cleanup()


def _layer(*entries: tuple[str, int, int, int, str]) -> bytes:
    """A layer tar of (name, uid, gid, mode, link target: "" for a file, "=x" a hardlink)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, uid, gid, mode, link in entries:
            info = tarfile.TarInfo(name)
            info.uid, info.gid, info.mode = uid, gid, mode
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif link:
                info.type, info.linkname = tarfile.LNKTYPE, link[1:]
                tar.addfile(info)
            else:
                info.size = 2
                tar.addfile(info, io.BytesIO(b"x\n"))
    return buf.getvalue()


@pytest.mark.parametrize("driver", ["overlayfs", "native"])
def test_unpack_shifts_each_layer_once(tmp_path: Path, driver: str) -> None:
    """Every layer's owners shifted by the ranges, once: a layer over a copy of its parent
    (native) must not shift the parent's files again; setuid bits survive the chown."""
    ranges = ((0, 200000, SIZE),)
    store = ImageStore(str(tmp_path / "images"), snapshotter=driver, id_map=IdMap(ranges, ranges))
    try:
        first = _layer(
            ("etc/", 0, 0, 0o755, ""), ("etc/a", 1, 2, 0o644, ""), ("bin/", 0, 0, 0o755, ""),
            ("bin/suid", 0, 0, 0o4755, ""), ("bin/link", 0, 0, 0o4755, "=bin/suid"),
        )  # fmt: skip
        second = _layer(("etc/b", 3, 0, 0o644, ""))
        record = build_image(store, "shift:test", [], raw_layers=[first, second])
        top = store.top_chain_id(record)
        dirs = [store.snapshots.fs_dir(top), *reversed(store.snapshots.lower_dirs(top))]

        def stat_of(path: str) -> os.stat_result:
            return os.lstat(next(f"{d}/{path}" for d in dirs if os.path.lexists(f"{d}/{path}")))

        owners = {p: (stat_of(p).st_uid, stat_of(p).st_gid) for p in ("etc", "etc/a", "etc/b", "bin/suid")}
        assert owners == {
            "etc": (200000, 200000),
            "etc/a": (200001, 200002),
            "etc/b": (200003, 200000),
            "bin/suid": (200000, 200000),
        }
        assert stat_of("bin/suid").st_mode & 0o7777 == 0o4755
        assert stat_of("bin/link").st_ino == stat_of("bin/suid").st_ino
    finally:
        store.close()


def _volume_dir(d: Daemon, name: str) -> str:
    out = docker(d, "volume", "inspect", "-f", "{{.Mountpoint}}", name).stdout.strip()
    return out


def test_container_root_is_the_first_subordinate_id(remapped: tuple[Daemon, int]) -> None:
    d, start = remapped
    out = docker(d, "run", "--rm", IMAGE, "sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map")
    lines = [line.split() for line in out.stdout.splitlines()]
    assert lines[0] == ["0"]
    assert lines[1] == ["0", str(start), str(SIZE)]
    assert lines[2] == ["0", str(start), str(SIZE)]


def test_image_and_container_files_are_owned_by_the_remapped_root(remapped: tuple[Daemon, int]) -> None:
    d, start = remapped
    docker(d, "volume", "create", "owned")
    cid = docker(
        d, "run", "-d", "-v", "owned:/data", IMAGE, "sh", "-c", "touch /made /data/made; sleep 30"
    ).stdout.strip()
    try:
        pid = docker(d, "inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
        root = f"/proc/{pid}/root"
        for _ in range(200):
            if os.path.exists(f"{root}/made"):
                break
            time.sleep(0.05)
        vol = _volume_dir(d, "owned")
        assert vol.startswith(f"{d.data_root}/{start}.{start}/volumes/")
        for path in (f"{root}/made", f"{vol}/made", vol, f"{root}/bin/busybox", f"{root}/etc/passwd"):
            st = os.lstat(path)
            assert (st.st_uid, st.st_gid) == (start, start), path
        # the layers themselves live under the remapped root's directory, shifted
        layers = Path(f"{d.data_root}/{start}.{start}/images/snapshots")
        assert any(p.stat().st_uid == start for p in layers.glob("*/snapshots/*/fs/bin"))
    finally:
        docker(d, "rm", "-f", "-v", cid)
        docker(d, "volume", "rm", "owned")


def test_setuid_binary_left_in_a_volume_gives_no_host_root(remapped: tuple[Daemon, int]) -> None:
    """The CVE-2021-41091 class with a remap: a setuid-root binary a container leaves behind
    is setuid to the remapped uid on the host. Even a host user of the one group that may pass
    the data root (the remapped gid) runs it as that uid, not as root."""
    d, start = remapped
    docker(d, "volume", "create", "suid")
    try:
        docker(
            d, "run", "--rm", "-v", "suid:/data", "-v", "/usr/bin/id:/hostid:ro", IMAGE,
            "sh", "-c", "cp /hostid /data/id && chmod 4755 /data/id",
        )  # fmt: skip
        binary = f"{_volume_dir(d, 'suid')}/id"
        st = os.stat(binary)
        assert st.st_mode & 0o4000 and st.st_uid == start
        nobody = pwd.getpwnam("nobody").pw_uid
        out = subprocess.run(
            ["setpriv", f"--reuid={nobody}", f"--regid={nobody}", f"--groups={start}", binary],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        assert f"euid={start}" in out.stdout and "euid=0" not in out.stdout, out.stdout
    finally:
        docker(d, "volume", "rm", "suid")


def test_host_root_files_bind_mounted_are_not_writable(remapped: tuple[Daemon, int]) -> None:
    d, _ = remapped
    host = d.root / "host"  # in the daemon's root (0711): the remapped root can reach it
    host.mkdir(0o755)
    (host / "owned-by-root").write_text("host\n")
    r = docker(
        d, "run", "--rm", "-v", f"{host}:/h", IMAGE, "sh", "-c",
        "cat /h/owned-by-root; echo x >> /h/owned-by-root; touch /h/new; ls -ln /h/owned-by-root",
        check=False,
    )  # fmt: skip
    assert "host" in r.stdout
    assert r.stderr.count("Permission denied") == 2, r.stderr
    assert " 65534 " in r.stdout  # the host's root is the overflow id inside
    assert (host / "owned-by-root").read_text() == "host\n"
    assert not (host / "new").exists()


def test_a_missing_bind_source_is_made_for_the_remapped_root(remapped: tuple[Daemon, int]) -> None:
    """-v /missing/dir:/x makes the host directories (as Docker does), the remapped root's, so
    the container's root can write where it asked to."""
    d, start = remapped
    src = d.root / "made-by-v" / "sub"
    docker(d, "run", "--rm", "-v", f"{src}:/x", IMAGE, "touch", "/x/written")
    for path in (src.parent, src, src / "written"):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (start, start), path


def test_userns_host_opts_one_container_out(remapped: tuple[Daemon, int]) -> None:
    d, _ = remapped
    docker(d, "volume", "create", "hostns")
    try:
        cid = docker(
            d, "create", "--userns=host", "-v", "hostns:/data", IMAGE, "sh", "-c",
            "cat /proc/self/uid_map; touch /data/by-host-root",
        ).stdout.strip()  # fmt: skip
        assert docker(d, "inspect", "-f", "{{.HostConfig.UsernsMode}}", cid).stdout.strip() == "host"
        out = docker(d, "start", "-a", cid).stdout.split()
        assert out == ["0", "0", "4294967295"]
        assert os.stat(f"{_volume_dir(d, 'hostns')}/by-host-root").st_uid == 0
        docker(d, "rm", cid)
    finally:
        docker(d, "volume", "rm", "hostns")


def test_info_shows_userns(remapped: tuple[Daemon, int]) -> None:
    d, start = remapped
    info = json.loads(docker(d, "info", "--format", "{{json .}}").stdout)
    assert "name=userns" in info["SecurityOptions"]
    assert info["DockerRootDir"] == f"{d.data_root}/{start}.{start}"


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (
            ["--privileged"],
            "privileged mode is incompatible with user namespaces.  You must run the container in the"
            " host namespace when running privileged mode",
        ),
        (["--net=host"], "cannot share the host's network namespace when user namespaces are enabled"),
        (["--pid=host"], "cannot share the host PID namespace when user namespaces are enabled"),
    ],
)
def test_refusals_answer_dockerds_words(remapped: tuple[Daemon, int], flags: list[str], words: str) -> None:
    d, _ = remapped
    r = docker(d, "run", "--rm", *flags, IMAGE, "true", check=False)
    assert r.returncode == 125
    assert f"Error response from daemon: {words}" in r.stderr
    mode = {"--privileged": {"Privileged": True}, "--net=host": {"NetworkMode": "host"}}.get(
        flags[0], {"PidMode": "host"}
    )
    status, body = d.request("POST", "/containers/create", {"Image": IMAGE, "HostConfig": mode})
    assert (status, body["message"]) == (400, words)
    # with --userns=host the same container is allowed (created only: --privileged cannot
    # start on this host, whose bounding set lacks CAP_SYS_RESOURCE)
    cid = docker(d, "create", "--userns=host", *flags, IMAGE, "true").stdout.strip()
    docker(d, "rm", cid)


def test_exec_and_a_shared_network_namespace_are_in_the_user_namespace(
    remapped: tuple[Daemon, int],
) -> None:
    d, start = remapped
    cid = docker(d, "run", "-d", IMAGE, "sleep", "30").stdout.strip()
    try:
        out = docker(
            d, "exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user"
        )
        lines = out.stdout.splitlines()
        assert lines[0] == "0" and lines[1].split() == ["0", str(start), str(SIZE)]
        assert docker(d, "exec", "-t", "-u", "1000", cid, "id", "-u").stdout.strip() == "1000"
        shared = docker(d, "run", "--rm", f"--net=container:{cid}", IMAGE, "readlink", "/proc/self/ns/user")
        assert shared.stdout.strip() == lines[2]
    finally:
        docker(d, "rm", "-f", cid)


def test_cp_and_commit_carry_container_ids(remapped: tuple[Daemon, int], tmp_path: Path) -> None:
    """What docker cp brings in is the container's root's; tars out (cp, commit) carry the ids
    the container sees, so a committed image is shifted once, not twice."""
    d, start = remapped
    src = tmp_path / "in.txt"
    src.write_text("in\n")
    cid = docker(
        d, "run", "-d", IMAGE, "sh", "-c", "echo made > /made; chown 1:2 /made; sleep 30"
    ).stdout.strip()
    image = f"wharf-userns-commit-{os.getpid()}"
    try:
        docker(d, "cp", str(src), f"{cid}:/in.txt")
        owners = docker(d, "exec", cid, "stat", "-c", "%u:%g", "/in.txt", "/made").stdout.split()
        assert owners == ["0:0", "1:2"]
        # the archive docker cp reads (the CLI itself never keeps owners on the host)
        status, raw = d.request("GET", f"/containers/{cid}/archive?path=/made")
        assert status == 200
        entries = [(m.name, m.uid, m.gid) for m in tarfile.open(fileobj=io.BytesIO(raw))]
        assert entries == [("made", 1, 2)]
        docker(d, "commit", cid, image)
        seen = docker(d, "run", "--rm", image, "stat", "-c", "%u:%g", "/made", "/in.txt", "/bin/busybox")
        assert seen.stdout.split() == ["1:2", "0:0", "0:0"]
    finally:
        docker(d, "rm", "-f", cid)
        docker(d, "rmi", image, check=False)


def _start_fails(config: dict[str, object]) -> str:
    """wharfd's stderr when it refuses to start with ``config`` (it must exit 1, at once)."""
    d = Daemon(new_root())
    try:
        (d.root / "daemon.json").write_text(json.dumps({**d.config(), **config}))
        with pytest.raises(AssertionError, match="wharfd exited 1") as err:
            d.start()
        return str(err.value)
    finally:
        d.cleanup()


def test_a_user_without_ranges_stops_the_daemon_at_start() -> None:
    out = _start_fails({"userns-remap": "nobody:nogroup"})
    assert (
        'failed to start daemon: Can\'t create ID mappings: no subuid ranges found for user "nobody"' in out
    )
    out = _start_fails({"userns-remap": "no-such-user-wharf"})
    assert 'Error during uid lookup for "no-such-user-wharf"' in out
    out = _start_fails({"userns-remap": "a:b:c"})
    assert 'Invalid user/group specification in --userns-remap: "a:b:c"' in out


def test_default_creates_dockremap_and_its_ranges() -> None:
    """``default``: dockerd's user dockremap, made (with a free range in each file) when it is
    missing. Made here, it is removed after, with its lines."""
    with _backups_as_found():
        _default_creates_dockremap()


def _default_creates_dockremap() -> None:
    existed = subprocess.run(["getent", "passwd", userns.DEFAULT_USER], capture_output=True).returncode == 0
    d = Daemon(new_root())
    try:
        os.chmod(d.root, 0o711)
        d.start("--userns-remap", "default")  # the flag (the other daemons: daemon.json)
        entry = pwd.getpwnam(userns.DEFAULT_USER)
        assert entry.pw_shell == "/bin/false"
        uids = userns.read_ranges(userns.SUBUID, entry.pw_name, entry.pw_uid)
        gids = userns.read_ranges(userns.SUBGID, entry.pw_name, entry.pw_uid)
        assert uids and gids
        if not existed:
            assert [r[2] for r in uids + gids] == [SIZE, SIZE]
        info = json.loads(docker(d, "info", "--format", "{{json .}}").stdout)
        assert "name=userns" in info["SecurityOptions"]
        assert info["DockerRootDir"] == f"{d.data_root}/{uids[0][1]}.{gids[0][1]}"
    finally:
        d.cleanup()
        if not existed:
            _remove_user(userns.DEFAULT_USER)
            subprocess.run(["groupdel", userns.DEFAULT_USER], capture_output=True)


def test_a_restarted_daemon_keeps_the_remap(remapped: tuple[Daemon, int]) -> None:
    """Live restore: the container outlives wharfd; the next wharfd resolves the same remap,
    adopts it, and new containers get the same range."""
    d, start = remapped
    cid = docker(d, "run", "-d", IMAGE, "sleep", "60").stdout.strip()
    try:
        d.stop()
        d.start()
        out = docker(d, "exec", cid, "cat", "/proc/self/uid_map").stdout.split()
        assert out == ["0", str(start), str(SIZE)]
        again = docker(d, "run", "--rm", IMAGE, "stat", "-c", "%u", "/etc/passwd").stdout.strip()
        assert again == "0"
    finally:
        docker(d, "rm", "-f", cid)


def test_a_new_volume_copied_up_from_the_image_keeps_the_shifted_owners(
    remapped: tuple[Daemon, int],
) -> None:
    d, start = remapped
    try:
        docker(d, "run", "--rm", "-v", "copied:/etc", IMAGE, "touch", "/etc/added")
        vol = _volume_dir(d, "copied")
        for name in ("passwd", "added", ""):
            st = os.lstat(f"{vol}/{name}" if name else vol)
            assert (st.st_uid, st.st_gid) == (start, start), name
    finally:
        docker(d, "volume", "rm", "copied", check=False)


def test_root_remaps_nothing() -> None:
    """dockerd: "root cannot be remapped with itself; user namespaces are OFF"."""
    d = Daemon(new_root())
    try:
        (d.root / "daemon.json").write_text(json.dumps({**d.config(), "userns-remap": "root"}))
        d.start()
        info = json.loads(docker(d, "info", "--format", "{{json .}}").stdout)
        assert "name=userns" not in info["SecurityOptions"]
        assert info["DockerRootDir"] == d.data_root
        assert "user namespaces are OFF" in Path(d.log).read_text()
    finally:
        d.cleanup()


def test_a_pulled_image_is_unpacked_for_the_remapped_root(
    remapped: tuple[Daemon, int], tmp_path: Path
) -> None:
    """Push the image to a registry on 127.0.0.1, remove it, pull it back: its layers are
    unpacked again, shifted (what the registry holds carries the container's ids)."""
    d, start = remapped
    reg = Registry(tmp_path / "registry")
    ref = f"{reg.host}/userns/busybox:1"
    try:
        docker(d, "tag", IMAGE, ref)
        docker(d, "push", ref)
        docker(d, "rmi", ref)
        docker(d, "rmi", IMAGE)
        docker(d, "pull", ref)
        cid = docker(d, "run", "-d", ref, "sh", "-c", "stat -c %u:%g /bin/busybox; sleep 30").stdout.strip()
        try:
            pid = docker(d, "inspect", "-f", "{{.State.Pid}}", cid).stdout.strip()
            st = os.stat(f"/proc/{pid}/root/bin/busybox")
            assert (st.st_uid, st.st_gid) == (start, start)
            deadline = time.monotonic() + 10
            while not (out := docker(d, "logs", cid).stdout.strip()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert out == "0:0"
        finally:
            docker(d, "rm", "-f", cid)
    finally:
        docker(d, "tag", ref, IMAGE, check=False)  # the module's other tests use it
        docker(d, "rmi", ref, check=False)
        reg.close()


def test_one_daemon_per_data_root_remapped_or_not(remapped: tuple[Daemon, int]) -> None:
    """The lock is the data root's own, not <uid>.<gid>'s: a daemon without the remap on the
    same data root is refused before it changes anything there."""
    d, start = remapped
    other = Daemon(new_root())
    own = other.data_root
    try:
        other.data_root = d.data_root
        with pytest.raises(AssertionError, match="another wharfd is using"):
            other.start()
        assert os.stat(d.data_root).st_gid == start  # left as the remapped daemon made it
        assert docker(d, "run", "--rm", IMAGE, "id", "-u").stdout.strip() == "0"
    finally:
        other.data_root = own
        other.cleanup()


def test_a_volume_subpath_in_a_remapped_container(remapped: tuple[Daemon, int]) -> None:
    """The subpath is pinned by the daemon (root) and bound by the runtime inside the user
    namespace: the remapped root reaches it and writes into it, as its own."""
    d, first = remapped
    vol = "subpath-remap"
    try:
        docker(d, "run", "--rm", "-v", f"{vol}:/v", "busybox", "mkdir", "/v/sub")
        r = docker(d, "run", "--rm", "--mount", f"type=volume,src={vol},dst=/x,volume-subpath=sub",
                   "busybox", "sh", "-c", "echo in > /x/f && cat /x/f", check=False)  # fmt: skip
        assert (r.returncode, r.stdout) == (0, "in\n"), r.stderr
        mountpoint = json.loads(docker(d, "volume", "inspect", vol).stdout)[0]["Mountpoint"]
        assert os.stat(f"{mountpoint}/sub/f").st_uid == first
    finally:
        docker(d, "volume", "rm", "-f", vol, check=False)
