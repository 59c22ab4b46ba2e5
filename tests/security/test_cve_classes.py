"""Escape classes of runc and Docker beyond CVE-2019-5736 (test_escapes.py) and CVE-2021-41091
(test_host_root.py), each reproduced against a real wharfd with the docker CLI: the host stays
untouched and the user sees Docker's error.

- CVE-2024-21626 ("Leaky Vessels"): ``-w /proc/self/fd/N`` must not give a process a host cwd,
  and no host fd reaches a container's process.
- CVE-2018-15664: ``docker cp`` while the container swaps a directory with a symlink to /.
- CVE-2019-14271: ``docker cp`` (and ``-a``, which looks the container's user up) must not open
  the container's NSS files in a way that blocks or runs code, nor follow its /etc/passwd out.
- CVE-2021-30465 (and CVE-2019-19921): mount destinations that are, or become, symlinks out of
  the rootfs; the mount lands inside the container, never on a host path.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import IMAGE, docker

pytestmark = pytest.mark.root

# exchanges two names of a directory as fast as it can (renameat2 RENAME_EXCHANGE): what a
# container racing the daemon or the runtime does
SWAPPER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    for (;;) {
        if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], 2 /* RENAME_EXCHANGE */)) {
            perror("renameat2");
            return 1;
        }
    }
}
"""


@pytest.fixture(scope="module")
def swapper(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A static binary of SWAPPER, in a directory to bind into containers."""
    d = tmp_path_factory.mktemp("swapper")
    (d / "swap.c").write_text(SWAPPER)
    argv = ["gcc", "-static", "-O2", "-o", str(d / "swap"), str(d / "swap.c")]
    r = subprocess.run(argv, capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"no static C toolchain: {r.stderr.decode()[:200]}")
    return str(d)


@pytest.fixture
def names(wharfd: Daemon) -> Iterator[list[str]]:
    """Containers ("c:"), images ("i:") and volumes ("v:") a test made, removed after it."""
    made: list[str] = []
    yield made
    for item in reversed(made):
        kind, _, name = item.partition(":")
        verb = {"c": ["rm", "-f", "-v"], "i": ["rmi", "-f"], "v": ["volume", "rm", "-f"]}[kind]
        docker(wharfd, *verb, name, check=False, timeout=60)


@pytest.fixture
def canary() -> Iterator[Path]:
    """A host file at a path the container's symlinks name (under /tmp), with known content."""
    path = Path("/tmp") / f"wharf-canary-{uuid.uuid4().hex[:10]}"
    path.write_text("host secret\n")
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def _untouched(path: Path) -> None:
    st = path.stat()
    assert path.read_text() == "host secret\n" and st.st_mtime_ns == 1_000_000_000, path


def _host_mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(path)]


# --- CVE-2024-21626: a leaked fd as the working directory


def _ls_up(n: int) -> str:
    return "ls -a " + "/".join([".."] * 12) + f"/tmp; echo pwd=$(pwd); ls -l /proc/self/fd/{n} 2>&1"


def test_workdir_proc_self_fd_never_lands_on_the_host(
    wharfd: Daemon, canary: Path, names: list[str]
) -> None:
    """``docker run -w /proc/self/fd/N`` and ``docker exec -w ...`` for N in 3..10: refused with
    the runtime's error (Docker's exit codes), or a cwd inside the container; never a host
    directory (from there ``../../..`` would list the host's /tmp and its canary)."""
    name = f"cwd-{uuid.uuid4().hex[:8]}"
    names.append(f"c:{name}")
    docker(wharfd, "run", "-d", "--name", name, IMAGE, "sleep", "300")
    for n in range(3, 11):
        cwd = f"/proc/self/fd/{n}"
        for argv, failed in (
            (["run", "--rm", "-w", cwd, IMAGE, "sh", "-c", _ls_up(n)], 125),
            (["exec", "-w", cwd, name, "sh", "-c", _ls_up(n)], 126),
        ):
            r = docker(wharfd, *argv, check=False)
            assert canary.name not in r.stdout, (argv, r.stdout)
            assert "(unreachable)" not in r.stdout, (argv, r.stdout)
            if r.returncode != 0:
                assert r.returncode == failed, (argv, r.returncode, r.stderr)
                assert cwd in r.stderr, (argv, r.stderr)
                if argv[0] == "run":
                    assert "Error response from daemon" in r.stderr, r.stderr
            else:
                assert "pwd=/" in r.stdout, (argv, r.stdout)
    _untouched(canary)


