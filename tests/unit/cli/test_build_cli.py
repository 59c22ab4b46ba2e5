"""``wharf build`` without a daemon: its flags and their query, the context it sends (walked under
the .dockerignore patterns, the Dockerfile always in it, stdin told apart as a tar or a
Dockerfile), the request it streams, and the progress read off recorded classic-builder streams
(the state of each step, the terminal's frames)."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wharf.cli import build
from wharf.cli.buildprogress import (
    BuildState,
    Plain,
    Quiet,
    Tty,
    failure_report,
    fit,
    make_view,
    messages,
    render,
    visible,
)
from wharf.cli.main import Exit, UsageError
from wharf.client import APIError, Client

# ---------------------------------------------------------------- flags and query


def _opts(*args: str, env: dict[str, str] | None = None) -> Any:
    return build.parse_options("wharf build", list(args), env or {})


def test_flags_take_dockers_names_and_go_booleans() -> None:
    o = _opts("-t", "a:1", "--tag", "b", "-f", "Dockerfile.x", "--no-cache", "--pull=true", "--rm=false",
              "-q", "--force-rm", "--cpu-shares", "5", "-c", "7", ".")  # fmt: skip
    assert o.tag == ["a:1", "b"] and o.file == "Dockerfile.x" and o.context == "."
    assert o.no_cache and o.pull and o.quiet and o.force_rm and not o.rm
    assert o.cpu_shares == 7
    assert _opts(".").rm and not _opts("--no-cache=false", ".").no_cache
    with pytest.raises(UsageError, match='invalid argument "maybe" for "--rm" flag'):
        _opts("--rm=maybe", ".")


def test_progress_mode_and_its_default_from_the_environment() -> None:
    assert _opts(".").progress == "auto"
    assert _opts(".", env={"BUILDKIT_PROGRESS": "plain"}).progress == "plain"
    assert _opts("--progress", "tty", ".").progress == "tty"
    with pytest.raises(UsageError, match='invalid argument "fancy" for "--progress" flag'):
        _opts("--progress=fancy", ".")


@pytest.mark.parametrize("args", [(), (".", "..")])
def test_exactly_one_context(args: tuple[str, ...]) -> None:
    with pytest.raises(UsageError, match='"wharf build" requires exactly 1 argument.'):
        _opts(*args)


def test_build_args_bare_names_come_from_the_environment() -> None:
    env = {"FROM_ENV": "yes", "EMPTY": ""}
    values = ["A=1", "B=", "C=x=y", "FROM_ENV", "EMPTY", "UNSET"]
    assert build.build_args(values, env) == {"A": "1", "B": "", "C": "x=y", "FROM_ENV": "yes", "EMPTY": ""}
    with pytest.raises(UsageError, match="invalid environment variable: =x"):
        build.build_args(["=x"], env)


def test_labels_need_an_equals_sign() -> None:
    assert build.labels(["a=1", "b="]) == {"a": "1", "b": ""}
    with pytest.raises(UsageError, match='"--label" flag: bad attribute format: a'):
        build.labels(["a"])


@pytest.mark.parametrize("value", ["db:10.0.0.2", "v6:::1", "gw:host-gateway", "b:[fe80::1]"])
def test_add_host_accepts(value: str) -> None:
    assert build.extra_host(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [("bad", 'bad format for add-host: "bad"'), (":1.2.3.4", "bad format for add-host"),
     ("db:nope", 'invalid IP address in add-host: "nope"')],
)  # fmt: skip
def test_add_host_refuses(value: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        build.extra_host(value)


def test_the_query_has_what_the_flags_say() -> None:
    o = _opts("-t", "a:1", "-t", "b:2", "--build-arg", "X=1", "--build-arg", "E", "--label", "l=v",
              "--target", "t", "--no-cache", "--pull", "--network", "host", "--add-host", "h:1.2.3.4",
              "--cache-from", "c:1", "--shm-size", "64m", "-m", "512m", "--memory-swap", "-1",
              "--cpuset-cpus", "0-1", "--cpu-period", "100000", "--cpu-quota", "50000",
              "--platform", "Linux/AMD64", ".")  # fmt: skip
    assert build.build_query(o, {"E": "env"}) == {
        "t": ["a:1", "b:2"], "buildargs": {"X": "1", "E": "env"}, "labels": {"l": "v"}, "target": "t",
        "nocache": "1", "pull": "1", "rm": "1", "networkmode": "host", "extrahosts": ["h:1.2.3.4"],
        "cachefrom": '["c:1"]', "shmsize": 64 << 20, "memory": 512 << 20, "memswap": -1,
        "cpusetcpus": "0-1", "cpuperiod": 100000, "cpuquota": 50000, "platform": "linux/amd64",
    }  # fmt: skip
    assert build.build_query(_opts("--rm=false", "-q", "--force-rm", "."), {}) == {
        "rm": "0", "q": "1", "forcerm": "1"
    }  # fmt: skip
    with pytest.raises(UsageError, match="invalid size: 'lots'"):
        build.build_query(_opts("-m", "lots", "."), {})


# ---------------------------------------------------------------- the context


def _untar(chunks: Iterator[bytes]) -> dict[str, tarfile.TarInfo | bytes]:
    """name -> its TarInfo (and name + "#" -> a regular file's content)."""
    data = b"".join(chunks)
    assert len(data) % 512 == 0
    out: dict[str, Any] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        for info in tar:
            out[info.name] = info
            if info.isreg():
                f = tar.extractfile(info)
                assert f is not None
                out[info.name + "#"] = f.read()
    return out


def _names(entries: dict[str, Any]) -> list[str]:
    return sorted(n for n in entries if not n.endswith("#"))


def _ctx(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "ctx"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _prepare(context: Path | str, dockerfile: str = "", stdin: bytes = b"") -> tuple[dict[str, Any], str]:
    chunks, name = build.prepare_context(str(context), dockerfile, io.BytesIO(stdin))
    return _untar(chunks), name


def test_dockerignore_exceptions_and_what_is_always_sent(tmp_path: Path) -> None:
    ignored = "*.txt\n!keep.txt\nlogs\nDockerfile\n.dockerignore\n"
    root = _ctx(tmp_path, {"Dockerfile": "FROM x\n", "a.txt": "a", "keep.txt": "k", "other": "o",
                           "sub/s.txt": "s", "logs/x.log": "l", ".dockerignore": ignored})  # fmt: skip
    entries, name = _prepare(root)
    assert name == "Dockerfile"
    assert _names(entries) == [".dockerignore", "Dockerfile", "keep.txt", "other", "sub", "sub/s.txt"]
    assert entries["keep.txt#"] == b"k"


def test_a_dockerfile_in_an_excluded_directory_is_sent_with_its_parents(tmp_path: Path) -> None:
    root = _ctx(tmp_path, {"build/app/Dockerfile": "FROM x\n", "build/app/junk": "j", "src/a": "a",
                           ".dockerignore": "build\n"})  # fmt: skip
    entries, name = _prepare(root, str(root / "build/app/Dockerfile"))
    assert name == "build/app/Dockerfile"
    assert _names(entries) == [".dockerignore", "build", "build/app", "build/app/Dockerfile", "src", "src/a"]


def test_the_dockerfiles_own_ignore_file_wins(tmp_path: Path) -> None:
    root = _ctx(tmp_path, {"Dockerfile": "FROM x\n", "Dockerfile.dockerignore": "b\n", "a": "", "b": "",
                           ".dockerignore": "a\n"})  # fmt: skip
    entries, _ = _prepare(root, str(root / "Dockerfile"))
    assert _names(entries) == [".dockerignore", "Dockerfile", "Dockerfile.dockerignore", "a"]
    entries, _ = _prepare(root)  # no -f: the default Dockerfile's ignore file too
    assert "b" not in entries


def test_a_lowercase_dockerfile_is_the_fallback(tmp_path: Path) -> None:
    root = _ctx(tmp_path, {"dockerfile": "FROM x\n"})
    assert _prepare(root)[1] == "dockerfile"


def test_a_dockerfile_outside_the_context_goes_in_under_a_random_name(tmp_path: Path) -> None:
    root = _ctx(tmp_path, {"a": "a"})
    (tmp_path / "Dockerfile.out").write_text("FROM out\n")
    entries, name = _prepare(root, str(tmp_path / "Dockerfile.out"))
    assert re.fullmatch(r"\.dockerfile\.[0-9a-f]{20}", name)
    assert entries[name + "#"] == b"FROM out\n"
    assert entries[".dockerignore#"] == f".dockerignore\n{name}\n".encode()
    (root / ".dockerignore").write_text("x\n")
    entries, name = _prepare(root, str(tmp_path / "Dockerfile.out"))
    assert entries[".dockerignore#"] == f"x\n\n{name}\n".encode()
    assert _names(entries) == [name, ".dockerignore", "a"]


def test_a_relative_f_is_relative_to_the_working_directory(tmp_path: Path, monkeypatch: Any) -> None:
    _ctx(tmp_path, {"a": "a"})
    (tmp_path / "Dockerfile").write_text("FROM cwd\n")
    monkeypatch.chdir(tmp_path)
    entries, name = _prepare("ctx", "Dockerfile")
    assert name.startswith(".dockerfile.") and entries[name + "#"] == b"FROM cwd\n"


def test_dockerfile_from_stdin_with_a_directory(tmp_path: Path) -> None:
    root = _ctx(tmp_path, {"a": "a", "Dockerfile": "FROM in-context\n"})
    entries, name = _prepare(root, "-", b"FROM stdin\n")
    assert entries[name + "#"] == b"FROM stdin\n" and name.startswith(".dockerfile.")
    assert entries["Dockerfile#"] == b"FROM in-context\n"


def test_entries_are_as_docker_sends_them(tmp_path: Path) -> None:
    root = _ctx(tmp_path, {"Dockerfile": "FROM x\n", "run.sh": "#!/bin/sh\n", "d/f": "f"})
    os.chmod(root / "run.sh", 0o755)
    os.symlink("/etc/passwd", root / "link")
    os.symlink("d", root / "dirlink")
    os.link(root / "run.sh", root / "hard")
    os.mkfifo(root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(root / "sock"))
    try:
        entries, _ = _prepare(root)
    finally:
        sock.close()
    assert _names(entries) == ["Dockerfile", "d", "d/f", "dirlink", "fifo", "hard", "link", "run.sh"]
    link, dirlink, hard, run = entries["link"], entries["dirlink"], entries["hard"], entries["run.sh"]
    assert link.issym() and link.linkname == "/etc/passwd"
    assert dirlink.issym() and dirlink.linkname == "d"
    assert hard.isreg() and run.islnk() and run.linkname == "hard"  # the first name in the walk's order
    assert hard.mode == 0o755 and entries["d"].isdir() and entries["fifo"].isfifo()
    assert all(
        e.uid == 0 and e.gid == 0 and e.uname == ""
        for e in entries.values()
        if isinstance(e, tarfile.TarInfo)
    )
    assert hard.mtime == int(os.lstat(root / "hard").st_mtime)


def test_a_long_name_and_a_big_file_stream_through(tmp_path: Path) -> None:
    long = "d" * 120 + "/" + "n" * 150
    root = _ctx(tmp_path, {"Dockerfile": "FROM x\n", long: "long", "big": "z" * (3 << 20)})
    chunks, _ = build.prepare_context(str(root), "", io.BytesIO())
    sizes = [len(c) for c in chunks]
    assert max(sizes) <= 1 << 20  # read a MiB at a time, never whole
    entries, _ = _prepare(root)
    assert entries[long + "#"] == b"long" and len(entries["big#"]) == 3 << 20


def test_a_file_that_shrank_is_padded_to_its_announced_size(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"0123456789")
    data = b"".join(build._content(str(tmp_path / "f"), 20))
    assert data == b"0123456789" + b"\0" * 502


@pytest.mark.parametrize(
    ("files", "message"),
    [({}, "unable to evaluate symlinks in Dockerfile path: lstat {root}/Dockerfile: no such file"),
     ({"Dockerfile": "", ".dockerignore": "[z-a]\n"}, "error checking context: syntax error in pattern")],
)  # fmt: skip
def test_a_context_that_cannot_be_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], files: dict[str, str], message: str
) -> None:
    root = _ctx(tmp_path, files)
    root.mkdir(exist_ok=True)
    with pytest.raises(Exit) as e:
        _prepare(root)
    assert e.value.code == 1 and message.format(root=root) in capsys.readouterr().err


