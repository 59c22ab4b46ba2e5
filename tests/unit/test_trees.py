"""wharf.base.trees: walks and removals of trees deeper than the recursion limit and PATH_MAX,
and wider than one scandir batch, with a bounded number of open fds."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.chains import make_chain

from wharf.base import trees

LONG = "x" * 20


@pytest.fixture
def base(tmp_path: Path) -> Iterator[Path]:
    """An empty directory, removed with `rm -rf` whatever the test leaves (pytest's own
    cleanup recurses)."""
    d = tmp_path / "t"
    d.mkdir()
    try:
        yield d
    finally:
        subprocess.run(["rm", "-rf", str(d)], check=True)


@pytest.fixture
def few_fds() -> Iterator[int]:
    """RLIMIT_NOFILE lowered to what is open now plus 3 windows: a walk that kept one fd per
    level would fail with EMFILE."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = len(os.listdir("/proc/self/fd")) + 3 * trees.WINDOW + 8
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield limit
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _fds_into(base: Path) -> list[str]:
    """The fds this process holds on `base` or below. Counting every open fd was flaky: other
    tests' files closed by the garbage collector mid-test lowered the count (CI: 12 == 15)."""
    held = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except FileNotFoundError:
            continue  # the listing's own fd, or one closed since
        except OSError:
            target = f"{base}/<too long to name>"  # only a path deep in the tree is that long
        if target == str(base) or target.startswith(f"{base}/"):
            held.append(target)
    return held


def test_walk_and_remove_5000_deep_with_few_fds(base: Path, few_fds: int) -> None:
    make_chain(base, ["d"] * 5000)
    assert _fds_into(base) == []
    rels = []
    for d in trees.walk(str(base)):
        rels.append(d.rel)
        if d.files:
            assert d.files == ["f"]
            f = os.open("f", os.O_RDONLY, dir_fd=d.fd)
            assert os.read(f, 10) == b"leaf"
            os.close(f)
    assert len(rels) == 5001
    assert rels[-1] == "/".join(["d"] * 5000)
    assert _fds_into(base) == []  # nothing leaked
    trees.remove_tree(str(base / "d"))
    assert os.listdir(base) == []
    assert _fds_into(base) == []


def test_beyond_path_max(base: Path, few_fds: int) -> None:
    names = [LONG] * 300  # 6,300 bytes
    make_chain(base, names)
    last = None
    for d in trees.walk(str(base)):
        last = d
    assert last is not None and len(last.rel) > 4096 and last.files == ["f"]
    trees.remove_tree(str(base / LONG))
    assert os.listdir(base) == []


def test_wide(base: Path) -> None:
    for i in range(20_000):
        (base / f"f{i:05}").write_bytes(b"")
    for i in range(300):
        (base / f"sub{i:03}").mkdir()
        (base / f"sub{i:03}" / "x").symlink_to("/etc")
    walked = list(trees.walk(str(base)))
    top = walked[0]
    assert top.rel == "" and len(top.files) == 20_000 and len(top.dirs) == 300
    assert top.files[:2] == ["f00000", "f00001"] and top.dirs[0] == "sub000"
    assert [d.rel for d in walked[1:3]] == ["sub000", "sub001"]
    assert walked[1].files == ["x"] and walked[1].dirs == []  # a symlink to a dir is not one
    trees.remove_tree(str(base))
    assert not base.exists()
    base.mkdir()  # for the fixture


def test_walk_prunes_and_skips_what_vanished(base: Path) -> None:
    for p in ("a/x/y", "b/z", "c"):
        (base / p).mkdir(parents=True)
    seen = []
    for d in trees.walk(str(base)):
        seen.append(d.rel)
        if d.rel == "":
            d.dirs.remove("a")  # pruned, as with os.walk
            os.rmdir(base / "c")  # gone before the walk reaches it
    assert seen == ["", "b", "b/z"]
    assert list(trees.walk(str(base / "nosuch"))) == []