# the shell lists its own fds from a child (ls), while it waits and holds nothing of its own
_FD_LISTING = "ls -l /proc/$$/fd; true"


def _leaks(listing: str) -> list[str]:
    """Every fd but stdio (/dev/null, a pipe, a socket, a pty): a host directory, the runtime's
    memfd, a host file, a pipe to the runtime would be one leaked."""
    bad = []
    for line in listing.strip().splitlines():
        if " -> " not in line:
            continue
        num, link = line.split(" -> ", 1)
        num = num.rsplit(" ", 1)[-1]
        stdio = link == "/dev/null" or link.startswith(("pipe:[", "socket:[", "/dev/pts/"))
        if num not in ("0", "1", "2") or not stdio:
            bad.append(line)
    return bad


def test_no_host_fd_reaches_a_containers_processes(wharfd: Daemon, names: list[str]) -> None:
    """What the container's init and an exec'd process hold when they start: stdio only."""
    for extra in ([], ["-i"], ["-t"]):
        r = docker(wharfd, "run", "--rm", *extra, IMAGE, "sh", "-c", _FD_LISTING, input="")
        assert r.stdout.count(" -> ") >= 3 and not _leaks(r.stdout), (extra, r.stdout)
    name = f"fds-{uuid.uuid4().hex[:8]}"
    names.append(f"c:{name}")
    docker(wharfd, "run", "-d", "--name", name, IMAGE, "sh", "-c", "exec sleep 300")
    for extra in ([], ["-i"], ["-u", "1000"]):
        r = docker(wharfd, "exec", *extra, name, "sh", "-c", _FD_LISTING, input="")
        assert r.stdout.count(" -> ") >= 3 and not _leaks(r.stdout), (extra, r.stdout)
    r = docker(wharfd, "exec", name, "ls", "-l", "/proc/1/fd")  # the init, after an exec joined it
    assert not _leaks(r.stdout), r.stdout


# --- CVE-2018-15664: docker cp racing a symlink exchange

# what the docker CLI says when a destination went while it looked (the daemon's 404 and 400)
_CP_MISSING = ("Could not find the file", "no such directory", "not a directory")


def test_cp_racing_a_symlink_exchange_never_touches_the_host(
    wharfd: Daemon, swapper: str, canary: Path, names: list[str], tmp_path: Path
) -> None:
    """The container exchanges /w/dir (a directory holding tmp/<canary>) with /w/link (a symlink
    to /) in a loop while `docker cp` copies out of and into /w/dir/tmp: every copy out is the
    container's file or Docker's 404, never the host's /tmp/<canary>; every copy in lands in the
    container; the host file is never written, no host file is created."""
    name = f"race-{uuid.uuid4().hex[:8]}"
    names.append(f"c:{name}")
    docker(wharfd, "run", "-d", "--name", name, "-v", f"{swapper}:/swapper:ro", IMAGE, "sh", "-c",
           f"mkdir -p /w/dir/tmp && echo container > /w/dir/tmp/{canary.name} && ln -s / /w/link"
           " && exec /swapper/swap /w/dir /w/link")  # fmt: skip
    payload = tmp_path / canary.name  # same name as the host file: a copy in that escaped overwrites it
    payload.write_text("written by cp\n")
    fresh = f"{canary.name}-in"
    seen = {"container": 0, "missing": 0}
    deadline = time.monotonic() + 15
    rounds = 0
    while rounds < 40 and time.monotonic() < deadline:
        rounds += 1
        out = tmp_path / f"out-{rounds}"
        r = docker(wharfd, "cp", f"{name}:/w/dir/tmp/{canary.name}", str(out), check=False)
        if r.returncode == 0:
            assert out.read_text() in ("container\n", "written by cp\n"), out.read_text()
            seen["container"] += 1
        else:
            assert r.returncode == 1 and "Could not find the file" in r.stderr, r.stderr
            seen["missing"] += 1
        r = docker(wharfd, "cp", f"{name}:/w/dir/tmp", str(tmp_path / f"dir-{rounds}"), check=False)
        if r.returncode == 0:
            got = tmp_path / f"dir-{rounds}" / canary.name
            assert not got.exists() or got.read_text() in ("container\n", "written by cp\n")
        for dst in (f"{name}:/w/dir/tmp/", f"{name}:/w/dir/tmp/{fresh}"):
            r = docker(wharfd, "cp", str(payload), dst, check=False)
            assert r.returncode == 0 or any(w in r.stderr for w in _CP_MISSING), r.stderr
        _untouched(canary)
        assert not Path("/tmp", fresh).exists()
    assert seen["container"], seen  # the race was run, and copies got through
    assert docker(wharfd, "inspect", "-f", "{{.State.Running}}", name).stdout.strip() == "true"