def test_context_paths_refused_with_dockers_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    cases = [
        (str(tmp_path / "none"), "", f'unable to prepare context: path "{tmp_path}/none" not found'),
        (
            str(tmp_path / "file"),
            "",
            f"unable to prepare context: context must be a directory: {tmp_path}/file",
        ),
        ("-", "-", "invalid argument: can't use stdin for both build context and dockerfile"),
    ]
    for context, dockerfile, message in cases:
        with pytest.raises(Exit):
            _prepare(context, dockerfile)
        assert message in capsys.readouterr().err


def _tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_stdin_is_a_tar_sent_as_it_is_or_a_dockerfile_alone() -> None:
    tar = _tar_of({"Dockerfile.x": b"FROM t\n"})
    for body in (tar, gzip.compress(tar)):
        chunks, name = build.prepare_context("-", "Dockerfile.x", io.BytesIO(body))
        assert b"".join(chunks) == body and name == "Dockerfile.x"
    for text in (b"FROM busybox\nRUN true\n", b"FROM x\n" * 200, b""):
        entries, name = _prepare("-", "ignored", text)
        assert name == "Dockerfile" and _names(entries) == ["Dockerfile"]
        assert entries["Dockerfile#"] == text


def test_is_archive_as_docker_tells() -> None:
    assert build.is_archive(_tar_of({"a": b""}))
    assert build.is_archive(b"\x1f\x8b\x08rest") and build.is_archive(b"\x28\xb5\x2f\xfd")
    assert not build.is_archive(b"FROM busybox\n" + b"\0" * 600)
    assert not build.is_archive(b"\0" * 1024) and not build.is_archive(b"")