def test_walk_alongside_other_trees(base: Path) -> None:
    (base / "up" / "a" / "b").mkdir(parents=True)
    (base / "up" / "new").mkdir()
    (base / "low" / "a").mkdir(parents=True)
    (base / "low" / "a" / "f").write_bytes(b"")
    (base / "low" / "new").symlink_to("a")  # not a directory there: never followed
    found = {}
    for d in trees.walk(str(base / "up"), alongside=[str(base / "low"), str(base / "nosuch")]):
        found[d.rel] = [fd >= 0 for fd in d.alongside]
        if d.rel == "a":
            assert os.listdir(d.alongside[0]) == ["f"]
    assert found == {"": [True, False], "a": [True, False], "a/b": [False, False], "new": [False, False]}


def test_walk_alongside_deep(base: Path, few_fds: int) -> None:
    (base / "up").mkdir()
    (base / "low").mkdir()
    make_chain(base / "up", ["d"] * 2000, leaf=None)
    make_chain(base / "low", ["d"] * 1500, leaf=None)
    present = [d.alongside[0] >= 0 for d in trees.walk(str(base / "up"), alongside=[str(base / "low")])]
    assert present == [True] * 1501 + [False] * 500


def test_remove_tree_keeps_what_it_cannot_remove_and_names_it(base: Path) -> None:
    names = ["d"] * 1200
    make_chain(base, names)
    leaf = "/".join([str(base), *names, "f"])
    subprocess.run(["chattr", "+i", leaf], check=True)
    try:
        with pytest.raises(OSError) as err:
            trees.remove_tree(str(base / "d"))
        assert err.value.errno == errno.EPERM and err.value.filename == leaf
        trees.remove_tree(str(base / "d"), ignore_errors=True)  # the rest goes
        last = [d for d in trees.walk(str(base))][-1]
        assert last.rel == "/".join(names) and last.files == ["f"]
    finally:
        subprocess.run(["chattr", "-i", leaf], check=True)
    trees.remove_tree(str(base / "d"))
    assert os.listdir(base) == []


def test_remove_tree_odd_inputs(base: Path) -> None:
    trees.remove_tree(str(base / "nosuch"))  # missing: fine
    (base / "file").write_bytes(b"")
    (base / "dir").mkdir()
    (base / "link").symlink_to(base / "dir")
    trees.remove_tree(str(base / "link"))  # the link goes, never what it points at
    trees.remove_tree(str(base / "file"))
    assert os.listdir(base) == ["dir"]
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    try:
        trees.remove_tree("dir", dir_fd=fd)
    finally:
        os.close(fd)
    assert os.listdir(base) == []
    with pytest.raises(ValueError):
        trees.remove_tree("/")


def test_dir_stack_climbs_back_to_the_right_directories(base: Path) -> None:
    make_chain(base, ["d"] * 200, leaf=None)
    top = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    with trees.DirStack(top) as stack:
        for _ in range(200):
            stack.push("d")
        while stack.depth:
            path = "/".join([str(base), *["d"] * stack.depth])
            assert os.fstat(stack.fd()).st_ino == os.stat(path).st_ino
            stack.pop()
        assert stack.fd() == top
        for _ in range(100):
            stack.push("d")
        stack.pop(60)  # from the top, by name
        assert os.fstat(stack.fd()).st_ino == os.stat("/".join([str(base), *["d"] * 40])).st_ino


def test_dir_stack_refuses_a_directory_moved_meanwhile(base: Path) -> None:
    make_chain(base, ["d"] * (trees.WINDOW + 5), leaf=None)
    (base / "e").mkdir()
    top = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    with trees.DirStack(top) as stack:
        for _ in range(trees.WINDOW + 5):
            stack.push("d")
        # swap the second level for another directory: its closed fd cannot be trusted again
        os.rename(base / "d" / "d", base / "moved")
        os.rename(base / "e", base / "d" / "d")
        with pytest.raises(OSError) as err:
            stack.pop(trees.WINDOW + 3)
        assert err.value.errno == errno.ESTALE
