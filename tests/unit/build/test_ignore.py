"""wharf.build.ignore: .dockerignore reading, moby patternmatcher's matching (filepath.Match plus
``**``, parents, last match wins), BuildKit's pruning rule, and walk() on a real tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wharf.build import ignore
from wharf.build.ignore import Matcher, clean, read_patterns, walk
from wharf.errors import InvalidArgument


@pytest.mark.parametrize(
    "text,want",
    [
        ("", []),
        ("\n\n   \n\t\n", []),
        ("test1\n/test2\n/a/file/here\n\nlastfile\n", ["test1", "test2", "a/file/here", "lastfile"]),
        ("# a comment\nkeep\n", ["keep"]),
        ("  # indented is a pattern\n", ["# indented is a pattern"]),
        ("\ufeffnode_modules\n", ["node_modules"]),
        ("\ufeff# a comment after the BOM\nx\n", ["x"]),
        ("a\n\ufeffb\n", ["a", "\ufeffb"]),  # only the file's first BOM goes
        ("a\r\nb\r\n", ["a", "b"]),
        ("  spaced  \n", ["spaced"]),
        ("! /inverted/abs/path\n", ["!inverted/abs/path"]),
        ("!\n! \n", ["!", "!"]),
        ("!docs/keep.md\n", ["!docs/keep.md"]),
        ("docs/\n", ["docs"]),
        ("./docs\n", ["docs"]),
        ("/docs/\n", ["docs"]),
        ("//a//b/./c/\n", ["a/b/c"]),
        ("a/../b\n", ["b"]),
        ("../x\n", ["../x"]),
        ("/\n", ["/"]),
        ("/..\n", ["/"]),
        (".\n", ["."]),
        ("last-without-newline", ["last-without-newline"]),
        ("**/*.go\n!main.go", ["**/*.go", "!main.go"]),
    ],
)
def test_read_patterns(text: str, want: list[str]) -> None:
    assert read_patterns(text) == want


@pytest.mark.parametrize(
    "path,want",
    [
        ("", "."),
        (".", "."),
        ("a/b", "a/b"),
        ("a/b/", "a/b"),
        ("./a", "a"),
        ("a//b", "a/b"),
        ("a/./b/../c", "a/c"),
        ("a/..", "."),
        ("..", ".."),
        ("../../a", "../../a"),
        ("/", "/"),
        ("//a", "/a"),
        ("/../a", "/a"),
    ],
)
def test_clean_is_go_filepath_clean(path: str, want: str) -> None:
    assert clean(path) == want


# (pattern, path, excluded): one pattern against one path, parents included
SINGLE = [
    # * and ? never cross "/"
    ("*.md", "README.md", True),
    ("*.md", "a/b.md", False),
    ("*", "anything", True),
    ("*", "a/b", True),  # the parent "a" matches
    ("a/*/c", "a/b/c", True),
    ("a/*/c", "a/c", False),
    ("a/*/c", "a/b/x/c", False),
    ("a/*/c", "a/b/c/d", True),  # a parent matches
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
    ("a?b", "a\u263ab", True),  # one character, not one byte
    ("a???b", "a\u263ab", False),
    ("*x", "xxx", True),
    (".*", ".git", True),
    (".*", "git", False),
    (".*", "a/.git", False),
    # a directory pattern takes everything under it
    ("docs", "docs", True),
    ("docs", "docs/a/b.md", True),
    ("docs", "docsx", False),
    ("docs", "a/docs", False),
    # **: any number of directories, none included
    ("**/*.go", "main.go", True),
    ("**/*.go", "cmd/x/main.go", True),
    ("**/*.go", "cmd/main.gox", False),
    ("**/**/*.txt", "file.txt", True),
    ("**/**/*.txt2", "d/d/file.txt", False),
    ("docs/**", "docs", False),
    ("docs/**", "docs/a", True),
    ("docs/**", "docs/a/b", True),
    ("docs/**", "docsx/a", False),
    ("**", "file", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**/**", "dir/file", True),
    ("**/dir", "dir", True),
    ("**/dir", "a/b/dir", True),
    ("**/dir", "a/dir/file", True),
    ("**/dir", "a/xdir", False),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "x/y/foo/bar", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/xb", False),
    ("a/*.txt**", "a/file.txt", True),
    # patternmatcher's suffix kind: a leading ** then literal text is a plain suffix test
    ("**file", "file", True),
    ("**file", "dir/dir/file", True),
    ("**file", "dir/myfile", True),
    ("**.md", "a/b.md", True),
    # regexp metacharacters are literal
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a^b", "a^b", True),
    ("a]", "a]", True),
    ("**x]", "y/x]", True),
    # classes
    ("[a-c]", "b", True),
    ("[a-c]", "d", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "ae", False),
    ("ab[c]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("[^a]", "b", True),
    ("[^a]", "a", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a[^a]b", "a\u263ab", True),
    ("a[^x]b", "a/b", True),  # a negated class is not stopped by "/" (in Go either)
    ("[!a]", "!", True),  # "!" does not negate, in filepath.Match
    ("[!a]", "b", False),
    ("[a-\u03b6]*", "\u03b1", True),
    ("*[a-\u03b6]", "A", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[*]", "*", True),
    ("[*]", "x", False),
    ("[?]", "?", True),
    ("[[]", "[", True),
    ("x[.]y", "x.y", True),
    ("x[.]y", "xzy", False),
    ("docs/[a-c]*", "docs/b/deep", True),
    # escapes
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("a\\*b", "ab", False),
    ("a\\?", "a?", True),
    ("a\\?", "ab", False),
    ("\\[x]", "[x]", True),
    ("a\\\\", "a\\", True),
    ("a\\d", "ad", True),  # an escaped letter is that letter
    ("a\\d", "a1", False),
    # patterns are cleaned as moby does (read_patterns drops a leading "/")
    ("docs/", "docs/README.md", True),
    ("./docs", "docs/README.md", True),
    ("docs//x/./", "docs/x/y", True),
    ("a/../b", "b", True),
    ("  padded  ", "padded", True),
]


@pytest.mark.parametrize("pattern,path,want", SINGLE)
def test_one_pattern(pattern: str, path: str, want: bool) -> None:
    assert Matcher([pattern]).matches(path) is want


@pytest.mark.parametrize(
    "path,want",
    [
        ("docs/x", True),
        ("./docs/x", True),
        ("/docs/x", True),
        ("docs/x/", True),
        ("docs//x", True),
        (".", False),
        ("", False),
        ("/", False),
    ],
)
def test_paths_are_cleaned_and_the_root_never_matches(path: str, want: bool) -> None:
    assert Matcher(["docs", "**"]).matches(path) is want


# (patterns, path, excluded): the last match wins, and exceptions re-include
MULTI = [
    ([], "anything", False),
    (["docs", "!docs/keep.md"], "docs/keep.md", False),
    (["docs", "!docs/keep.md"], "docs/other.md", True),
    (["docs", "!docs/keep.md"], "docs", True),
    (["docs/", "!docs/keep.md"], "docs/keep.md", False),
    (["docs/*", "!docs/keep.md"], "docs/keep.md", False),
    (["docs", "!docs/sub"], "docs/sub/deep/x", False),
    (["docs", "!docs/sub", "docs/sub/deep"], "docs/sub/deep/x", True),
    (["docs", "!docs/sub", "docs/sub/deep"], "docs/sub/other", False),
    (["*.go", "!main.go"], "main.go", False),
    (["*.go", "!main.go"], "util.go", True),
    (["!main.go", "*.go"], "main.go", True),  # an exception before the pattern is overruled
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "a/README.md", False),  # "*.md" does not reach into a/
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!**/*.go"], "a/b/c.go", False),
    (["**", "!**/*.go"], "a/b/c.txt", True),
    (["!docs/keep.md"], "docs/keep.md", False),
    (["!docs/keep.md"], "docs/x", False),
]


@pytest.mark.parametrize("patterns,path,want", MULTI)
def test_patterns_in_order(patterns: list[str], path: str, want: bool) -> None:
    assert Matcher(patterns).matches(path) is want


@pytest.mark.parametrize(
    "patterns,want",
    [
        ([], False),
        (["docs", "*.md"], False),
        (["docs", "!docs/keep.md"], True),
        (["  !x  "], True),
        (["", "   "], False),
    ],
)
def test_exclusions(patterns: list[str], want: bool) -> None:
    assert Matcher(patterns).exclusions is want


@pytest.mark.parametrize(
    "pattern",
    [
        "[",
        "a[",
        "[^",
        "[^bc",
        "[]a]",
        "[-]",
        "[x-]",
        "[-x]",
        "[a-b-c]",
        "[^]",
        "\\",
        "a\\",
        "[a\\",
        "[a*",
        "x/[/y",
        "[z-a]",  # filepath.Match allows it; patternmatcher's regexp does not
        "[Local-Only]",
        "!docs/[",
    ],
)
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^syntax error in pattern$"):
        Matcher(["ok", pattern])


def test_a_lone_bang_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r'^illegal exclusion pattern: "!"$'):
        Matcher(read_patterns("docs\n! \n"))


@pytest.mark.parametrize(
    "patterns,dir_path,want",
    [
        (["docs"], "docs", False),  # no exceptions: prune
        (["docs", "!docs/keep.md"], "docs", True),
        (["docs", "!docs/keep.md"], "docs/sub", False),
        (["docs", "!docs/keep.md"], "other", False),
        (["docs", "!docs"], "docs", True),
        (["docs", "!docsx/f"], "docs", False),
        (["a", "!a/b/c/f"], "a", True),
        (["a", "!a/b/c/f"], "a/b", True),
        (["a", "!a/b/c/f"], "a/b/c", True),
        (["a", "!a/b/c/f"], "a/x", False),
        (["docs", "!docs/keep/**"], "docs/keep", True),
        (["docs", "!docs/keep/**"], "docs/other", False),
        (["docs", "!docs/keep/*"], "docs/keep", True),
        (["docs", "!docs/keep/*"], "docs/other", False),
        # a wildcard left in any exception: nothing can be pruned
        (["docs", "!**/*.md"], "docs", True),
        (["docs", "!**/*.md"], "anything/at/all", True),
        (["docs", "!docs/*.md"], "docs/sub", True),
        (["docs", "!docs/x", "![ab]"], "docs/sub", True),
        (["docs", "!docs/a\\*"], "elsewhere", True),
        (["docs", "!docs/keep.md"], "./docs/", True),
    ],
)
def test_may_contain_included(patterns: list[str], dir_path: str, want: bool) -> None:
    assert Matcher(patterns).may_contain_included(dir_path) is want


def _tree(root: Path, files: list[str]) -> None:
    for rel in files:
        p = root / rel
        if rel.endswith("/"):
            p.mkdir(parents=True, exist_ok=True)
        else:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(rel)


def _walk(root: Path, patterns: list[str]) -> list[str]:
    return list(walk(str(root), Matcher(patterns)))


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    _tree(
        root,
        [
            ".dockerignore",
            "Dockerfile",
            "main.go",
            "README.md",
            "NOTES.md",
            "docs/keep.md",
            "docs/drop.md",
            "docs/sub/deep.md",
            "build/out.o",
            "build/cache/x",
            "node_modules/pkg/index.js",
            "vendor/",
            "b/",
            "a-z",
        ],
    )
    os.symlink("docs", root / "link")
    os.symlink("/etc", root / "outside")
    return root


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The directories walk() reads, to see what it pruned."""
    seen: list[str] = []
    real = os.scandir

    def spy(path: str) -> object:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(ignore.os, "scandir", spy)
    return seen


