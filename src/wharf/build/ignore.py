""".dockerignore: which paths of a build context are left out, as Docker's CLI and BuildKit decide.

The file (``read_patterns``) is read as moby's ``ignorefile.ReadAll`` reads it: a UTF-8 BOM is
dropped, a line whose first character is ``#`` is a comment (an indented ``#`` is not), every
other line is trimmed of whitespace, lexically cleaned like Go's ``filepath.Clean`` and loses a
leading ``/`` (patterns are relative to the context root); a leading ``!`` makes an exception and
is kept in front of the cleaned pattern. Blank lines are dropped.

The patterns (``Matcher``) are those of moby's ``patternmatcher``: Go's ``filepath.Match``
(``*`` and ``?`` stop at ``/``; ``[...]`` classes with ranges and ``^`` negation; ``\\`` escapes
the next character) plus ``**``, any number of directories, none included. As there, a pattern
is one of four kinds, and the kind decides the match:

    exact    no wildcard at all                    the path equals the pattern
    prefix   ``dir/**`` (only a trailing ``**``)   the path starts with ``dir/``
    suffix   ``**/x`` (only a leading ``**``)      the path ends with ``/x`` or is ``x``
    regexp   anything else                         ``**/`` is ``(.*/)?``, ``*`` is ``[^/]*`` …

so ``**.md`` (a suffix pattern) matches ``a/b.md``, and ``docs/**`` does not match ``docs``. A
path is matched by a pattern when the path or one of its parent directories is (moby's
``MatchesOrParentMatches``); the last pattern that matches decides, exceptions re-including.

A matching directory can still hold re-included paths: ``may_contain_included`` answers as
BuildKit's fsutil does. If any exception has a wildcard left once a trailing ``/**`` or ``/*``
is cut, every excluded directory must be walked; otherwise only those that are a prefix of some
exception (``docs`` for ``!docs/keep.md``). ``walk`` prunes the others.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from wharf.errors import InvalidArgument

BAD_PATTERN = "syntax error in pattern"  # Go's filepath.ErrBadPattern
_BOM = "\ufeff"
# Go's strings.TrimSpace: unicode.IsSpace, which str.strip() is not (it also strips \x1c-\x1f)
_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
_SPACE += "\u2028\u2029\u202f\u205f\u3000"
# what makes an exception more than a plain path prefix, for fsutil's pruning shortcut
_PATTERN_CHARS = "*[]?^\\"

_EXACT, _PREFIX, _SUFFIX, _REGEXP = "exact", "prefix", "suffix", "regexp"


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore file's text, in order (``ignorefile.ReadAll``)."""
    out: list[str] = []
    for n, line in enumerate(text.split("\n")):
        line = line.removesuffix("\r")  # bufio.ScanLines drops one CR before the LF
        if n == 0:
            line = line.removeprefix(_BOM)
        if line.startswith("#"):
            continue
        pattern = line.strip(_SPACE)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(_SPACE)
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash path: the shortest equivalent spelling, lexically."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts and parts[-1] != "..":
            parts.pop()
        elif not rooted:  # ".." above the root of a rooted path is the root
            parts.append("..")
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


@dataclass(frozen=True)
class _Pattern:
    text: str  # cleaned, without the "!"
    exclusion: bool
    kind: str
    regexp: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regexp is not None
        return self.regexp.fullmatch(path) is not None


class Matcher:
    """A .dockerignore's patterns, compiled; ``matches`` says whether a context path is left out."""

    def __init__(self, patterns: list[str]) -> None:
        self._patterns: list[_Pattern] = []
        for raw in patterns:
            pattern = raw.strip(_SPACE)
            if not pattern:
                continue
            pattern = clean(pattern)
            exclusion = pattern.startswith("!")
            if exclusion:
                if len(pattern) == 1:
                    raise InvalidArgument('illegal exclusion pattern: "!"')
                pattern = pattern[1:]
            kind, regexp = _compile(pattern)
            self._patterns.append(_Pattern(pattern, exclusion, kind, regexp))
        self.exclusions = any(p.exclusion for p in self._patterns)
        # fsutil's onlyPrefixExcludeExceptions: every exception is a plain path (or dir/*, dir/**)
        self._prefix_exceptions = not any(
            p.exclusion and any(c in _PATTERN_CHARS for c in _without_trailing_glob(p.text))
            for p in self._patterns
        )

    def matches(self, path: str) -> bool:
        """Whether ``path`` (slash-separated, relative to the context root) is excluded."""
        path = clean(path).removeprefix("/")
        if path in ("", "."):
            return False  # the context itself is never left out
        parts = path.split("/")
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        matched = False
        for p in self._patterns:
            # an inclusion cannot change a match, nor an exception a non-match
            if p.exclusion != matched:
                continue
            if p.match(path) or any(p.match(parent) for parent in parents):
                matched = not p.exclusion
        return matched

    def may_contain_included(self, dir_path: str) -> bool:
        """Whether the excluded directory ``dir_path`` may hold paths an exception re-includes, so a
        walk must go into it rather than prune it (BuildKit's rule, see the module docstring)."""
        if not self.exclusions:
            return False
        if not self._prefix_exceptions:
            return True
        dir_slash = clean(dir_path).removeprefix("/") + "/"
        exceptions = (_without_trailing_glob(p.text) + "/" for p in self._patterns if p.exclusion)
        return any(e.startswith(dir_slash) for e in exceptions)