# ---------------------------------------------------------------- the request


class _FakeDaemon:
    """One connection's server side over a socketpair: reads the request (or not) and answers."""

    def __init__(self, reply: bytes, read_body: bool = True) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.reply, self.read_body = reply, read_body
        self.head = b""
        self.body = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        f = self.theirs.makefile("rb")
        while (line := f.readline()) not in (b"\r\n", b""):
            self.head += line
        while self.read_body and (size := int(f.readline().strip(), 16)):
            self.body += f.read(size)
            f.readline()
        self.theirs.sendall(self.reply)
        f.close()
        self.theirs.close()


class _Client(Client):
    def __init__(self, server: _FakeDaemon) -> None:
        super().__init__("unix:///nowhere")
        self.server = server

    def connect(self, timeout: float | None = None) -> socket.socket:
        return self.server.ours


def test_the_context_goes_as_a_chunked_body_and_the_stream_comes_back() -> None:
    lines = b'{"stream": "Step 1/1 : FROM busybox\\n"}\r\n{"aux": {"ID": "sha256:ab"}}\r\n'
    server = _FakeDaemon(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + lines)
    seen: list[tuple[int, bool]] = []
    query = {"t": ["a:1", "b"], "buildargs": {"K": "v"}}
    resp = build.post_context(_Client(server), query, iter([b"x" * 70000, b"y" * 10]),
                              lambda n, done: seen.append((n, done)))  # fmt: skip
    assert [json.loads(m) for m in resp.lines() if m.strip()][1] == {"aux": {"ID": "sha256:ab"}}
    server.thread.join(5)
    request_line = server.head.split(b"\r\n")[0].decode()
    assert request_line == "POST /v1.47/build?t=a%3A1&t=b&buildargs=%7B%22K%22%3A%20%22v%22%7D HTTP/1.1"
    assert b"Transfer-Encoding: chunked" in server.head and b"Content-Type: application/x-tar" in server.head
    assert server.body == b"x" * 70000 + b"y" * 10
    assert seen[-1] == (70010, True) and all(not done for _, done in seen[:-1])