# --- CVE-2019-14271: docker cp and the container's NSS files

_NO_USER = "unable to find user someone: no matching entries"
_NSS = (
    "rm -f /etc/passwd /etc/group && mkfifo /etc/passwd /etc/group /etc/nsswitch.conf"
    " && for d in /lib /lib64 /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu; do"
    " mkdir -p $d && mkfifo $d/libnss_files.so.2 $d/libnss_dns.so.2; done"
)


def test_cp_never_opens_the_containers_nss_files(wharfd: Daemon, names: list[str], tmp_path: Path) -> None:
    """FIFOs at /etc/passwd, /etc/group, /etc/nsswitch.conf and every libnss_*.so.2: a daemon
    that opened one to read it would block there (holding the container's lock, so `rm -f`
    would hang too). Every `docker cp`, with and without -a, and `exec -u NAME` finish in
    seconds, with Docker's words where they fail."""
    name = f"nss-{uuid.uuid4().hex[:8]}"
    names.append(f"c:{name}")
    docker(wharfd, "run", "-d", "--name", name, "-u", "1000:1000", IMAGE, "sleep", "300")
    docker(wharfd, "exec", "-u", "0", name, "sh", "-c", _NSS)
    src = tmp_path / "f"
    src.write_text("x\n")
    for argv in (
        ["cp", str(src), f"{name}:/tmp/"],
        ["cp", "-a", str(src), f"{name}:/tmp/"],
        ["cp", f"{name}:/etc", str(tmp_path / "etc")],
        ["cp", "-a", f"{name}:/etc", str(tmp_path / "etc-a")],
        ["cp", "-a", f"{name}:/lib", str(tmp_path / "lib-a")],
    ):
        r = docker(wharfd, *argv, check=False, timeout=10)
        assert r.returncode == 0, (argv, r.stderr)
    assert os.stat(tmp_path / "etc" / "passwd").st_mode & 0o170000 == 0o010000  # copied as a FIFO
    r = docker(wharfd, "exec", "-u", "someone", name, "id", check=False, timeout=10)
    assert r.returncode == 126 and f"{_NO_USER} in passwd file" in r.stdout, (r.returncode, r.stdout)
    docker(wharfd, "rm", "-f", name, timeout=10)


def test_image_with_fifo_passwd_neither_blocks_start_nor_cp(
    wharfd: Daemon, names: list[str], tmp_path: Path
) -> None:
    """The same FIFOs in an image: `run -u NAME` fails with Docker's words, `run` without HOME
    in its environment starts (the runtime looks HOME up in /etc/passwd), `cp -a` into a created
    container whose user is a name works out nothing from a FIFO."""
    base, image = f"nssb-{uuid.uuid4().hex[:8]}", f"nss-image-{uuid.uuid4().hex[:8]}"
    names += [f"c:{base}", f"i:{image}"]
    docker(wharfd, "run", "--name", base, IMAGE, "sh", "-c", _NSS)
    docker(wharfd, "commit", base, image)
    r = docker(wharfd, "run", "--rm", "-u", "someone", image, "true", check=False, timeout=15)
    assert r.returncode == 125 and f"{_NO_USER} in passwd file" in r.stderr, r.stderr
    r = docker(wharfd, "run", "--rm", "-u", "1000", image, "sh", "-c", "echo home=$HOME", timeout=15)
    assert r.stdout.strip() == "home=/"
    r = _cp_a_into_created(wharfd, names, image, "someone", tmp_path)
    assert r.returncode == 1 and "unable to find user someone" in r.stderr, r.stderr


