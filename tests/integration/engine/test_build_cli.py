"""``wharf build`` against wharfd: a directory context filtered by its .dockerignore (exceptions
included, symlinks sent as symlinks), a Dockerfile from stdin or from outside the context, a tar
or a Dockerfile as the context on stdin, ``--iidfile``, ``-q``, ``--build-arg`` from the
environment, the terminal display, and the failures: a failed RUN (the CLI exits with its code,
the daemon's words on stderr), a Dockerfile the daemon refuses, contexts and flags refused before
anything is sent. Only busybox:latest, which the test daemon has, is built from."""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.daemon import Daemon
from tests.integration.engine.conftest import CLI, WHARF
from tests.ptys import end, exit_code, expect, spawn

pytestmark = pytest.mark.root

ID = re.compile(r"sha256:[0-9a-f]{64}")


@pytest.fixture
def wharf(wharfd: Daemon) -> CLI:
    return CLI(wharfd, "wharf")


@pytest.fixture
def tags(wharf: CLI) -> Iterator[list[str]]:
    """The images a test builds, removed after it; no build may leave a container."""
    made: list[str] = []
    yield made
    for tag in made:
        wharf("rmi", "-f", tag, check=False)
    assert wharf("ps", "-aq").stdout == "", "a build left a container behind"