def test_walk_without_patterns_yields_everything_in_order(context: Path) -> None:
    assert _walk(context, []) == [
        ".dockerignore",
        "Dockerfile",
        "NOTES.md",
        "README.md",
        "a-z",
        "b",
        "build",
        "build/cache",
        "build/cache/x",
        "build/out.o",
        "docs",
        "docs/drop.md",
        "docs/keep.md",
        "docs/sub",
        "docs/sub/deep.md",
        "link",
        "main.go",
        "node_modules",
        "node_modules/pkg",
        "node_modules/pkg/index.js",
        "outside",
        "vendor",
    ]


def test_walk_prunes_and_reincludes(context: Path, scanned: list[str]) -> None:
    patterns = read_patterns("docs\n!docs/keep.md\nbuild/\nnode_modules\n*.md\n!README.md\n")
    assert _walk(context, patterns) == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "a-z",
        "b",
        "docs",  # excluded, but sent as the parent of what is re-included
        "docs/keep.md",
        "link",  # the symlink itself; it is never followed
        "main.go",
        "outside",
        "vendor",
    ]
    rel = sorted(os.path.relpath(p, context) for p in scanned)
    assert rel == [".", "b", "docs", "vendor"]  # build/, node_modules/ and docs/sub pruned


def test_walk_never_follows_symlinks(context: Path, scanned: list[str]) -> None:
    out = _walk(context, [])
    assert "link" in out and not any(p.startswith("link/") for p in out)
    assert not any(p.startswith("outside/") for p in out)
    assert not any("etc" in p for p in scanned)