def _cp_a_into_created(
    wharfd: Daemon, names: list[str], image: str, user: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """`docker cp -a` of a file into a created (never started) container of ``image`` whose
    configured user is ``user``: the daemon looks that user up in the image's files."""
    created = f"cpa-{uuid.uuid4().hex[:8]}"
    names.append(f"c:{created}")
    docker(wharfd, "create", "--name", created, "-u", user, image, "true")
    (tmp_path / "f").write_text("x\n")
    return docker(wharfd, "cp", "-a", str(tmp_path / "f"), f"{created}:/tmp/", check=False, timeout=10)


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_cp_a_resolves_the_user_inside_the_container(
    wharfd: Daemon, names: list[str], tmp_path: Path, how: str
) -> None:
    """`docker cp -a` looks the container's user up in its /etc/passwd; a /etc/passwd that is a
    symlink to a host file (absolute, or ../../.. out of the rootfs) resolves inside the
    container, so the host's entry is never read: Docker's "unable to find user"."""
    host = tmp_path / "passwd"
    host.write_text("hostonly:x:4242:4243::/:/bin/sh\n")
    target = str(host) if how == "absolute" else "../" * 12 + str(host).lstrip("/")
    base, image = f"pwl-{uuid.uuid4().hex[:8]}", f"pwlink-{uuid.uuid4().hex[:8]}"
    names += [f"c:{base}", f"i:{image}"]
    docker(wharfd, "run", "--name", base, IMAGE, "ln", "-sf", target, "/etc/passwd")
    docker(wharfd, "commit", base, image)
    r = _cp_a_into_created(wharfd, names, image, "hostonly", tmp_path)
    assert r.returncode == 1 and "unable to find user hostonly" in r.stderr, r.stderr
    assert host.read_text() == "hostonly:x:4242:4243::/:/bin/sh\n"


# --- CVE-2021-30465 / CVE-2019-19921: mount destinations through symlinks


@pytest.mark.parametrize("how", ["absolute", "relative"])
def test_mount_destination_symlinked_out_lands_inside(
    wharfd: Daemon, names: list[str], tmp_path: Path, how: str
) -> None:
    """An image whose mount points are symlinks out of the rootfs (to a host directory): the
    volume, the bind and the tmpfs are mounted inside the container; the host directory keeps its
    contents and gets no mount."""
    host = tmp_path / "hostdir"
    host.mkdir()
    (host / "host-file").write_text("host\n")
    target = str(host) if how == "absolute" else "../" * 12 + str(host).lstrip("/")
    base, image, vol = (f"{p}-{uuid.uuid4().hex[:8]}" for p in ("ml", "mlink", "mlv"))
    names += [f"v:{vol}", f"c:{base}", f"i:{image}"]
    docker(wharfd, "run", "--name", base, IMAGE, "sh", "-c",
           f"ln -s {target}/v /vol && ln -s {target}/b /bind && ln -s {target}/t /tmpfs")  # fmt: skip
    docker(wharfd, "commit", base, image)
    src = tmp_path / "bindsrc"
    src.mkdir()
    (src / "bound").write_text("bound\n")
    r = docker(wharfd, "run", "--rm", "-v", f"{vol}:/vol", "-v", f"{src}:/bind",
               "--mount", "type=tmpfs,dst=/tmpfs,tmpfs-size=4404k", image, "sh", "-c",
               f"echo in > /vol/w; cat /bind/bound; grep -c 'size=4404k' /proc/self/mountinfo;"
               f" ls {host}")  # fmt: skip
    assert r.stdout.split() == ["bound", "1", "b", "t", "v"], r.stdout
    assert sorted(p.name for p in host.iterdir()) == ["host-file"]
    assert not _host_mounts_under(str(host))


def test_proc_through_a_symlink_is_refused(wharfd: Daemon, names: list[str]) -> None:
    """/proc in the image is a symlink (into a directory a volume could race): procfs is mounted
    only on an ordinary directory, runc's refusal and words (CVE-2019-19921)."""
    base, image = f"pl-{uuid.uuid4().hex[:8]}", f"proclink-{uuid.uuid4().hex[:8]}"
    names += [f"c:{base}", f"i:{image}"]
    docker(wharfd, "create", "--name", base, IMAGE, "true")
    exported = subprocess.run(["docker", "export", base], env=wharfd.env(), capture_output=True, check=True)
    buf = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(exported.stdout)) as src,
        tarfile.open(fileobj=buf, mode="w") as out,
    ):
        for m in src:
            if m.name.strip("/") != "proc":
                out.addfile(m, src.extractfile(m) if m.isfile() else None)
        evil, link = tarfile.TarInfo("evil"), tarfile.TarInfo("proc")
        evil.type, evil.mode = tarfile.DIRTYPE, 0o755
        link.type, link.linkname = tarfile.SYMTYPE, "/evil"
        out.addfile(evil)
        out.addfile(link)
    r = subprocess.run(
        ["docker", "import", "-", image], env=wharfd.env(), input=buf.getvalue(), capture_output=True
    )
    assert r.returncode == 0, r.stderr
    r = docker(wharfd, "run", "--rm", image, "true", check=False)
    assert r.returncode == 125 and 'filesystem "proc" must be mounted on ordinary directory' in r.stderr, (
        r.stderr
    )


