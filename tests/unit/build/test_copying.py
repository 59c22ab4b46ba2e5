"""build/copying.py and build/sources.py on real directories, without an engine: what COPY/ADD
select (wildcards resolved inside the context, --exclude, --parents, heredocs), the checksum
the cache keys them on (content and modes, never mtimes), --chmod's forms, and the tar a step
unpacks, written into a plain directory as a FROM scratch layer is."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from wharf.archive.scoped import ScopedFS
from wharf.build import copying, sources
from wharf.build import instructions as ins
from wharf.build.parser import parse
from wharf.build.steps import StageState
from wharf.errors import InvalidArgument


def _builder(tmp: Path) -> Any:
    """What ``prepared`` uses of a Builder for context sources: the context and the work dir."""
    (tmp / "context").mkdir(exist_ok=True)
    return SimpleNamespace(opts=SimpleNamespace(context_dir=str(tmp / "context")), work_dir=str(tmp))


def _cmd(line: str) -> ins.Copy | ins.Add:
    cmd = ins.parse_file(parse(f"FROM scratch\n{line}\n")).stages[0].commands[0]
    assert isinstance(cmd, (ins.Copy, ins.Add))
    return cmd


def _state(env: dict[str, str] | None = None, workdir: str = "/") -> StageState:
    st = StageState(config={"config": {"WorkingDir": workdir}})
    st.section["Env"] = [f"{k}={v}" for k, v in (env or {}).items()]
    return st


def _prepare(b: Any, line: str, st: StageState | None = None) -> copying.Prepared:
    async def go() -> copying.Prepared:
        async with copying.prepared(b, st or _state(), _cmd(line)) as prep:
            return prep

    return asyncio.run(go())


def _checksum(b: Any, line: str, st: StageState | None = None) -> str:
    return _prepare(b, line, st).checksum


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, body in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if body.startswith("-> "):
            p.symlink_to(body[3:])
        else:
            p.write_text(body)


def _landed(b: Any, tmp: Path, line: str, st: StageState | None = None) -> dict[str, str]:
    """What the step writes into an empty directory: path → content ("dir", "-> target")."""
    prep = _prepare(b, line, st)
    out_dir = tmp / f"out-{time.monotonic_ns()}"
    out_dir.mkdir()
    with ScopedFS(str(out_dir)) as fs:
        copying.put(fs, prep)
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(out_dir):
        for n in [*dirnames, *filenames]:
            p = Path(dirpath) / n
            rel = str(p.relative_to(out_dir))
            if p.is_symlink():
                found[rel] = "-> " + os.readlink(p)
            elif p.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = p.read_text()
    return found


@pytest.fixture
def b(tmp_path: Path) -> Any:
    return _builder(tmp_path)


def _ctx(b: Any) -> Path:
    return Path(b.opts.context_dir)


# --- the checksum ----------------------------------------------------------------------------


def test_checksum_keeps_with_a_touched_mtime_and_changes_with_content(b: Any) -> None:
    _tree(_ctx(b), {"app/a.txt": "a\n", "app/sub/b.txt": "b\n", "app/link": "-> a.txt"})
    first = _checksum(b, "COPY app /app/")
    past = time.time() - 3600
    os.utime(_ctx(b) / "app/a.txt", (past, past))
    os.utime(_ctx(b) / "app/sub", (past, past))
    assert _checksum(b, "COPY app /app/") == first
    (_ctx(b) / "app/a.txt").write_text("A\n")
    changed = _checksum(b, "COPY app /app/")
    assert changed != first
    (_ctx(b) / "app/a.txt").write_text("a\n")
    assert _checksum(b, "COPY app /app/") == first
    os.chmod(_ctx(b) / "app/a.txt", 0o600)
    assert _checksum(b, "COPY app /app/") != first  # a mode is part of what is copied


def test_checksum_tells_names_links_structure_and_flags(b: Any) -> None:
    _tree(_ctx(b), {"app/a.txt": "a\n", "app/link": "-> a.txt"})
    base = _checksum(b, "COPY app /app/")
    os.rename(_ctx(b) / "app/a.txt", _ctx(b) / "app/c.txt")
    renamed = _checksum(b, "COPY app /app/")
    os.rename(_ctx(b) / "app/c.txt", _ctx(b) / "app/a.txt")
    os.unlink(_ctx(b) / "app/link")
    os.symlink("elsewhere", _ctx(b) / "app/link")
    relinked = _checksum(b, "COPY app /app/")
    os.unlink(_ctx(b) / "app/link")
    os.symlink("a.txt", _ctx(b) / "app/link")
    assert _checksum(b, "COPY app /app/") == base
    others = [
        _checksum(b, "COPY app /elsewhere/"),
        _checksum(b, "COPY --chown=1:1 app /app/"),
        _checksum(b, "COPY --chmod=600 app /app/"),
        _checksum(b, "COPY --exclude=*.md app /app/"),
        _checksum(b, "COPY --parents app /app/"),
        _checksum(b, "ADD app /app/"),
    ]
    assert len({base, renamed, relinked, *others}) == 2 + 1 + len(others)
    assert _checksum(b, "COPY --link app /app/") == base  # --link changes nothing copied


def test_checksum_of_expanded_values(b: Any) -> None:
    _tree(_ctx(b), {"f": "x"})
    one = _checksum(b, "COPY --chown=$U f $D", _state({"U": "1", "D": "/a"}))
    assert one == _checksum(b, "COPY --chown=1 f /a")
    assert one != _checksum(b, "COPY --chown=$U f $D", _state({"U": "2", "D": "/a"}))
    rel = _checksum(b, "COPY f x", _state(workdir="/w"))
    assert rel == _checksum(b, "COPY f /w/x") != _checksum(b, "COPY f x", _state(workdir="/v"))


def test_checksum_of_a_thousand_small_files_is_fast(b: Any) -> None:
    for i in range(1000):
        d = _ctx(b) / f"d{i % 20}"
        d.mkdir(exist_ok=True)
        (d / f"f{i}.txt").write_text(f"file {i}\n" * 3)
    _checksum(b, "COPY . /app/")  # warm: the page cache, the imports
    t0 = time.perf_counter()
    prep = _prepare(b, "COPY . /app/")
    took = time.perf_counter() - t0
    assert sum(len(s.entries) for s in prep.sources) == 1020
    assert took < 0.5, f"prepared took {took:.3f}s for 1,000 files"


def test_history_summary_is_the_content_hash(b: Any) -> None:
    _tree(_ctx(b), {"f": "x", "d/g": "y"})
    one, moved = _prepare(b, "COPY f /a"), _prepare(b, "COPY f /b")
    assert one.summary.startswith("file:") and one.summary == moved.summary
    assert one.checksum != moved.checksum
    assert _prepare(b, "COPY d /d/").summary.startswith("dir:")
    assert _prepare(b, "COPY f d /d/").summary.startswith("multi:")


# --- selection -------------------------------------------------------------------------------


def test_missing_sources_and_wildcards(b: Any) -> None:
    _tree(_ctx(b), {"a.txt": "a", "b.txt": "b", ".hidden.txt": "h", "c.md": "c"})
    with pytest.raises(InvalidArgument, match="stat missing.txt: file does not exist"):
        _prepare(b, "COPY missing.txt /")
    with pytest.raises(InvalidArgument, match=r"stat \*.none: file does not exist"):
        _prepare(b, "COPY *.none /")
    assert _landed(b, Path(b.work_dir), "COPY *.txt /out/") == {
        "out": "dir", "out/.hidden.txt": "h", "out/a.txt": "a", "out/b.txt": "b",
    }  # fmt: skip


def test_symlinks_resolve_inside_the_context(b: Any, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host file")
    _tree(_ctx(b), {"etc/secret": "context file", "abs": f"-> {outside}/secret", "up": "-> ../../outside"})
    (_ctx(b) / "in").symlink_to("/etc")
    assert _landed(b, tmp_path, "COPY in/secret /s") == {"s": "context file"}
    with pytest.raises(InvalidArgument, match="file does not exist"):
        _prepare(b, "COPY abs /x")  # /…/outside/secret resolved in the context: not there
    with pytest.raises(InvalidArgument, match="file does not exist"):
        _prepare(b, "COPY up/secret /x")
    assert _landed(b, tmp_path, "COPY in/* /d/") == {"d": "dir", "d/secret": "context file"}


def test_exclude_inside_directories_and_wildcard_matches(b: Any, tmp_path: Path) -> None:
    _tree(_ctx(b), {"src/a.txt": "a", "src/b.md": "b", "src/sub/c.txt": "c", "src/sub/d.md": "d",
                    "home.txt": "h", "home.md": "m"})  # fmt: skip
    got = _landed(b, tmp_path, "COPY --exclude=*.md --exclude=sub/*.txt src /out/")
    assert got == {"out": "dir", "out/a.txt": "a", "out/sub": "dir", "out/sub/d.md": "d"}
    got = _landed(b, tmp_path, "COPY --exclude=**/*.md --exclude=!sub/d.md src /out/")
    assert got == {
        "out": "dir",
        "out/a.txt": "a",
        "out/sub": "dir",
        "out/sub/c.txt": "c",
        "out/sub/d.md": "d",
    }
    assert _landed(b, tmp_path, "COPY --exclude=*.txt hom* /out/") == {"out": "dir", "out/home.md": "m"}
    assert _landed(b, tmp_path, "COPY --exclude=sub src /out/") == {
        "out": "dir",
        "out/a.txt": "a",
        "out/b.md": "b",
    }


def test_parents_keep_the_source_directories(b: Any, tmp_path: Path) -> None:
    _tree(_ctx(b), {"x/a.txt": "xa", "y/a.txt": "ya", "x/y/b.txt": "b", "x/y/c.md": "c", "src/q/r.txt": "r"})
    assert _landed(b, tmp_path, "COPY x/a.txt y/a.txt /no/") == {"no": "dir", "no/a.txt": "ya"}
    assert _landed(b, tmp_path, "COPY --parents x/a.txt y/a.txt /p/") == {
        "p": "dir", "p/x": "dir", "p/x/a.txt": "xa", "p/y": "dir", "p/y/a.txt": "ya",
    }  # fmt: skip
    assert _landed(b, tmp_path, "COPY --parents ./x/./y/*.txt /p/") == {
        "p": "dir",
        "p/y": "dir",
        "p/y/b.txt": "b",
    }
    assert _landed(b, tmp_path, "COPY --parents src/**/*.txt /p/") == {
        "p": "dir", "p/src": "dir", "p/src/q": "dir", "p/src/q/r.txt": "r",
    }  # fmt: skip
    assert _landed(b, tmp_path, "COPY --parents --exclude=x/y/*.md x/y /p/") == {
        "p": "dir", "p/x": "dir", "p/x/y": "dir", "p/x/y/b.txt": "b",
    }  # fmt: skip
    with pytest.raises(InvalidArgument, match="stat x/none: file does not exist"):
        _prepare(b, "COPY --parents x/none /p/")


def test_heredocs_expand_unless_quoted_and_take_chmod(b: Any, tmp_path: Path) -> None:
    st = _state({"WHO": "world"})
    text = "FROM scratch\nCOPY <<EOF <<'RAW' /docs/\nhello $WHO\nEOF\nkeep $WHO\nRAW\n"
    cmd = ins.parse_file(parse(text)).stages[0].commands[0]
    assert isinstance(cmd, ins.Copy)

    async def go() -> copying.Prepared:
        async with copying.prepared(b, st, cmd) as prep:
            return prep

    prep = asyncio.run(go())
    out = tmp_path / "here"
    out.mkdir()
    with ScopedFS(str(out)) as fs:
        copying.put(fs, prep)
    assert (out / "docs/EOF").read_text() == "hello world\n"
    assert (out / "docs/RAW").read_text() == "keep $WHO\n"
    assert stat.S_IMODE((out / "docs/EOF").stat().st_mode) == 0o644
    one = ins.parse_file(parse("FROM scratch\nCOPY --chmod=755 <<EOF /run.sh\necho hi\nEOF\n")).stages[0]
    cmd2 = one.commands[0]
    assert isinstance(cmd2, ins.Copy)

    async def go2() -> copying.Prepared:
        async with copying.prepared(b, _state(), cmd2) as prep:
            return prep

    with ScopedFS(str(out)) as fs:
        copying.put(fs, asyncio.run(go2()))
    assert stat.S_IMODE((out / "run.sh").stat().st_mode) == 0o755


def test_refusals_in_buildkit_words(b: Any) -> None:
    _tree(_ctx(b), {"f": "x"})
    cases = {
        "COPY http://example.com/x /x": "source can't be a URL for COPY",
        "ADD https://github.com/moby/moby.git /src": "ADD of a git repository is not supported",
        "ADD git@github.com:moby/moby.git /src": "ADD of a git repository is not supported",
        "ADD --checksum=sha256:00 f /x": "checksum requires HTTP(S) or Git sources",
        "ADD --checksum=sha256:00 http://h/a http://h/b /x/": "checksum can't be specified for multiple",
        "COPY --from=$X / /": "variable expansion is not supported for --from",
        "COPY --chmod=0o755 f /x": "it should be octal string and between 0 and 07777",
        "COPY --chmod=17777 f /x": "it should be octal string and between 0 and 07777",
        "COPY --chmod=u+q f /x": "invalid chmod parameter: 'u+q'",
    }
    for line, message in cases.items():
        with pytest.raises(InvalidArgument, match=re.escape(message)):
            _prepare(b, line)


# --- --chmod and --checksum forms ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mode", "is_dir", "want"),
    [
        ("755", 0o644, False, 0o755),
        ("0600", 0o755, True, 0o600),
        ("u+x", 0o644, False, 0o744),
        ("a+rX", 0o600, False, 0o644),
        ("a+rX", 0o700, True, 0o755),
        ("a+rX", 0o700, False, 0o755),
        ("go-rwx", 0o755, False, 0o700),
        ("u=rw,go=r", 0o777, False, 0o644),
        ("g=u", 0o740, False, 0o770),
        ("=r", 0o4777, False, 0o444),
        ("+t", 0o755, True, 0o1755),
        ("u+s,g+s", 0o755, False, 0o6755),
        ("o+s", 0o755, False, 0o755),
    ],
)
def test_chmod_forms(text: str, mode: int, is_dir: bool, want: int) -> None:
    assert sources.parse_chmod(text).apply(mode, is_dir) == want


def test_checksum_digest_forms() -> None:
    good = "sha256:" + "a" * 64
    assert sources.parse_digest(good) == ("sha256", "a" * 64)
    for bad, message in {
        "sha256": "invalid checksum digest format",
        "md5:" + "a" * 32: "unsupported digest algorithm",
        "sha256:abc": "invalid checksum digest length",
        "sha256:" + "G" * 64: "invalid checksum digest format",
    }.items():
        with pytest.raises(InvalidArgument, match=message):
            sources.parse_digest(bad)


def test_download_names() -> None:
    name = sources._download_name  # dockerd's rule, checked directly
    assert name("http://h/a/b.tar.gz?x=1", "") == "b.tar.gz"
    assert name("http://h/dir/", 'attachment; filename="got.txt"') == "got.txt"
    assert name("http://h/", "") == ""
    assert name("http://h/a%20b", "") == "a b"