def test_walk_an_excluded_dir_with_nothing_reincluded_is_not_sent(tmp_path: Path) -> None:
    _tree(tmp_path, ["docs/drop.md", "docs/sub/x", "f"])
    assert _walk(tmp_path, ["docs", "!docs/keep.md"]) == ["f"]


def test_walk_sends_every_excluded_parent_of_a_deep_exception(tmp_path: Path) -> None:
    _tree(tmp_path, ["a/b/c/f", "a/b/c/g", "a/b/y", "a/x/z", "top"])
    assert _walk(tmp_path, ["a", "!a/b/c/f"]) == ["a", "a/b", "a/b/c", "a/b/c/f", "top"]


def test_walk_descends_everywhere_for_a_wildcard_exception(tmp_path: Path, scanned: list[str]) -> None:
    _tree(tmp_path, ["docs/a.md", "docs/a.txt", "docs/sub/b.md", "docs/sub/b.txt", "src/c.md", "src/c.py"])
    assert _walk(tmp_path, ["docs", "!**/*.md"]) == [
        "docs",
        "docs/a.md",
        "docs/sub",
        "docs/sub/b.md",
        "src",
        "src/c.md",
        "src/c.py",
    ]
    assert sorted(os.path.relpath(p, tmp_path) for p in scanned) == [".", "docs", "docs/sub", "src"]


