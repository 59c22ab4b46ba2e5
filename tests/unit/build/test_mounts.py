"""RUN --mount's planning without an engine: targets under the WORKDIR, values expanded with the
stage's variables, the canonical text of a mount, sources resolved inside their root, what a
session mount says without a session, and the mount stubs taken out of an upper directory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wharf.build import instructions as ins
from wharf.build import mounts
from wharf.build.flags import Mount
from wharf.build.parser import parse
from wharf.build.steps import BuildFailed, StageState


def _run(line: str) -> ins.Run:
    cmd = ins.parse_file(parse(f"FROM busybox\n{line}\n")).stages[0].commands[0]
    assert isinstance(cmd, ins.Run)
    return cmd


def _stage(workdir: str = "", env: list[str] | None = None) -> StageState:
    return StageState(config={"config": {"WorkingDir": workdir, "Env": env or []}})


def test_targets_are_under_the_workdir_and_never_the_root() -> None:
    st = _stage("/work")
    assert mounts.target_of(st, Mount(target="/abs/x/")) == "/abs/x"
    assert mounts.target_of(st, Mount(target="rel")) == "/work/rel"
    assert mounts.target_of(st, Mount(target="")) == "/work"
    with pytest.raises(BuildFailed, match='invalid mount target "/"'):
        mounts.target_of(_stage(), Mount(target="."))


def test_values_are_expanded_with_the_stage_variables() -> None:
    st = _stage(env=["DIR=/cache", "ID=pkgs"])
    [m] = mounts.expanded(st, _run("RUN --mount=type=cache,target=$DIR,id=${ID}-1 true"))
    assert (m.type, m.target, m.id) == ("cache", "/cache", "pkgs-1")
    with pytest.raises(BuildFailed, match='unsupported mount type "nope"'):
        mounts.expanded(_stage(env=["T=nope"]), _run("RUN --mount=type=$T,target=/x true"))


def test_the_canonical_text_has_the_defaults_filled_in() -> None:
    st = _stage("/w")
    [m] = mounts.expanded(st, _run("RUN --mount=type=cache,target=c true"))
    assert mounts.normalised(st, m) == "type=cache,target=/w/c,id=c,sharing=shared,from=,source=,ro=false"
    [m] = mounts.expanded(st, _run("RUN --mount=from=a,source=/s,target=/t true"))
    assert mounts.normalised(st, m) == "type=bind,target=/t,from=a,source=/s,ro=true"
    [m] = mounts.expanded(st, _run("RUN --mount=type=secret,id=tok,required,mode=0400 true"))
    assert (
        mounts.normalised(st, m) == "type=secret,target=,id=tok,from=,source=,ro=true,required=true,mode=400"
    )


def test_session_mounts_without_a_session() -> None:
    mounts._session_mount(Mount(type="secret", id="tok"))  # optional: nothing mounted
    with pytest.raises(BuildFailed, match="^secret tok: not found$"):
        mounts._session_mount(Mount(type="secret", id="tok", required=True))
    with pytest.raises(BuildFailed, match="^secret key: not found$"):
        mounts._session_mount(Mount(type="secret", target="/run/key", required=True))
    with pytest.raises(BuildFailed, match='no SSH key "default" forwarded from the client'):
        mounts._session_mount(Mount(type="ssh", required=True))
    with pytest.raises(BuildFailed, match="ssh does not support source"):
        mounts._session_mount(Mount(type="ssh", source="x"))


def test_a_source_is_resolved_inside_its_root(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    (root / "dir").mkdir(parents=True)
    (root / "dir/f").write_text("f")
    (root / "out").symlink_to("/")
    (root / "up").symlink_to("../../..")
    assert mounts.resolve_in(str(root), "dir/f") == f"{root}/dir/f"
    assert mounts.resolve_in(str(root), "/") == str(root)
    assert mounts.resolve_in(str(root), "out/dir") == f"{root}/dir"  # "/" is the root's own
    assert mounts.resolve_in(str(root), "up") == str(root)
    assert mounts.resolve_in(str(root), "out/etc/passwd") is None
    assert mounts.resolve_in(str(root), "new/sub", create=True) == f"{root}/new/sub"
    assert (root / "new/sub").is_dir()


def test_the_checksum_follows_contents_not_times(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t/a").write_text("a")
    first = mounts.tree_checksum(str(tmp_path / "t"))
    os.utime(tmp_path / "t/a", (1, 1))
    assert mounts.tree_checksum(str(tmp_path / "t")) == first
    (tmp_path / "t/a").write_text("b")
    assert mounts.tree_checksum(str(tmp_path / "t")) != first
    assert mounts.tree_checksum(str(tmp_path / "t/a")) != mounts.tree_checksum(str(tmp_path / "t"))


def test_the_stubs_the_runtime_made_are_removed(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in ("a", "kept", "link-target"):
        (lower / d).mkdir(parents=True)
    (lower / "kept/empty").mkdir()
    (lower / "link").symlink_to("link-target")
    for d in ("a/stub", "new/deep/stub", "full", "kept/empty", "link/x"):
        (upper / d).mkdir(parents=True)
    (upper / "full/file").write_text("x")
    (upper / "file-stub").touch()
    (upper / "data").write_text("data")
    os.utime(upper / "a", ns=(10**9, 10**9))
    targets = ["/a/stub", "/new/deep/stub", "/full", "/kept/empty", "/file-stub", "/data", "/link/x"]
    mounts.remove_stubs(str(upper), [str(lower)], targets)
    left = sorted(str(p.relative_to(upper)) for p in upper.rglob("*"))
    assert left == ["a", "data", "full", "full/file", "kept", "kept/empty", "link", "link/x"]
    assert os.stat(upper / "a").st_mtime_ns == 10**9  # the parent's times are kept


def test_a_path_a_lower_layer_removed_is_a_stub(tmp_path: Path) -> None:
    top, bottom, upper = tmp_path / "top", tmp_path / "bottom", tmp_path / "upper"
    (bottom / "was").mkdir(parents=True)
    top.mkdir()
    os.mknod(top / "was", stat.S_IFCHR)  # whited out by the layer above
    (upper / "was").mkdir(parents=True)
    mounts.remove_stubs(str(upper), [str(top), str(bottom)], ["/was"])
    assert not (upper / "was").exists()