def test_an_answer_before_the_whole_context_was_read_is_the_error() -> None:
    body = b'{"message": "the build context is not a valid archive"}'
    reply = b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    server = _FakeDaemon(reply, read_body=False)
    chunks = (b"z" * (1 << 20) for _ in range(64))
    with pytest.raises(APIError, match="not a valid archive") as e:
        build.post_context(_Client(server), {}, chunks, lambda n, done: None)
    assert e.value.status == 400


# ---------------------------------------------------------------- progress


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _stream(*texts: str) -> list[dict[str, Any]]:
    return [{"stream": t} for t in texts]


SUCCESS = _stream(
    "Step 1/3 : FROM busybox:latest\n", " ---> b45b8b0d2e2f\n", "Step 2/3 : COPY . /c/\n",
    " ---> Using cache\n", " ---> 32a4a30f223f\n", "Step 3/3 : RUN ls /c && echo hi\n",
    " ---> Running in ccf2568efa09\n", "Dockerfile\n", "a.txt\nkeep.txt\n", "hi\n",
    "Removing intermediate container ccf2568efa09\n", " ---> 90e6bd0f0733\n",
) + [{"aux": {"ID": "sha256:90e6bd0f0733d66ad6314e41550f04d76efde56ca4970bb1c44580df26253b0d"}}] + _stream(
    "Successfully built 90e6bd0f0733\n", "Successfully tagged obs:3\n"
)  # fmt: skip