def _without_trailing_glob(text: str) -> str:
    return text.removesuffix("/**").removesuffix("/*")


def _compile(pattern: str) -> tuple[str, re.Pattern[str] | None]:
    """The kind of ``pattern`` and, for a regexp one, the regexp; raises on a malformed pattern
    (what Go's ``filepath.Match`` refuses, and a class range running backwards, which Go's regexp
    refuses when patternmatcher compiles it)."""
    kind = _EXACT
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        start, ch = i, pattern[i]
        i += 1
        if ch == "*" and i < n and pattern[i] == "*":
            i += 1
            if i < n and pattern[i] == "/":
                i += 1  # "**/" is "**"
            if i == n:
                if kind == _EXACT:
                    kind = _PREFIX
                else:
                    out.append(".*")
                    kind = _REGEXP
            else:
                out.append("(?:.*/)?")  # any number of directories, none included
                kind = _REGEXP
            if start == 0:
                kind = _SUFFIX
        elif ch in "*?":
            out.append("[^/]*" if ch == "*" else "[^/]")
            kind = _REGEXP
        elif ch == "\\":
            if i == n:
                raise InvalidArgument(BAD_PATTERN)
            out.append(re.escape(pattern[i]))
            i += 1
            kind = _REGEXP
        elif ch == "[":
            cls, i = _char_class(pattern, i)
            out.append(cls)
            kind = _REGEXP
        else:
            out.append(re.escape(ch))
            if ch == "]":
                kind = _REGEXP  # as patternmatcher has it; the match is the same literal "]"
    return kind, re.compile("".join(out)) if kind == _REGEXP else None


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """The regexp class for the ``[...]`` whose body starts at ``pattern[i]``, and the index after
    its ``]``. The grammar is filepath.Match's: an optional ``^``, then one or more ranges, each
    ``c`` or ``lo-hi``, where a bare ``-`` or ``]`` must be escaped."""
    negated = i < len(pattern) and pattern[i] == "^"
    if negated:
        i += 1
    ranges: list[str] = []
    while not (i < len(pattern) and pattern[i] == "]" and ranges):
        lo, i = _class_char(pattern, i)
        hi = lo
        if pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
        if lo > hi:
            raise InvalidArgument(BAD_PATTERN)
        ranges.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
    return ("[^" if negated else "[") + "".join(ranges) + "]", i + 1


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    """One possibly escaped character of a class at ``pattern[i]`` (Go's getEsc): never a bare
    ``-`` or ``]``, and never the pattern's last character (the class must still close)."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise InvalidArgument(BAD_PATTERN)
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise InvalidArgument(BAD_PATTERN)
    if i + 1 >= len(pattern):
        raise InvalidArgument(BAD_PATTERN)
    return pattern[i], i + 1


def walk(root: str, matcher: Matcher) -> Iterator[str]:
    """The slash-separated paths under ``root`` (files, directories, symlinks and the rest) that
    ``matcher`` does not exclude, each directory before its contents, names in byte order.

    Excluded directories are pruned unless ``matcher.may_contain_included`` says otherwise; such
    a directory is walked, and is itself yielded (before its first re-included path, as BuildKit
    sends the parents of what it sends) only if something inside it is re-included. Symlinks are
    yielded as themselves, never followed. The root is not yielded, and nothing here is special
    about the Dockerfile or the .dockerignore (Docker always sends them; the caller sees to that).
    """
    try:
        st = os.stat(root)
    except FileNotFoundError as e:
        raise InvalidArgument(f"{root}: no such file or directory") from e
    if not stat.S_ISDIR(st.st_mode):
        raise InvalidArgument(f"{root} is not a directory")
    pending: list[str] = []  # excluded directories walked into, not yielded yet (outermost first)
    stack: list[tuple[str, Iterator[os.DirEntry[str]]]] = [("", _entries(root, False))]
    while stack:
        rel_dir, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            if pending and pending[-1] == rel_dir:
                pending.pop()  # nothing inside it was re-included
            continue
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        if not matcher.matches(rel):
            yield from pending
            pending.clear()
            yield rel
            if is_dir:
                stack.append((rel, _entries(entry.path, False)))
        elif is_dir and matcher.may_contain_included(rel):
            pending.append(rel)
            stack.append((rel, _entries(entry.path, True)))


def _entries(path: str, excluded: bool) -> Iterator[os.DirEntry[str]]:
    """A directory's entries sorted by name as bytes (Go's order); an excluded directory walked
    only for its exceptions that cannot be read is passed over, as fsutil does."""
    try:
        with os.scandir(path) as it:
            found = list(it)
    except PermissionError:
        if excluded:
            return iter(())
        raise
    return iter(sorted(found, key=lambda e: os.fsencode(e.name)))
