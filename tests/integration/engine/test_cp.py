"""cp, diff, export and commit through the docker CLI and wharf against wharfd: a tree with
permissions, ownership, symlinks and hardlinks round-trips in and out (running and stopped
containers, into volumes); symlinks a container plants (to /, to /etc, `..`) cannot make cp read
or write the host's files in either direction; Docker's errors for bad destinations; a commit
becomes an image that runs with the container's changes."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

from .conftest import CLI


def _tree(base: Path) -> None:
    d = base / "tree"
    (d / "sub" / "empty").mkdir(parents=True)
    (d / "sub").chmod(0o750)
    (d / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (d / "run.sh").chmod(0o755)
    (d / "secret").write_bytes(os.urandom(200_000))
    (d / "secret").chmod(0o600)
    os.link(d / "secret", d / "sub" / "hard")
    os.symlink("../secret", d / "sub" / "rel")
    os.symlink("/etc/hostname", d / "abs")
    os.chown(d / "run.sh", 1234, 5678)


def _describe(base: Path, owners: bool = True) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            data = p.read_bytes() if stat.S_ISREG(st.st_mode) else b""
            link = os.readlink(p) if p.is_symlink() else ""
            who = (st.st_uid, st.st_gid) if owners else ()
            out[str(p.relative_to(base))] = (stat.filemode(st.st_mode), *who, link, data, st.st_nlink)
    return out


def test_cp_round_trips_a_tree(cli: CLI, made: list[str], tmp_path: Path) -> None:
    name, vol = f"cp-{cli.name}", f"cpv-{cli.name}"
    made += [f"v:{vol}", f"c:{name}"]
    _tree(tmp_path)
    cli("run", "-d", "--name", name, "-v", f"{vol}:/data", "busybox", "sleep", "300")
    cli("cp", str(tmp_path / "tree"), f"{name}:/in")  # a new name: the tree becomes /in
    cli("cp", str(tmp_path / "tree"), f"{name}:/data/")  # into an existing directory (a volume)
    r = cli("exec", name, "sh", "-c",
            "stat -c '%n %a %u:%g %h' /in/run.sh /in/secret /in/sub /data/tree/sub/hard;"
            " readlink /in/sub/rel; /in/run.sh")  # fmt: skip
    assert r.stdout.splitlines() == [
        "/in/run.sh 755 1234:5678 1", "/in/secret 600 0:0 2", "/in/sub 750 0:0 3",
        "/data/tree/sub/hard 600 0:0 2", "../secret", "ran",
    ]  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    cli("cp", f"{name}:/in", str(out / "back"))
    cli("cp", f"{name}:/data/tree/.", str(out / "contents"))
    # docker cp does not chown what it writes on the host: ownership is the caller's
    assert _describe(out / "back", owners=False) == _describe(tmp_path / "tree", owners=False)
    assert _describe(out / "contents", owners=False) == _describe(tmp_path / "tree", owners=False)
    assert (out / "back" / "run.sh").stat().st_uid == os.geteuid()
    # a stopped container: its rootfs and volumes are reachable, in both directions
    cli("stop", "-t", "0", name)
    cli("cp", str(tmp_path / "tree" / "run.sh"), f"{name}:/data/while-stopped")
    cli("cp", f"{name}:/in/secret", str(out / "secret-again"))
    assert (out / "secret-again").read_bytes() == (tmp_path / "tree" / "secret").read_bytes()
    cli("start", name)
    r = cli("exec", name, "sh", "-c", "/data/while-stopped")
    assert r.stdout == "ran\n"
    # tar streams through "-"
    tar_bytes = cli.raw("cp", f"{name}:/in/sub", "-").stdout
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
        assert {m.name: m.type for m in t.getmembers()} == {
            "sub": tarfile.DIRTYPE, "sub/empty": tarfile.DIRTYPE, "sub/hard": tarfile.REGTYPE,
            "sub/rel": tarfile.SYMTYPE,
        }  # fmt: skip
    cli.raw("cp", "-", f"{name}:/tmp", input=tar_bytes, check=True)
    assert cli("exec", name, "readlink", "/tmp/sub/rel").stdout == "../secret\n"


def test_cp_archive_mode_owns_files_by_the_containers_user(
    cli: CLI, made: list[str], tmp_path: Path
) -> None:
    name = f"cpa-{cli.name}"
    made.append(f"c:{name}")
    f = tmp_path / "f"
    f.write_text("x")
    os.chown(f, 1234, 5678)
    cli("create", "--name", name, "--user", "4321:4322", "busybox", "true")
    cli("cp", str(f), f"{name}:/tmp/plain")
    cli("cp", "-a", str(f), f"{name}:/tmp/archived")
    r = cli.raw("cp", f"{name}:/tmp", "-")
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as t:
        owners = {m.name: (m.uid, m.gid) for m in t.getmembers()}
    assert owners["tmp/plain"] == (1234, 5678) and owners["tmp/archived"] == (4321, 4322)


def test_planted_symlinks_cannot_reach_host_files(cli: CLI, made: list[str], tmp_path: Path) -> None:
    name = f"esc-{cli.name}"
    made.append(f"c:{name}")
    host_dir = tmp_path / "hostdir"
    host_dir.mkdir()
    (host_dir / "host-secret").write_text("host only\n")
    cli("run", "-d", "--name", name, "busybox", "sleep", "300")
    cli("exec", name, "sh", "-c",
        f"ln -s / /escape; ln -s /etc /etcl; ln -s ../../../../../.. /tmp/up; mkdir -p {host_dir};"
        f" echo container > {host_dir}/host-secret; ln -s {host_dir} /hostdir")  # fmt: skip
    out = tmp_path / "out"
    out.mkdir()
    # reads: every path resolves inside the container
    for src in ("/escape/etc/passwd", "/etcl/passwd", "/tmp/up/etc/passwd"):
        cli("cp", f"{name}:{src}", str(out / "p"))
        assert (out / "p").read_text() != Path("/etc/passwd").read_text()
        assert (out / "p").read_text() == cli("exec", name, "cat", "/etc/passwd").stdout
    cli("cp", f"{name}:/hostdir/host-secret", str(out / "s"))
    assert (out / "s").read_text() == "container\n"
    cli("cp", "-L", f"{name}:/etcl", str(out / "etc"))
    assert (out / "etc" / "passwd").read_text() == cli("exec", name, "cat", "/etc/passwd").stdout
    # the link itself comes out as a link, not as the host's /etc
    cli("cp", f"{name}:/etcl", str(out / "link"))
    assert os.readlink(out / "link") == "/etc"
    # writes: through every planted link, the file lands in the container
    payload = tmp_path / "payload"
    payload.write_text("written\n")
    marker = f"wharf-cp-escape-{cli.name}"
    for dst in (f"/escape/tmp/{marker}", f"/etcl/{marker}", f"/tmp/up/tmp/{marker}-2"):
        cli("cp", str(payload), f"{name}:{dst}")
    cli("cp", str(payload), f"{name}:/hostdir/host-secret")
    assert not Path("/tmp", marker).exists() and not Path("/etc", marker).exists()
    assert not Path("/tmp", f"{marker}-2").exists()
    assert (host_dir / "host-secret").read_text() == "host only\n"
    r = cli(
        "exec",
        name,
        "cat",
        f"/tmp/{marker}",
        f"/etc/{marker}",
        f"/tmp/{marker}-2",
        f"{host_dir}/host-secret",
    )
    assert r.stdout == "written\n" * 4
    # a tar whose own entries build the escape: a symlink to the host dir, then a file through it
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        link = tarfile.TarInfo("via")
        link.type, link.linkname = tarfile.SYMTYPE, str(host_dir)
        t.addfile(link)
        data = tarfile.TarInfo("via/planted")
        data.size = 3
        t.addfile(data, io.BytesIO(b"bad"))
    cli.raw("cp", "-", f"{name}:/tmp", input=buf.getvalue(), check=True)
    assert not (host_dir / "planted").exists()
    assert cli("exec", name, "cat", f"{host_dir}/planted").stdout == "bad"


def test_cp_errors(cli: CLI, made: list[str], tmp_path: Path) -> None:
    name, vol = f"cpe-{cli.name}", f"cpe-{cli.name}"
    made += [f"v:{vol}", f"c:{name}"]
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    cli("create", "--name", name, "--read-only", "-v", f"{vol}:/ro:ro", "busybox", "true")
    r = cli("cp", f"{name}:/nope", str(tmp_path), check=False)
    assert r.returncode == 1 and f"Could not find the file /nope in container {name}" in r.stderr
    r = cli("cp", str(tmp_path / "f"), f"{name}:/missing/dir/x", check=False)
    assert r.returncode == 1 and "Could not find the file /missing/dir in container" in r.stderr
    r = cli("cp", str(tmp_path / "f"), f"{name}:/tmp/x", check=False)
    assert r.returncode == 1 and "container rootfs is marked read-only" in r.stderr
    r = cli("cp", str(tmp_path / "f"), f"{name}:/ro/x", check=False)
    assert r.returncode == 1 and "mounted volume is marked read-only" in r.stderr
    r = cli("cp", str(tmp_path / "d"), f"{name}:/etc/passwd", check=False)
    assert r.returncode == 1 and "cannot copy directory" in r.stderr
    r = cli("cp", f"{name}:/etc/passwd", str(tmp_path / "no" / "such" / "x"), check=False)
    assert r.returncode == 1 and "does not exist" in r.stderr
    r = cli("cp", "nosuch-container:/x", str(tmp_path), check=False)
    assert r.returncode == 1 and "No such container: nosuch-container" in r.stderr
    r = cli("cp", str(tmp_path / "f"), str(tmp_path / "g"), check=False)
    assert r.returncode == 1 and "must specify at least one container source" in r.stderr


def test_diff_export_and_commit(cli: CLI, made: list[str], tmp_path: Path) -> None:
    name, vol, image = f"cm-{cli.name}", f"cmv-{cli.name}", f"committed-{cli.name}:v1"
    made += [f"i:{image}", f"v:{vol}", f"c:{name}"]
    cli("run", "--name", name, "-v", f"{vol}:/data", "busybox", "sh", "-c",
        "echo new > /added; rm /linuxrc; echo vol > /data/in-volume; mkdir /usr/extra")  # fmt: skip
    diff = cli("diff", name).stdout.splitlines()
    assert diff == ["A /added", "A /data", "D /linuxrc", "C /usr", "A /usr/extra"]
    exported = cli.raw("export", name).stdout
    with tarfile.open(fileobj=io.BytesIO(exported)) as t:
        names = set(t.getnames())
    assert {"added", "bin/busybox", "usr/extra"} <= names
    assert "linuxrc" not in names and "data/in-volume" not in names  # volumes are not exported
    out = cli("commit", "-c", "ENV COMMITTED=yes", "-c", 'CMD ["cat", "/added"]', "-m", "a message",
              "-a", "me", name, image).stdout.strip()  # fmt: skip
    assert out.startswith("sha256:") and len(out) == 71
    r = cli("run", "--rm", image)
    assert r.stdout == "new\n"
    r = cli(
        "run", "--rm", image, "sh", "-c", "echo $COMMITTED; ls /linuxrc 2>&1; ls -d /usr/extra; ls /data"
    )
    assert r.stdout.splitlines()[0] == "yes" and "No such file" in r.stdout and "/usr/extra" in r.stdout
    info = json.loads(cli("image", "inspect", image).stdout)[0]
    assert info["Id"] == out and info["Author"] == "me" and info["Comment"] == "a message"
    assert info["Config"]["Cmd"] == ["cat", "/added"] and "COMMITTED=yes" in info["Config"]["Env"]
    assert len(info["RootFS"]["Layers"]) == 2
    history = cli("history", "--format", "{{.Comment}}", image).stdout.splitlines()
    assert history[0] == "a message"


def test_volume_destination_through_a_planted_symlink_stays_inside(
    cli: CLI, made: list[str], tmp_path: Path
) -> None:
    """An image whose mount point is a symlink to a host path: the volume is mounted at that path
    inside the container's rootfs, copy-up reads the image's files, the host path is untouched."""
    name, image, vol = f"vl-{cli.name}", f"vollink-{cli.name}", f"vl-{cli.name}"
    made += [f"v:{vol}", f"i:{image}", f"c:{name}-run", f"c:{name}"]
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    (host_dir / "host-file").write_text("host\n")
    cli("run", "--name", name, "busybox", "sh", "-c",
        f"mkdir -p {host_dir} && echo image > {host_dir}/image-file"
        f" && ln -s {host_dir} /vollink")  # fmt: skip
    cli("commit", name, image)
    r = cli("run", "--name", f"{name}-run", "-v", f"{vol}:/vollink", image, "sh", "-c",
            f"ls {host_dir}; echo from-container > /vollink/written")  # fmt: skip
    assert r.stdout.split() == ["image-file"]  # the copy-up came from the image, not the host
    assert sorted(p.name for p in host_dir.iterdir()) == ["host-file"] and not os.path.ismount(host_dir)
    mountpoint = json.loads(cli("volume", "inspect", vol).stdout)[0]["Mountpoint"]
    assert Path(mountpoint, "written").read_text() == "from-container\n"