_FAILED = "The command '/bin/sh -c echo partial; exit 3' returned a non-zero code: 3"
FAILURE = _stream(
    "Step 1/2 : FROM busybox:latest\n", " ---> b45b8b0d2e2f\n", "Step 2/2 : RUN echo partial; exit 3\n",
    " ---> Running in 1309fd812681\n", "partial\n", "no newline",
) + [{"errorDetail": {"code": 3, "message": _FAILED}, "error": _FAILED}]  # fmt: skip


def _fed(msgs: list[dict[str, Any]], clock: _Clock, step: float = 0.5) -> BuildState:
    state = BuildState(clock)
    for msg in msgs:
        clock.now += step
        state.feed(msg)
    return state


def test_a_successful_stream_read_as_steps() -> None:
    clock = _Clock()
    state = _fed(SUCCESS, clock)
    state.finish()
    labels = [s.label for s in state.steps]
    assert labels == ["[1/3] FROM busybox:latest", "[2/3] COPY . /c/", "[3/3] RUN ls /c && echo hi"]
    assert [s.cached for s in state.steps] == [False, True, False]
    assert all(s.ended is not None and not s.failed for s in state.steps)
    assert state.steps[2].output == ["Dockerfile", "a.txt", "keep.txt", "hi"]
    assert state.steps[0].seconds(clock.now) == 0.5 and state.steps[1].seconds(clock.now) == 0.0
    assert state.image_id.startswith("sha256:90e6") and not state.error and not state.notes
    assert state.export is not None and state.export.details == [
        f"writing image {state.image_id}",
        "naming to obs:3",
    ]


def test_a_failed_stream_marks_the_step_and_keeps_its_output() -> None:
    state = _fed(FAILURE, _Clock())
    state.finish()
    failed = [s for s in state.steps if s.failed]
    assert [s.label for s in failed] == ["[2/2] RUN echo partial; exit 3"]
    assert state.code == 3 and state.error.startswith("The command '/bin/sh -c echo partial; exit 3'")
    assert failure_report(state) == ["------", " > [2/2] RUN echo partial; exit 3:", "partial", "no newline",
                                     "------"]  # fmt: skip
    plain = BuildState(_Clock())
    plain.feed({"error": "boom"})
    assert plain.error == "boom" and plain.code == 0 and failure_report(plain) == []


def test_lines_split_across_messages_and_what_a_terminal_would_show() -> None:
    state = _fed(_stream("Step 1/1 : RUN x\n", "par", "tial\nprogress 10%\rprogress 90%\r\nnext"), _Clock())
    step = state.steps[0]
    assert step.output == ["partial", "progress 90%"] and state.partial == "next"
    assert state.live_output(step) == ["partial", "progress 90%", "next"]
    assert visible("\x1b[31mred\x1b[0m\ta\x07") == "red     a"
    notes = _fed(
        _stream("before any step\n", "Step 1/1 : FROM x\n", " ---> abcdefabcdef\n", "[Warning] x\n"),
        _Clock(),
    )
    assert notes.notes == ["before any step", "[Warning] x"]


