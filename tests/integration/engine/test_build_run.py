"""RUN as BuildKit's Dockerfile frontend defines it, through the docker CLI's classic builder
(``DOCKER_BUILDKIT=0``) against wharfd: heredocs (a body as the shell's command, as a file the
shell reads, ``<<-`` tabs, quoted names, a ``#!`` script), ``--network``, and ``--mount`` of
each type: a cache kept between builds and never in the image, binds of the context and of
another stage, tmpfs, a secret the classic API cannot give. After every build, failed or not,
no container, no mount and no scratch directory of the build is left."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.daemon import Daemon
from tests.integration.engine.test_build import _docker


def _mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split()[4] for line in f if line.split()[4].startswith(prefix))


def _leftovers(d: Daemon) -> list[str]:
    """The build's scratch directories left in the data root."""
    return [n for n in os.listdir(d.data_root) if n.startswith("build-")]


@pytest.fixture
def images(wharfd: Daemon) -> Iterator[list[str]]:
    made: list[str] = []
    before = _mounts_under(str(wharfd.root))
    yield made
    for name in made:
        _docker(wharfd, "docker", "rmi", "-f", name)
    assert _docker(wharfd, "docker", "ps", "-aq").stdout == "", "a build left a container behind"
    assert _mounts_under(str(wharfd.root)) == before, "a build left a mount behind"
    assert _leftovers(wharfd) == [], "a build left its directory behind"


def _build(d: Daemon, ctx: Path, tag: str, dockerfile: str, *extra: str) -> str:
    (ctx / "Dockerfile").write_text(dockerfile)
    return _docker(d, "docker", "build", *extra, "-t", tag, str(ctx), check=True).stdout


def _run(d: Daemon, tag: str, script: str) -> str:
    return _docker(d, "docker", "run", "--rm", tag, "sh", "-c", script, check=True).stdout


HEREDOCS = """\
FROM busybox:latest
ENV WHO=world
RUN <<EOF
echo one > /one
echo two >> /one
EOF
RUN cat <<EOF > /expanded
hello $WHO
EOF
RUN cat <<'EOF' > /quoted
hello $WHO
EOF
RUN <<-EOF
\t\techo tabbed > /tabbed
\tEOF
RUN cat <<-EOF > /tabs
\ta
\t\tb
\tEOF
RUN cat <<A > /a && cat <<B > /b
first
A
second
B
RUN sh <<EOF
echo "from stdin" > /stdin
EOF
RUN <<EOF
#!/bin/sh
echo "script $0" > /script
EOF
"""