def test_mount_destination_swapped_by_a_container_sharing_the_volume(
    wharfd: Daemon, swapper: str, names: list[str], tmp_path: Path
) -> None:
    """A container exchanges, in a shared volume, the directory a second container's tmpfs is to
    be mounted on with a symlink to a host directory, as fast as it can, while the second
    container is started again and again: every start that succeeds sees its tmpfs inside its
    own tree (had the runtime mounted through the swapped-in symlink, the tmpfs would be on the
    host path in the container's namespace, gone at pivot_root); the host directory is
    untouched and gets no mount."""
    host = tmp_path / "target"
    host.mkdir()
    (host / "host-file").write_text("host\n")
    vol, racer = f"rv-{uuid.uuid4().hex[:8]}", f"racer-{uuid.uuid4().hex[:8]}"
    names += [f"v:{vol}", f"c:{racer}"]
    race = f"mkdir /v/sub && ln -s {host} /v/alt && exec /swapper/swap /v/sub /v/alt"
    docker(wharfd, "run", "-d", "--name", racer, "-v", f"{vol}:/v", "-v", f"{swapper}:/swapper:ro",
           IMAGE, "sh", "-c", race)  # fmt: skip
    stop = threading.Event()
    ok = failed = 0
    deadline = time.monotonic() + 25
    try:
        while ok + failed < 30 and time.monotonic() < deadline:
            r = docker(wharfd, "run", "--rm", "-v", f"{vol}:/shared",
                       "--mount", "type=tmpfs,dst=/shared/sub,tmpfs-size=4404k", IMAGE,
                       "grep", "-c", "size=4404k", "/proc/self/mountinfo", check=False)  # fmt: skip
            if r.returncode == 0:
                assert r.stdout.strip() == "1", r.stdout
                ok += 1
            else:
                # a start refused (a swapped component met twice too often) is Docker's 125;
                # 1 would be grep finding no tmpfs: the mount went outside the container
                assert r.returncode == 125 and "Error response from daemon" in r.stderr, r.stderr
                failed += 1
            assert sorted(p.name for p in host.iterdir()) == ["host-file"]
            assert not _host_mounts_under(str(host))
    finally:
        stop.set()
    assert ok, (ok, failed)


def test_volume_subpath_swapped_by_a_container_sharing_the_volume(
    wharfd: Daemon, swapper: str, names: list[str]
) -> None:
    """`--mount type=volume,volume-subpath=sub` while a container sharing the volume exchanges
    sub with a symlink to / as fast as it can: the container sees the subpath (or, where the
    symlink was met, what / names inside the volume: its root), never the host's root, which
    a runtime walking the subpath's host path again would bind; no pinned mount is left."""
    vol, racer = f"sp-{uuid.uuid4().hex[:8]}", f"spr-{uuid.uuid4().hex[:8]}"
    names += [f"v:{vol}", f"c:{racer}"]
    race = "mkdir /v/sub && touch /v/sub/inside && ln -s / /v/alt && exec /swapper/swap /v/sub /v/alt"
    docker(wharfd, "run", "-d", "--name", racer, "-v", f"{vol}:/v", "-v", f"{swapper}:/swapper:ro",
           IMAGE, "sh", "-c", race)  # fmt: skip
    seen = set()
    for _ in range(30):
        r = docker(wharfd, "run", "--rm", "--mount", f"type=volume,src={vol},dst=/x,volume-subpath=sub",
                   IMAGE, "ls", "/x", check=False)  # fmt: skip
        assert r.returncode in (0, 125), (r.returncode, r.stderr)
        listing = tuple(r.stdout.split())
        assert listing in {("inside",), ("alt", "sub")} or r.returncode == 125, listing
        seen.add(listing)
    assert ("inside",) in seen, seen
    r = docker(wharfd, "run", "--rm", "--mount", f"type=volume,src={vol},dst=/x,volume-subpath=nope",
               IMAGE, "true", check=False)  # fmt: skip
    # 127: the docker CLI's own reading of "no such file or directory" in a start error
    assert r.returncode == 127 and "error while mounting volume with subpath 'nope'" in r.stderr, r.stderr
    assert not [m for m in _host_mounts_under(str(wharfd.root)) if "/subpaths/" in m]