def test_status_messages_and_lines_that_are_not_json() -> None:
    class Resp:
        def lines(self) -> Iterator[bytes]:
            yield from (b'{"status": "Pulling", "id": "latest"}\r', b"", b"not json", b'{"stream": "s\\n"}')

    msgs = list(messages(Resp()))
    assert msgs == [{"status": "Pulling", "id": "latest"}, {"stream": "not json\n"}, {"stream": "s\n"}]
    state = _fed(msgs, _Clock())
    assert state.notes == ["latest: Pulling", "not json", "s"]


def test_render_a_frame_while_running_and_the_last_one() -> None:
    clock = _Clock()
    state = BuildState(clock)
    state.sending(2048, True)
    head = _stream("Step 1/3 : FROM busybox\n", " ---> b45b8b0d2e2f\n", "Step 2/3 : RUN " + "x" * 100 + "\n")
    for msg in head + _stream(*[f"out {i}\n" for i in range(9)]):
        clock.now += 0.25
        state.feed(msg)
    clock.now += 1
    lines = render(state, clock.now, 60)
    assert lines[0] == "[+] Building 4.0s (1/3)"
    assert lines[1] == fit(" => [internal] load build context", "0.0s", 60)
    assert lines[2] == " => => transferring context: 2.048kB"
    assert lines[3].startswith(" => [1/3] FROM busybox") and lines[3].endswith(" 0.2s")
    assert lines[4] == " => [2/3] RUN " + "x" * 40 + " 3.2s"
    assert lines[5:] == [f" => => # out {i}" for i in range(3, 9)]
    assert all(len(line) <= 59 for line in lines)
    state.finish()
    final = render(state, clock.now + 5, 60, final=True)
    assert final[0] == "[+] Building 4.0s (2/3) FINISHED" and len(final) == 5


def test_cached_and_failed_steps_are_marked() -> None:
    state = _fed(SUCCESS[:5] + FAILURE[2:], _Clock())
    state.finish()
    text = "\n".join(render(state, 0, 80, final=True))
    assert " => CACHED [2/3] COPY . /c/" in text and "0.0s" in text
    assert " => ERROR [2/2] RUN echo partial; exit 3" in text


def test_the_terminal_frames_go_up_over_the_last_one() -> None:
    clock = _Clock()
    out = io.StringIO()
    view = Tty(out, clock, size=lambda: (50, 8))
    view.sending(100, True)
    first = out.getvalue()
    assert first.startswith("\x1b[2K[+] Building") and first.count("\n") == 3
    view.show(SUCCESS[0])
    assert out.getvalue() == first, "a redraw at most every 0.1s"
    clock.now += 0.2
    view.show(SUCCESS[1])
    second = out.getvalue()[len(first) :]
    assert second.startswith("\x1b[3A\r\x1b[2K[+] Building") and second.count("\n") == 4
    for msg in _stream("Step 2/3 : RUN x\n", *[f"l{i}\n" for i in range(6)]):
        view.state.feed(msg)
    clock.now += 0.2
    view.tick()
    third = out.getvalue()[len(first) + len(second) :]
    assert third.count("\n") == 7, "a frame holds what the screen does (8 lines: 7 and the cursor)"
    assert third.split("\n")[0].endswith("[+] Building 0.4s (1/3)")
    for msg in _stream(" ---> abcdefabcdef\n"):
        view.state.feed(msg)
    clock.now += 0.2
    view.tick()
    assert out.getvalue().endswith("\x1b[J"), "a shorter frame clears what the last one left below it"
    view.close()
    assert "FINISHED" in out.getvalue().rpartition("\x1b[")[0]


def test_the_terminal_view_follows_a_stream_and_reports_the_failure() -> None:
    class Resp:
        def lines(self) -> Iterator[bytes]:
            yield from (json.dumps(m).encode() for m in FAILURE)

    out = io.StringIO()
    view = Tty(out, size=lambda: (80, 24))
    view.follow(Resp())
    view.close()
    assert view.state.code == 3
    assert out.getvalue().endswith(
        "------\n > [2/2] RUN echo partial; exit 3:\npartial\nno newline\n------\n"
    )