def _build(
    wharf: CLI, *args: str, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([WHARF, "build", *args], env={**wharf.d.env(), **(env or {})}, capture_output=True,
                          text=True, timeout=120, **kw)  # fmt: skip


def _ls(wharf: CLI, tag: str, path: str = "/c") -> list[str]:
    return wharf("run", "--rm", tag, "ls", "-A", path).stdout.split()


def test_a_directory_with_a_dockerignore_exception(wharf: CLI, tags: list[str], tmp_path: Path) -> None:
    for name in ("a.txt", "keep.txt", "other", "sub/s.txt", "logs/x.log"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(name + "\n")
    os.symlink("/etc/hostname-of-the-build-host", tmp_path / "link")
    (tmp_path / ".dockerignore").write_text("*.txt\n!keep.txt\nlogs\nDockerfile\n")
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nCOPY . /c/\nRUN ls -A /c\n")
    tags.append("cli-ignore:1")
    r = _build(wharf, "-t", "cli-ignore:1", str(tmp_path))
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert (
        out.startswith("Sending build context to Docker daemon ")
        and "kB\n\nStep 1/3 : FROM busybox:latest\n" in out  # "\r\r\n", read as text
    )
    assert "Step 3/3 : RUN ls -A /c\n" in out and "Removing intermediate container" in out
    assert re.search(r"Successfully built [0-9a-f]{12}\nSuccessfully tagged cli-ignore:1\n$", out)
    # the Dockerfile went (the daemon read it) and was dropped, as the .dockerignore names it
    assert _ls(wharf, "cli-ignore:1") == [".dockerignore", "keep.txt", "link", "other", "sub"]
    assert _ls(wharf, "cli-ignore:1", "/c/sub") == ["s.txt"]
    r = wharf("run", "--rm", "cli-ignore:1", "readlink", "/c/link")
    assert r.stdout == "/etc/hostname-of-the-build-host\n"


def test_a_dockerfile_from_stdin_or_from_outside_the_context(
    wharf: CLI, tags: list[str], tmp_path: Path
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("from the context\n")
    dockerfile = 'FROM busybox:latest\nCOPY . /c/\nCMD ["cat", "/c/f"]\n'
    tags += ["cli-stdin-df:1", "cli-outside:1"]
    r = _build(wharf, "-t", "cli-stdin-df:1", "-f", "-", str(ctx), input=dockerfile)
    assert r.returncode == 0, r.stderr
    assert wharf("run", "--rm", "cli-stdin-df:1").stdout == "from the context\n"
    assert _ls(wharf, "cli-stdin-df:1") == ["f"]  # nor the Dockerfile's random name, nor a .dockerignore
    (tmp_path / "Dockerfile.elsewhere").write_text(dockerfile)
    r = _build(wharf, "-t", "cli-outside:1", "-f", str(tmp_path / "Dockerfile.elsewhere"), str(ctx))
    assert r.returncode == 0, r.stderr
    assert _ls(wharf, "cli-outside:1") == ["f"]


def test_a_context_on_stdin_a_tar_or_a_dockerfile(wharf: CLI, tags: list[str], tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in (("build/Dockerfile", b'FROM busybox:latest\nCOPY f /f\nCMD ["cat", "/f"]\n'),
                           ("f", b"from the tar\n")):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    tags += ["cli-stdin-tar:1", "cli-stdin-tar:2", "cli-stdin-dockerfile:1"]
    for tag, body in (
        ("cli-stdin-tar:1", buf.getvalue()),
        ("cli-stdin-tar:2", gzip.compress(buf.getvalue())),
    ):
        r = subprocess.run([WHARF, "build", "-t", tag, "-f", "build/Dockerfile", "-"], env=wharf.d.env(),
                           input=body, capture_output=True, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert wharf("run", "--rm", tag).stdout == "from the tar\n"
    r = _build(
        wharf, "-t", "cli-stdin-dockerfile:1", "-", input="FROM busybox:latest\nRUN echo alone > /alone\n"
    )
    assert r.returncode == 0, r.stderr
    assert wharf("run", "--rm", "cli-stdin-dockerfile:1", "cat", "/alone").stdout == "alone\n"


def test_quiet_and_iidfile_give_the_image_id(wharf: CLI, tags: list[str], tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN echo noisy\n")
    iidfile = tmp_path / "out" / "iid"
    iidfile.parent.mkdir()
    iidfile.write_text("stale")
    tags += ["cli-quiet:1", "cli-iid:1"]
    r = _build(wharf, "-q", "-t", "cli-quiet:1", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert ID.fullmatch(r.stdout.rstrip("\n")) and r.stdout.endswith("\n") and r.stderr == ""
    assert r.stdout.strip() == wharf("image", "inspect", "-f", "{{.Id}}", "cli-quiet:1").stdout.strip()
    r = _build(wharf, "--iidfile", str(iidfile), "-t", "cli-iid:1", str(tmp_path))
    assert r.returncode == 0 and "noisy" in r.stdout
    assert ID.fullmatch(iidfile.read_text())
    assert iidfile.read_text() == wharf("image", "inspect", "-f", "{{.Id}}", "cli-iid:1").stdout.strip()
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN false\n")
    r = _build(wharf, "--iidfile", str(iidfile), str(tmp_path))
    assert r.returncode == 1 and not iidfile.exists(), "a failed build leaves no stale ID"


def test_build_args_from_flags_and_the_environment(wharf: CLI, tags: list[str], tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox:latest\nARG FROM_ENV\nARG UNSET=default\nARG GIVEN\n"
        'RUN echo "$FROM_ENV $UNSET $GIVEN"\n'
    )
    tags.append("cli-args:1")
    r = _build(wharf, "-t", "cli-args:1", "--build-arg", "FROM_ENV", "--build-arg", "UNSET", "--build-arg",
               "GIVEN=flag", "--label", "org.test=yes", str(tmp_path), env={"FROM_ENV": "env"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "\nenv default flag\n" in r.stdout
    labels = wharf("image", "inspect", "-f", "{{json .Config.Labels}}", "cli-args:1").stdout
    assert labels.strip() == '{"org.test":"yes"}'


def test_a_failed_run_exits_with_its_code_and_says_why(wharf: CLI, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN echo partial; exit 3\n")
    r = _build(wharf, str(tmp_path))
    assert r.returncode == 3
    assert re.search(
        r"Step 2/2 : RUN echo partial; exit 3\n ---> Running in [0-9a-f]{12}\npartial\n$", r.stdout
    )
    assert r.stderr == "The command '/bin/sh -c echo partial; exit 3' returned a non-zero code: 3\n"
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN false\n")
    r = _build(wharf, "-q", str(tmp_path))
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith("Sending build context to Docker daemon ")
    assert r.stderr.endswith("The command '/bin/sh -c false' returned a non-zero code: 1\n")
    r = _build(wharf, "--progress", "tty", str(tmp_path))
    assert r.returncode == 1
    assert " => ERROR [2/2] RUN false" in r.stdout and "------\n > [2/2] RUN false:\n------\n" in r.stdout
    assert r.stderr == "The command '/bin/sh -c false' returned a non-zero code: 1\n"
    assert wharf("ps", "-aq").stdout == ""


def test_a_dockerfile_the_daemon_refuses(wharf: CLI, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nFOO bar\n")
    r = _build(wharf, "--progress=plain", str(tmp_path))
    assert r.returncode == 1
    assert (
        r.stderr
        == "Error response from daemon: dockerfile parse error on line 2: unknown instruction: FOO\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("{tmp}/none",), 1, 'unable to prepare context: path "{tmp}/none" not found'),
        (("{tmp}/file",), 1, "unable to prepare context: context must be a directory: {tmp}/file"),
        (
            ("-f", "{tmp}/none", "{tmp}"),
            1,
            "unable to evaluate symlinks in Dockerfile path: lstat {tmp}/none",
        ),
        (("-f", "-", "-"), 1, "can't use stdin for both build context and dockerfile"),
        (("--no-such-flag", "{tmp}"), 125, "unknown flag: --no-such-flag"),
        (("--add-host", "bad", "{tmp}"), 125, 'bad format for add-host: "bad"'),
        (("-m", "lots", "{tmp}"), 125, "invalid size: 'lots'"),
        ((), 125, '"wharf build" requires exactly 1 argument.'),
    ],
)
def test_refused_before_anything_is_sent(
    wharf: CLI, tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    (tmp_path / "file").write_text("")
    r = _build(wharf, *(a.format(tmp=tmp_path) for a in args), input="")
    assert r.returncode == code and message.format(tmp=tmp_path) in r.stderr, r.stderr


def test_the_terminal_display_and_the_aliases(wharf: CLI, tags: list[str], tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox:latest\nRUN echo one; sleep 0.3; echo two\n")
    tags += ["cli-tty:1", "cli-alias:1", "cli-alias:2"]
    pid, fd = spawn([WHARF, "build", "-t", "cli-tty:1", str(tmp_path)], {**wharf.d.env(), "COLUMNS": "70"})
    try:
        shown = expect(fd, b"naming to cli-tty:1", 60).decode()
        assert exit_code(pid) == 0
    finally:
        end(pid, fd)
    assert "\x1b[2K[+] Building" in shown and "FINISHED" in shown and "\x1b[" in shown
    assert re.search(r" => \[2/2\] RUN echo one; sleep 0\.3; echo two +\d+\.\ds\r\n", shown)
    assert " => => # one" in shown, "the running step's output under it"
    assert "Step 1/2" not in shown and "Sending build context" not in shown
    for command, tag in (("image", "cli-alias:1"), ("builder", "cli-alias:2")):
        r = wharf(command, "build", "-q", "-t", tag, str(tmp_path))
        assert ID.fullmatch(r.stdout.strip())
        assert wharf("image", "inspect", "-f", "{{.Id}}", tag).stdout == r.stdout
