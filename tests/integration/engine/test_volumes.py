"""Volumes and mounts through the docker CLI and wharf: named volumes outlive containers,
binds honour :ro, tmpfs starts empty, copy-up happens once, anonymous volumes go with rm -v,
--volumes-from, the local driver's tmpfs/bind options, volume ls/inspect/rm/prune, and bad
input refused with nothing made."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .conftest import CLI


def volumes(cli: CLI) -> set[str]:
    return set(cli("volume", "ls", "-q").stdout.split())


def test_named_volume_outlives_its_container(cli: CLI, made: list[str]) -> None:
    vol = f"keep-{cli.name}"
    made += [f"v:{vol}", f"c:w-{cli.name}"]
    assert cli("volume", "create", "--label", "team=x", vol).stdout.strip() == vol
    cli("run", "--name", f"w-{cli.name}", "-v", f"{vol}:/data", "busybox", "sh", "-c",
        "echo kept > /data/file && mkdir /data/sub && chmod 750 /data/sub")  # fmt: skip
    cli("rm", "-v", f"w-{cli.name}")  # -v takes anonymous volumes only
    assert vol in volumes(cli)
    r = cli("run", "--rm", "--mount", f"type=volume,src={vol},dst=/again", "busybox", "sh", "-c",
            "cat /again/file; stat -c %a /again/sub")  # fmt: skip
    assert r.stdout.split() == ["kept", "750"]
    info = json.loads(cli("volume", "inspect", vol).stdout)[0]
    assert info["Name"] == vol and info["Driver"] == "local" and info["Labels"] == {"team": "x"}
    assert Path(info["Mountpoint"], "file").read_text() == "kept\n"
    assert cli("volume", "ls", "-q", "--filter", "label=team=x").stdout.split() == [vol]


def test_bind_mounts_and_read_only(cli: CLI, made: list[str], tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "host.txt").write_text("from host\n")
    r = cli("run", "--rm", "-v", f"{src}:/b:ro", "busybox", "sh", "-c", "cat /b/host.txt; touch /b/new",
            check=False)  # fmt: skip
    assert r.stdout == "from host\n" and r.returncode != 0 and "Read-only file system" in r.stderr
    assert not (src / "new").exists()
    cli("run", "--rm", "--mount", f"type=bind,source={src},target=/b", "busybox", "sh", "-c",
        "echo back > /b/out")  # fmt: skip
    assert (src / "out").read_text() == "back\n"
    # -v with a missing host directory makes it, as Docker does
    missing = tmp_path / "made" / "here"
    cli("run", "--rm", "-v", f"{missing}:/m", "busybox", "true")
    assert missing.is_dir()
    # a read-only rootfs with a writable volume
    vol = f"rw-{cli.name}"
    made.append(f"v:{vol}")
    r = cli("run", "--rm", "--read-only", "-v", f"{vol}:/w", "busybox", "sh", "-c",
            "touch /w/ok && echo wrote; touch /nope", check=False)  # fmt: skip
    assert r.stdout == "wrote\n" and "Read-only file system" in r.stderr
    made.append(f"c:insp-{cli.name}")
    cli("run", "--name", f"insp-{cli.name}", "-v", f"{src}:/b:ro", "busybox", "true")
    mounts = json.loads(cli("inspect", "-f", "{{json .Mounts}}", f"insp-{cli.name}").stdout)
    assert mounts == [{"Type": "bind", "Source": str(src), "Destination": "/b", "Mode": "ro", "RW": False,
                       "Propagation": "rprivate"}]  # fmt: skip


def test_tmpfs_is_empty_on_each_start(cli: CLI, made: list[str]) -> None:
    name = f"tmp-{cli.name}"
    made.append(f"c:{name}")
    script = "ls -A /t /m; echo x > /t/f; echo y > /m/f; mount | grep -E ' /(t|m) '"
    cli("create", "--name", name, "--tmpfs", "/t:size=1m", "--mount", "type=tmpfs,target=/m,tmpfs-size=2m",
        "busybox", "sh", "-c", script)  # fmt: skip
    for _ in range(2):
        cli("start", name)
        assert cli("wait", name).stdout.strip() == "0"
        out = cli("logs", "--tail", "2", name).stdout
        assert "on /t type tmpfs" in out and "on /m type tmpfs" in out
    logs = cli("logs", name).stdout
    assert "f" not in [line.strip() for line in logs.splitlines()]  # never saw the previous file


def test_copy_up_happens_once(cli: CLI, made: list[str]) -> None:
    vol = f"etc-{cli.name}"
    made.append(f"v:{vol}")
    r = cli(
        "run",
        "--rm",
        "-v",
        f"{vol}:/etc",
        "busybox",
        "sh",
        "-c",
        "cat /etc/passwd | head -1; rm /etc/passwd",
    )
    assert r.stdout.startswith("root:")
    r = cli("run", "--rm", "-v", f"{vol}:/etc", "busybox", "ls", "/etc")
    assert "passwd" not in r.stdout.split() and "group" in r.stdout.split()
    # nocopy: an empty volume stays empty
    vol2 = f"nocopy-{cli.name}"
    made.append(f"v:{vol2}")
    r = cli("run", "--rm", "-v", f"{vol2}:/etc:nocopy", "busybox", "ls", "-A", "/etc")
    assert r.stdout == ""


def test_anonymous_volumes_and_volumes_from(cli: CLI, made: list[str]) -> None:
    src, user = f"anon-{cli.name}", f"from-{cli.name}"
    made += [f"c:{src}", f"c:{user}"]
    before = volumes(cli)
    cli("run", "-d", "--name", src, "-v", "/anon", "busybox", "sh", "-c", "echo a > /anon/x; sleep 60")
    anon = volumes(cli) - before
    assert len(anon) == 1 and len(next(iter(anon))) == 64
    r = cli("run", "--name", user, "--volumes-from", f"{src}:ro", "busybox", "sh", "-c",
            "cat /anon/x; touch /anon/y", check=False)  # fmt: skip
    assert r.stdout == "a\n" and "Read-only file system" in r.stderr
    r = cli("volume", "rm", next(iter(anon)), check=False)
    assert r.returncode == 1 and "volume is in use" in r.stderr
    cli("rm", "-f", "-v", src)
    assert volumes(cli) - before == anon  # still used by the other container
    cli("rm", "-v", user)
    assert volumes(cli) - before == set()
    # --rm takes the anonymous volumes with it
    cli("run", "--rm", "-v", "/gone", "busybox", "true")
    assert volumes(cli) - before == set()


def test_local_driver_options(cli: CLI, made: list[str], tmp_path: Path) -> None:
    tv, bv = f"tv-{cli.name}", f"bv-{cli.name}"
    made += [f"v:{tv}", f"v:{bv}"]
    cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m", tv)
    r = cli("run", "--rm", "-v", f"{tv}:/t", "busybox", "df", "-k", "/t")
    assert r.stdout.splitlines()[1].split()[:2] == ["tmpfs", "1024"]
    mountpoint = json.loads(cli("volume", "inspect", tv).stdout)[0]["Mountpoint"]
    assert not os.path.ismount(mountpoint)  # unmounted when its last user stopped
    device = tmp_path / "dev"
    device.mkdir()
    cli(
        "volume",
        "create",
        "--driver",
        "local",
        "-o",
        "type=none",
        "-o",
        f"device={device}",
        "-o",
        "o=bind",
        bv,
    )
    cli("run", "--rm", "-v", f"{bv}:/b", "busybox", "sh", "-c", "echo through > /b/f")
    assert (device / "f").read_text() == "through\n"


def test_volume_ls_filters_and_prune(cli: CLI, made: list[str]) -> None:
    used, unused = f"used-{cli.name}", f"unused-{cli.name}"
    made += [f"v:{used}", f"v:{unused}", f"c:holder-{cli.name}"]
    cli("volume", "create", used)
    cli("volume", "create", unused)
    cli("create", "--name", f"holder-{cli.name}", "-v", f"{used}:/u", "-v", "/anon", "busybox", "true")
    dangling = set(cli("volume", "ls", "-q", "--filter", "dangling=true").stdout.split())
    assert unused in dangling and used not in dangling
    r = cli("volume", "prune", "-f")  # anonymous and unused only: both of ours stay
    assert used in volumes(cli) and unused in volumes(cli)
    r = cli("volume", "prune", "-f", "--all", "--filter", f"name={unused}")
    assert unused in r.stdout and unused not in volumes(cli) and used in volumes(cli)


def test_bad_input_is_refused_and_nothing_made(cli: CLI, made: list[str]) -> None:
    made += [f"v:inuse-{cli.name}", f"c:inuse-c-{cli.name}"]
    before_v, before_c = volumes(cli), cli("ps", "-aq").stdout.split()
    cases = [
        (["-v", "/tmp:/proc"], '"/proc" cannot be mounted because it is not of type proc'),
        (["--mount", "type=bind,source=/nonexistent-wharf,target=/x"],
         'invalid mount config for type "bind": bind source path does not exist: /nonexistent-wharf'),
        (["-v", "vol:relative"], "mount path must be absolute"),
        (["-v", "a:/b:/c:/d"], "invalid volume specification: 'a:/b:/c:/d'"),
        (["-v", "newvol:/x:bogus"], "invalid mode: bogus"),
        (["-v", "/data", "-v", "v2:/data", "--mount", "type=volume,target=/data"],
         "Duplicate mount point: /data"),
        (["-v", "bad name!:/x"], "includes invalid characters for a local volume name"),
    ]  # fmt: skip
    for flags, message in cases:
        r = cli("run", "--rm", *flags, "busybox", "true", check=False)
        assert r.returncode == 125 and message in r.stderr, (flags, r.stderr)
    r = cli("run", "--rm", "--mount", "type=bogus,target=/x", "busybox", "true", check=False)
    assert r.returncode == 125 and "bogus" in r.stderr and "mount type" in r.stderr
    assert volumes(cli) == before_v and cli("ps", "-aq").stdout.split() == before_c
    cli("run", "-d", "--name", f"inuse-c-{cli.name}", "-v", f"inuse-{cli.name}:/x", "busybox", "sleep", "60")
    r = cli("volume", "rm", f"inuse-{cli.name}", check=False)
    assert r.returncode == 1 and f"remove inuse-{cli.name}: volume is in use" in r.stderr
    r = cli("volume", "inspect", "nosuchvolume", check=False)
    assert r.returncode == 1 and "no such volume" in r.stderr