def test_heredocs(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    images.append("heredocs:1")
    _build(wharfd, tmp_path, "heredocs:1", HEREDOCS)
    out = _run(
        wharfd,
        "heredocs:1",
        "cat /one /expanded /quoted /tabbed /tabs /a /b /stdin /script; ls /dev/pipes 2>&1; true",
    )
    assert out.splitlines() == [
        "one", "two", "hello world", "hello $WHO", "tabbed", "a", "b", "first", "second", "from stdin",
        "script /dev/pipes/EOF", "ls: /dev/pipes: No such file or directory",
    ]  # fmt: skip
    status, body = wharfd.request("GET", "/images/heredocs:1/history")  # the CLI shows tabs as spaces
    assert status == 200
    history = [h["CreatedBy"] for h in body]
    assert history[0] == "/bin/sh -c /dev/pipes/EOF"
    assert history[1] == '/bin/sh -c sh <<EOF\necho "from stdin" > /stdin\nEOF'
    assert history[3] == "/bin/sh -c cat <<-EOF > /tabs\n\ta\n\t\tb\nEOF"  # the shell strips them
    assert history[4] == "/bin/sh -c echo tabbed > /tabbed\n"  # the tabs stripped by the builder
    assert history[6] == "/bin/sh -c cat <<EOF > /expanded\nhello $WHO\nEOF"
    assert history[7] == "/bin/sh -c echo one > /one\necho two >> /one\n"


def test_a_failing_heredoc_says_its_command(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN <<EOF\necho about to fail\nexit 4\nEOF\n")
    r = _docker(wharfd, "docker", "build", str(tmp_path))
    assert r.returncode == 4, r.stdout + r.stderr
    assert "about to fail" in r.stdout
    assert "The command '/bin/sh -c echo about to fail\nexit 4\n' returned a non-zero code: 4" in r.stderr


def test_a_cache_mount_is_kept_between_builds_and_never_in_the_image(
    wharfd: Daemon, tmp_path: Path, images: list[str]
) -> None:
    images += ["cache:1", "cache:2"]
    first = (
        "FROM busybox:latest\nRUN --mount=type=cache,target=/cache echo first > /cache/x && touch /made\n"
    )
    _build(wharfd, tmp_path, "cache:1", first)
    second = (
        "FROM busybox:latest\n"
        "RUN --mount=type=cache,target=/cache cat /cache/x > /seen && echo again >> /cache/x\n"
        "RUN --mount=type=cache,target=/cache,id=other,uid=123,gid=45,mode=0710"
        " stat -c '%u %g %a' /cache > /st\n"
    )
    _build(wharfd, tmp_path, "cache:2", second)
    assert (
        _run(wharfd, "cache:1", "ls /made; ls -A /cache 2>&1; true")
        == "/made\nls: /cache: No such file or directory\n"
    )
    assert (
        _run(wharfd, "cache:2", "cat /seen /st; [ -e /cache ] || echo no-cache-dir")
        == "first\n123 45 710\nno-cache-dir\n"
    )
    cache_root = Path(wharfd.data_root) / "builder/cache-mounts"
    found = sorted(p.read_bytes() for p in cache_root.glob("*/*/data/x"))
    assert found == [b"first\nagain\n"]
    # --no-cache runs the step again: the cache has what the last build left
    _build(wharfd, tmp_path, "cache:2", second, "--no-cache")
    assert _run(wharfd, "cache:2", "cat /seen") == "first\nagain\n"


def test_a_locked_cache_is_used_by_one_build_at_a_time(
    wharfd: Daemon, tmp_path: Path, images: list[str]
) -> None:
    step = (
        "RUN --mount=type=cache,target=/c,id=turns,sharing={}"
        " if [ -e /c/busy ]; then echo overlap >> /c/log; fi;"
        " touch /c/busy; sleep 1; rm /c/busy; echo {} >> /c/log\n"
    )
    env = dict(wharfd.env(), DOCKER_BUILDKIT="0")
    procs = []
    for i in range(3):
        ctx = tmp_path / str(i)
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM busybox:latest\n" + step.format("locked", i))
        procs.append(subprocess.Popen(["docker", "build", "-q", str(ctx)], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))  # fmt: skip
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out
        images.append(out.strip().splitlines()[-1])
    logs = list((Path(wharfd.data_root) / "builder/cache-mounts").glob("*/*/data/log"))
    assert len(logs) == 1 and sorted(logs[0].read_text().split()) == ["0", "1", "2"]


def test_binds_of_the_context_and_of_a_stage(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    (tmp_path / "data.txt").write_text("from the context\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub/inner").write_text("inner\n")
    images.append("binds:1")
    _build(
        wharfd, tmp_path, "binds:1",
        "FROM busybox:latest AS a\nRUN echo from-a > /f && mkdir /seed && echo seeded > /seed/s\n"
        "FROM busybox:latest\nWORKDIR /work\n"
        "RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt cat /mnt/data.txt > /copied\n"
        "RUN --mount=target=ctx ls ctx > /listing"
        " && (touch ctx/new 2>/dev/null && echo rw || echo ro) > /ro\n"
        "RUN --mount=type=bind,source=sub,target=/s,rw echo scribble > /s/inner && cat /s/inner > /rw\n"
        "RUN --mount=type=bind,source=sub,target=/s cat /s/inner > /after\n"
        "RUN --mount=type=bind,from=a,target=/m cat /m/f > /got\n"
        "RUN --mount=type=cache,from=a,source=/seed,target=/c cat /c/s > /cached\n",
    )  # fmt: skip
    script = "cat /copied /listing /ro /rw /after /got /cached; ls -A /work; ls /mnt /s /m /c 2>&1; true"
    out = _run(wharfd, "binds:1", script)
    assert out.splitlines() == [
        "from the context", "Dockerfile", "data.txt", "sub", "ro", "scribble", "inner", "from-a", "seeded",
        "ls: /mnt: No such file or directory", "ls: /s: No such file or directory",
        "ls: /m: No such file or directory", "ls: /c: No such file or directory",
    ]  # fmt: skip


def test_a_missing_bind_source_fails_the_build(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN --mount=source=nope,target=/n cat /n\n")
    r = _docker(wharfd, "docker", "build", str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    assert '"/nope": not found' in r.stderr


def test_a_tmpfs_mount(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    images.append("tmpfs:1")
    _build(
        wharfd, tmp_path, "tmpfs:1",
        "FROM busybox:latest\nRUN --mount=type=tmpfs,target=/scratch,size=1m"
        " grep ' /scratch ' /proc/mounts > /line && echo x > /scratch/f && df -k /scratch | tail -1 > /df\n",
    )  # fmt: skip
    out = _run(wharfd, "tmpfs:1", "cat /line; awk '{print $2}' /df; [ -e /scratch ] || echo gone")
    line, size, gone = out.splitlines()
    assert line.startswith("tmpfs /scratch tmpfs rw,nosuid") and "noexec" not in line
    assert size == "1024" and gone == "gone"


def test_network_none_and_host(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    images.append("net:1")
    _build(
        wharfd, tmp_path, "net:1",
        "FROM busybox:latest\nRUN --network=none cat /proc/net/dev > /none\n"
        "RUN --network=host cat /proc/net/dev > /host\nRUN cat /proc/net/dev > /default\n",
    )  # fmt: skip

    def interfaces(name: str) -> list[str]:
        out = _run(wharfd, "net:1", f"cat /{name}").splitlines()[2:]
        return sorted(line.split(":")[0].strip() for line in out)

    assert interfaces("none") == ["lo"]
    assert "eth0" in interfaces("default")
    host = interfaces("host")
    assert "lo" in host and len(host) > 1


def test_an_unknown_network_is_refused(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN --network=bridge true\n")
    r = _docker(wharfd, "docker", "build", str(tmp_path))
    assert r.returncode == 1
    assert 'dockerfile parse error on line 2: invalid network mode "bridge"' in r.stderr


def test_secrets_and_ssh_the_classic_api_cannot_give(
    wharfd: Daemon, tmp_path: Path, images: list[str]
) -> None:
    images.append("secret:1")
    _build(
        wharfd, tmp_path, "secret:1",
        "FROM busybox:latest\nRUN --mount=type=secret,id=tok (cat /run/secrets/tok || echo none) > /res\n"
        "RUN --mount=type=ssh ls /run/buildkit 2>/dev/null; echo ok > /ssh\n",
    )  # fmt: skip
    assert _run(wharfd, "secret:1", "cat /res /ssh") == "none\nok\n"
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox:latest\nRUN --mount=type=secret,id=tok,required=true cat /run/secrets/tok\n"
    )
    r = _docker(wharfd, "docker", "build", str(tmp_path))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "secret tok: not found" in r.stderr
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN --mount=type=ssh,required=true true\n")
    r = _docker(wharfd, "docker", "build", str(tmp_path))
    assert r.returncode == 1 and 'no SSH key "default" forwarded from the client' in r.stderr


def test_a_failed_run_with_mounts_leaves_nothing(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    (tmp_path / "f").write_text("f\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox:latest AS a\nRUN true\nFROM busybox:latest\n"
        "RUN --mount=type=cache,target=/c --mount=target=/ctx,rw --mount=from=a,target=/a"
        " --mount=type=tmpfs,target=/t <<EOF\n#!/bin/sh\nexit 7\nEOF\n"
    )
    r = _docker(wharfd, "docker", "build", str(tmp_path))
    assert r.returncode == 7, r.stdout + r.stderr
    assert "The command '/bin/sh -c /dev/pipes/EOF' returned a non-zero code: 7" in r.stderr