def test_walk_exception_for_a_whole_subtree(tmp_path: Path) -> None:
    _tree(tmp_path, ["docs/keep/a", "docs/keep/sub/b", "docs/drop/c", "docs/d"])
    want = ["docs", "docs/keep", "docs/keep/a", "docs/keep/sub", "docs/keep/sub/b"]
    assert _walk(tmp_path, ["docs", "!docs/keep"]) == want
    # "docs/keep/**" does not re-include docs/keep itself, which is sent only as a parent
    assert Matcher(["docs", "!docs/keep/**"]).matches("docs/keep")
    assert _walk(tmp_path, ["docs", "!docs/keep/**"]) == want


def test_walk_everything_excluded(tmp_path: Path) -> None:
    _tree(tmp_path, ["a/b", "c"])
    assert _walk(tmp_path, ["**"]) == []
    assert _walk(tmp_path, ["*"]) == []


def test_walk_sorts_by_bytes(tmp_path: Path) -> None:
    _tree(tmp_path, ["b", "B", "a", "_", "\u00e9", "z"])
    assert _walk(tmp_path, []) == ["B", "_", "a", "b", "z", "\u00e9"]


def test_walk_refuses_a_root_that_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InvalidArgument, match="is not a directory"):
        _walk(tmp_path / "f", [])
    with pytest.raises(InvalidArgument, match="no such file or directory"):
        _walk(tmp_path / "missing", [])