def test_plain_output_is_the_stream_as_it_comes(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    view = Plain(out)
    view.sending(2048, False)
    view.sending(2048, True)
    for msg in SUCCESS:
        view.show(msg)
    expected = "".join(m.get("stream", "") for m in SUCCESS)
    assert out.getvalue() == "Sending build context to Docker daemon  2.048kB\r\r\n" + expected
    view = Plain(io.StringIO())
    view.sending(5120, True)
    assert view.out.getvalue() == "Sending build context to Docker daemon   5.12kB\r\r\n"  # type: ignore[attr-defined]
    for msg in FAILURE:
        view.show(msg)
    assert "returned a non-zero code" not in view.out.getvalue()  # type: ignore[attr-defined]


def test_quiet_prints_the_id_or_everything_on_failure(capsys: pytest.CaptureFixture[str]) -> None:
    view = Quiet()
    view.sending(2048, True)
    view.show({"aux": {"ID": "sha256:ab"}})
    view.show({"stream": "sha256:ab\n"})
    view.succeeded()
    assert capsys.readouterr().out == "sha256:ab\n"
    view = Quiet()
    view.sending(2048, True)
    for msg in FAILURE:
        view.show(msg)
    view.failed()
    err = capsys.readouterr().err
    assert err.startswith("Sending build context to Docker daemon  2.048kB\r\r\nStep 1/2 : FROM busybox")
    assert err.endswith("partial\nno newline")


def test_which_view() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert type(make_view(True, "tty", Terminal())) is Quiet
    assert type(make_view(False, "auto", Terminal())) is Tty
    assert type(make_view(False, "auto", io.StringIO())) is Plain
    assert type(make_view(False, "tty", io.StringIO())) is Tty
    assert type(make_view(False, "plain", Terminal())) is Plain


# ---------------------------------------------------------------- the command


def _reply(msgs: list[dict[str, Any]], tail: bytes = b"0\r\n\r\n") -> bytes:
    body = b"".join(
        b"%x\r\n%s\r\n" % (len(line), line) for line in (json.dumps(m).encode() + b"\r\n" for m in msgs)
    )
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        + body
        + tail
    )


def _run(tmp_path: Path, reply: bytes, *args: str) -> tuple[int, _FakeDaemon]:
    root = _ctx(tmp_path, {"Dockerfile": "FROM busybox\n"})
    server = _FakeDaemon(reply)
    try:
        code = build.cmd_build(_Client(server), "wharf build", [*args, str(root)])
    except Exit as exc:
        code = exc.code
    server.thread.join(5)
    return code, server


def test_a_build_prints_its_stream_and_writes_the_iidfile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    iid = tmp_path / "iid"
    code, server = _run(tmp_path, _reply(SUCCESS), "--progress=plain", "-t", "x:1", "--iidfile", str(iid))
    assert code == 0 and iid.read_text() == SUCCESS[12]["aux"]["ID"]
    out = capsys.readouterr().out
    assert out.startswith(
        "Sending build context to Docker daemon  2.048kB\r\r\nStep 1/3 : FROM busybox:latest\n"
    )
    assert out.endswith("Successfully tagged obs:3\n")
    assert b" /v1.47/build?t=x%3A1&rm=1&dockerfile=Dockerfile " in server.head
    assert _names(_untar(iter([server.body]))) == ["Dockerfile"]


def test_the_exit_code_of_a_failed_or_broken_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(tmp_path / "1", _reply(FAILURE), "--progress=plain")[0] == 3
    assert capsys.readouterr().err == _FAILED + "\n"
    assert _run(tmp_path / "2", _reply([{"error": "no detail"}]), "-q")[0] == 1
    assert capsys.readouterr().err.endswith("no detail\n")
    assert _run(tmp_path / "3", _reply(SUCCESS[:5]), "--progress=tty")[0] == 1
    assert capsys.readouterr().err == "the daemon ended the build without an image ID\n"
    assert _run(tmp_path / "4", _reply(SUCCESS[:5], b"zz\r\n"), "--progress=plain")[0] == 1
    assert "error reading the build's progress from the daemon: invalid literal" in capsys.readouterr().err
