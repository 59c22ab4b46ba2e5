"""POST /build through real clients: Debian's docker CLI 20.10 and the CLI on PATH, both with
the classic builder (``DOCKER_BUILDKIT=0``), against wharfd. The built image runs and shows its
files and config; a failed step, a bad Dockerfile and a context with ``../`` names fail with
dockerd's words and leave no container behind. The CLI exits 1, or with a failed RUN's own code
(dockerd's errorDetail carries it, and the classic builder's CLI exits with it)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.daemon import Daemon

CLIENTS = ["/usr/bin/docker", "docker"]

DOCKERFILE = """\
FROM busybox:latest
ARG GREETING=hello
ENV APP=/app NAME="two words"
LABEL org.test=yes
WORKDIR $APP
COPY hello.txt .
COPY dir/ /data/
ADD files.tar.gz /unpacked/
RUN echo "$GREETING from RUN" && echo built > /app/built.txt
USER 1000
EXPOSE 8080
CMD ["cat", "/app/hello.txt"]
"""


def _docker(d: Daemon, client: str, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(d.env(), DOCKER_BUILDKIT="0")
    r = subprocess.run([client, *args], env=env, capture_output=True, text=True, timeout=120)
    if check and r.returncode:
        raise AssertionError(f"{client} {' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}")
    return r


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "hello.txt").write_text("hi there\n")
    (tmp_path / "dir/sub").mkdir(parents=True)
    (tmp_path / "dir/a").write_text("a\n")
    (tmp_path / "dir/sub/b").write_text("b\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src/x.txt").write_text("x\n")
    subprocess.run(
        ["tar", "-czf", str(tmp_path / "files.tar.gz"), "-C", str(tmp_path / "src"), "x.txt"], check=True
    )
    (tmp_path / ".dockerignore").write_text("src\n")
    return tmp_path


@pytest.fixture
def images(wharfd: Daemon) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for name in made:
        _docker(wharfd, "docker", "rmi", "-f", name)
    assert _docker(wharfd, "docker", "ps", "-aq").stdout == "", "a build left a container behind"


@pytest.mark.parametrize("client", CLIENTS)
def test_a_build_runs_and_its_image_has_the_files_and_config(
    wharfd: Daemon, ctx: Path, images: list[str], client: str
) -> None:
    tag = f"built-{Path(client).name}:1"
    images.append(tag)
    args = ["build", "--no-cache", "-t", tag, "--build-arg", "GREETING=bonjour", str(ctx)]
    r = _docker(wharfd, client, *args, check=True)  # the other client's build would be all hits
    out = r.stdout
    assert "Step 1/12 : FROM busybox:latest" in out and "Step 12/12 : CMD" in out
    assert "bonjour from RUN" in out and "Removing intermediate container" in out
    assert f"Successfully tagged {tag}" in out
    r = _docker(wharfd, client, "run", "--rm", tag, check=True)
    assert r.stdout == "hi there\n"
    script = "id -u; pwd; cat built.txt; ls /data /data/sub /unpacked; echo $NAME"
    r = _docker(wharfd, client, "run", "--rm", tag, "sh", "-c", script, check=True)
    assert r.stdout.split("\n") == [
        "1000", "/app", "built", "/data:", "a", "sub", "", "/data/sub:", "b", "", "/unpacked:", "x.txt",
        "two words", "",
    ]  # fmt: skip
    cfg = json.loads(_docker(wharfd, client, "inspect", "-f", "{{json .Config}}", tag, check=True).stdout)
    assert cfg["User"] == "1000" and cfg["WorkingDir"] == "/app"
    assert cfg["Cmd"] == ["cat", "/app/hello.txt"] and cfg["ExposedPorts"] == {"8080/tcp": {}}
    assert "NAME=two words" in cfg["Env"] and "GREETING=bonjour" not in " ".join(cfg["Env"])
    assert cfg["Labels"] == {"org.test": "yes"}
    hist = _docker(wharfd, client, "history", "--no-trunc", "--format", "{{.CreatedBy}}", tag, check=True)
    lines = hist.stdout.splitlines()
    assert lines[0] == '/bin/sh -c #(nop)  CMD ["cat", "/app/hello.txt"]'
    assert (
        lines[3] == '|1 GREETING=bonjour /bin/sh -c echo "$GREETING from RUN" && echo built > /app/built.txt'
    )
    assert lines[5].startswith("/bin/sh -c #(nop) COPY dir:") and lines[5].endswith(" in /data/ ")
    assert lines[7] == "/bin/sh -c #(nop)  WORKDIR /app"


@pytest.mark.parametrize(
    ("dockerfile", "message", "code"),
    [
        (
            "FROM busybox:latest\nRUN echo partial; exit 3\n",
            "The command '/bin/sh -c echo partial; exit 3' returned a non-zero code: 3",
            3,
        ),
        ("FROM busybox:latest\nFOO bar\n", "dockerfile parse error on line 2: unknown instruction: FOO", 1),
        (
            "FROM busybox:latest\nCOPY missing.txt /\n",
            "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: "
            "file does not exist",
            1,
        ),
        (
            "FROM busybox:latest\nCOPY\n",
            "dockerfile parse error on line 2: COPY requires at least two arguments",
            1,
        ),
        (
            "FROM busybox:latest\nCOPY out /x\n",  # out -> /etc/passwd: resolved in the context
            "COPY failed: file not found in build context or excluded by .dockerignore: stat out: "
            "file does not exist",
            1,
        ),
    ],
    ids=["failing-run", "unknown-instruction", "missing-source", "syntax-error", "symlink-out"],
)
def test_a_failed_build_says_why_and_leaves_nothing(
    wharfd: Daemon, tmp_path: Path, images: list[str], dockerfile: str, message: str, code: int
) -> None:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "out").symlink_to("/etc/passwd")
    images.append("failed:1")
    r = _docker(wharfd, "/usr/bin/docker", "build", "-t", "failed:1", str(tmp_path))
    assert r.returncode == code, r.stdout + r.stderr
    assert message in r.stderr + r.stdout
    assert _docker(wharfd, "docker", "image", "inspect", "failed:1").returncode == 1


def test_a_context_with_names_out_of_it_is_refused(wharfd: Daemon) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, body in (("Dockerfile", b"FROM busybox:latest\n"), ("../escape", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    sock = wharfd.host.removeprefix("unix://")
    r = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", "--unix-socket", sock, "-X", "POST", "-H",
         "Content-Type: application/x-tar", "--data-binary", "@-", "http://wharf/v1.41/build"],
        input=buf.getvalue(), capture_output=True, timeout=60,
    )  # fmt: skip
    body, _, status = r.stdout.decode().rpartition("\n")
    assert status == "400"
    assert json.loads(body)["message"] == "'../escape' is outside of '/'"


def test_an_arg_before_from_reaches_a_stage_that_declares_it(
    wharfd: Daemon, tmp_path: Path, images: list[str]
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE=busybox:latest\nARG V=meta\nARG UNSEEN=meta\nFROM $BASE\nARG V\n"
        'RUN echo "v=$V unseen=$UNSEEN" > /v\nCMD ["cat", "/v"]\n'
    )
    images.append("meta-arg:1")
    _docker(wharfd, "docker", "build", "-t", "meta-arg:1", str(tmp_path), check=True)
    assert _docker(wharfd, "docker", "run", "--rm", "meta-arg:1", check=True).stdout == "v=meta unseen=\n"
    _docker(
        wharfd, "docker", "build", "-t", "meta-arg:1", "--build-arg", "V=given", str(tmp_path), check=True
    )
    assert _docker(wharfd, "docker", "run", "--rm", "meta-arg:1", check=True).stdout == "v=given unseen=\n"


def test_copy_chown_by_name_and_by_number(wharfd: Daemon, tmp_path: Path, images: list[str]) -> None:
    (tmp_path / "f").write_text("f\n")
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox:latest\nCOPY --chown=nobody f /by-user\nCOPY --chown=nobody:tty f /by-both\n"
        "COPY --chown=123 f /by-uid\nCOPY --chmod=600 f /by-mode\n"
    )
    images.append("chowned:1")
    _docker(wharfd, "docker", "build", "-t", "chowned:1", str(tmp_path), check=True)
    r = _docker(wharfd, "docker", "run", "--rm", "chowned:1", "stat", "-c", "%n %u:%g %a",
                "/by-user", "/by-both", "/by-uid", "/by-mode", check=True)  # fmt: skip
    assert r.stdout.splitlines() == [
        "/by-user 65534:65534 644", "/by-both 65534:5 644", "/by-uid 123:123 644", "/by-mode 0:0 600",
    ]  # fmt: skip


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 serving ``tmp_path/www`` (stopped after the test)."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_a_remote_context_is_a_dockerfile_or_an_archive_the_daemon_fetches(
    wharfd: Daemon, served: tuple[str, Path], images: list[str]
) -> None:
    url, www = served
    (www / "Dockerfile").write_text('FROM busybox:latest\nCMD ["echo", "remote dockerfile"]\n')
    src = www / "src"
    src.mkdir()
    (src / "Dockerfile").write_text('FROM busybox:latest\nCOPY msg /msg\nCMD ["cat", "/msg"]\n')
    (src / "msg").write_text("from a remote tar\n")
    subprocess.run(["tar", "-czf", str(www / "ctx.tar.gz"), "-C", str(src), "."], check=True)
    images += ["remote-df:1", "remote-tar:1"]
    _docker(wharfd, "docker", "build", "-t", "remote-df:1", f"{url}/Dockerfile", check=True)
    assert _docker(wharfd, "docker", "run", "--rm", "remote-df:1").stdout == "remote dockerfile\n"
    _docker(wharfd, "/usr/bin/docker", "build", "-t", "remote-tar:1", f"{url}/ctx.tar.gz", check=True)
    assert _docker(wharfd, "docker", "run", "--rm", "remote-tar:1").stdout == "from a remote tar\n"
    missing = _docker(wharfd, "/usr/bin/docker", "build", f"{url}/nope.tar")
    assert missing.returncode == 1 and "404" in missing.stderr, missing.stderr
    from tests.integration.engine.conftest import WHARF

    images.append("remote-wharf:1")
    r = subprocess.run([WHARF, "build", "-q", "-t", "remote-wharf:1", f"{url}/ctx.tar.gz"],
                       env=wharfd.env(), capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0 and r.stdout.startswith("sha256:"), r.stderr
    assert _docker(wharfd, "docker", "run", "--rm", "remote-wharf:1").stdout == "from a remote tar\n"


@pytest.mark.parametrize("client", CLIENTS)
def test_a_dockerfile_on_stdin_with_a_context_dir(
    wharfd: Daemon, tmp_path: Path, images: list[str], client: str
) -> None:
    """``-f -``: the CLI appends the Dockerfile to the context's tar without padding (Go's
    archive/tar reads that as whole, and so does wharfd)."""
    (tmp_path / "f").write_text("context file\n")
    tag = f"stdin-df-{Path(client).name}:1"
    images.append(tag)
    env = dict(wharfd.env(), DOCKER_BUILDKIT="0")
    r = subprocess.run(
        [client, "build", "-t", tag, "-f", "-", str(tmp_path)],
        env=env, input='FROM busybox:latest\nCOPY f /f\nCMD ["cat", "/f"]\n',
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert _docker(wharfd, "docker", "run", "--rm", tag).stdout == "context file\n"
