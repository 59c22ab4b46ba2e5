"""A Dockerfile's text to its instruction nodes, as BuildKit's parser reads it.

This layer knows lines, not meanings: parser directives (``# syntax=``, ``# escape=``,
``# check=``), comments, line continuations, heredocs, and for each instruction how its text
splits into arguments (a JSON array, one string, whitespace-separated words, or ``name=value``
pairs). instructions.py gives the nodes their meaning. The split between the two, and the quirks,
follow BuildKit's frontend/dockerfile/parser so that a Dockerfile means the same to wharf as to
``docker build``; ``dump`` prints nodes in the format of BuildKit's parser test files so that
cases can be compared with it.

Two checks BuildKit makes one layer up are made here, so that no node is of an unknown kind:
an unknown instruction, and ONBUILD of ONBUILD/FROM/MAINTAINER. Their messages carry BuildKit's
``dockerfile parse error on line N:`` prefix, as that layer gives them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from wharf.build.shell import Lex, ShellError, go_quote, is_space, trim_space
from wharf.errors import InvalidArgument

DIRECTIVES = ("syntax", "escape", "check")
HEREDOC_KEYWORDS = ("run", "copy", "add")
MAX_LINE = 65535  # bytes: bufio.Scanner's token limit, which BuildKit reads with
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*\Z", re.ASCII)
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"([0-9]*)<<(-?)\s*([^<]*)\Z", re.ASCII)
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_NOT_STRINGS = "when using JSON array syntax, arrays must be comprised of strings only"


class DockerfileError(InvalidArgument):
    """A Dockerfile wharf cannot read; ``line`` is where (1-based), ``reason`` the bare cause."""

    def __init__(self, message: str, line: int, reason: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.reason = message if reason is None else reason

    @classmethod
    def at(cls, line: int, reason: str) -> DockerfileError:
        """An error of the instruction layer, worded as ``docker build`` shows it."""
        return cls(f"dockerfile parse error on line {line}: {reason}", line, reason)


class _Refused(Exception):
    """An instruction-layer refusal found while parsing; the parser adds the line."""


@dataclass
class Heredoc:
    """A ``<<NAME`` body. ``expand``: no part of the name was quoted, so ``$VAR`` in the body is
    expanded; ``chomp`` (``<<-``): leading tabs are to be stripped from its lines. ``content`` is
    as written (line ends included, tabs not yet stripped), as BuildKit keeps it."""

    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0  # RUN 3<<EOF: the descriptor the body is fed on


@dataclass
class Node:
    """One instruction. ``args`` are its arguments as BuildKit's dispatch table splits them:
    for ENV and LABEL flat ``name, value, "="`` triples (``""`` for the legacy ``ENV k v`` form),
    for ONBUILD the expression as one string with the parsed trigger in ``inner``."""

    keyword: str  # lowercase
    args: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # raw "--name=value" words
    json: bool = False  # the arguments were a JSON array (exec form)
    original: str = ""  # the logical line, continuations joined, without heredoc bodies
    start_line: int = 0
    end_line: int = 0
    heredocs: list[Heredoc] = field(default_factory=list)
    inner: Node | None = None


@dataclass
class Dockerfile:
    directives: dict[str, str]
    escape: str
    nodes: list[Node]
    warnings: list[str]


def parse(text: str) -> Dockerfile:
    """The nodes of a Dockerfile. Raises DockerfileError naming the line."""
    return _Parser(text).run()


def dump(df: Dockerfile) -> str:
    """The nodes as BuildKit's AST dump prints them: ``(run ["--mount=x"] "make")`` a line."""
    return "\n".join(f"({_dump(n)})" for n in df.nodes)


def _dump(node: Node) -> str:
    out = node.keyword
    if node.flags:
        out += " [" + " ".join(go_quote(f) for f in node.flags) + "]"
    if node.keyword == "onbuild":
        return out + (f" ({_dump(node.inner)})" if node.inner else "")
    return out + "".join(" " + go_quote(a) for a in node.args)


def _lines(text: str) -> list[str]:
    """Lines with their ``\\n`` kept (a heredoc's body is kept as written)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _strip_leading_space(s: str) -> str:
    i = 0
    while i < len(s) and is_space(s[i]):
        i += 1
    return s[i:]


def _is_comment(line: str) -> bool:
    return _strip_leading_space(line).startswith("#")


class _Parser:
    """The state of one parse: the lines, where we are, the directives seen."""

    def __init__(self, text: str) -> None:
        self.lines = _lines(text.removeprefix("\ufeff"))
        self.i = 0  # next line to read; also the 1-based number of the last one read
        self.directives: dict[str, str] = {}
        self.directives_done = False
        self.warnings: list[str] = []
        self.set_escape("\\")

    def set_escape(self, token: str) -> None:
        if token not in ("\\", "`"):
            raise DockerfileError(f"invalid escape token '{token}' does not match ` or \\", self.i)
        self.escape = token
        e = re.escape(token)
        # the escape char ends a line as a continuation unless it is itself escaped
        self.continuation = re.compile(f"([^{e}]){e}[ \\t]*\\Z|^{e}[ \\t]*\\Z")

    def read(self) -> str:
        line = self.lines[self.i]
        self.i += 1
        size = len(line.encode("utf-8", "surrogatepass")) if len(line) > MAX_LINE // 4 else 0
        if size > MAX_LINE + 1 or (size == MAX_LINE + 1 and not line.endswith("\n")):
            raise DockerfileError(f"dockerfile line greater than max allowed size of {MAX_LINE}", self.i)
        return line

    def directive(self, line: str) -> None:
        """A ``# name=value`` line at the top; the first line that is not one ends them."""
        if self.directives_done:
            return
        m = _DIRECTIVE.match(_strip_leading_space(line[1:])) if line.startswith("#") else None
        key = m.group(1).lower() if m else ""
        if m is None or key not in DIRECTIVES:
            self.directives_done = True
            return
        if key in self.directives:
            raise DockerfileError(f"only one {key} parser directive can be used", self.i)
        self.directives[key] = m.group(2)
        if key == "escape":
            self.set_escape(m.group(2))

    def process(self, raw: str, strip_left: bool) -> str:
        """The line without its end, leading space (first lines only) or comment."""
        line = raw.rstrip("\r\n")
        if strip_left:
            line = _strip_leading_space(line)
        self.directive(line)
        return "" if _is_comment(line) else line

    def trim_continuation(self, line: str) -> tuple[str, bool]:
        """The line without a trailing escape char; True when it does not continue."""
        m = self.continuation.search(line)
        if m is None:
            return line, True
        return line[: m.start()] + (m.group(1) or ""), False

    def run(self) -> Dockerfile:
        nodes: list[Node] = []
        while self.i < len(self.lines):
            line, eol = self.trim_continuation(self.process(self.read(), True))
            start = self.i
            if eol and not line:
                continue
            logical = self.continued(line, eol)
            node = self.node(logical, start)
            node.original, node.start_line = logical, start
            self.read_heredocs(node, logical, start)
            node.end_line = self.i
            nodes.append(node)
        if not nodes:
            raise DockerfileError("file with no instructions", self.i)
        return Dockerfile(dict(self.directives), self.escape, nodes, self.warnings)

    def continued(self, line: str, eol: bool) -> str:
        """The logical line: continuation lines joined. Comment lines inside are dropped, as
        are empty ones (with BuildKit's warning); their leading space is kept."""
        parts = [line]
        empty = False
        while not eol and self.i < len(self.lines):
            raw = self.read()
            line = self.process(raw, False)
            if _is_comment(raw):
                continue
            if not _strip_leading_space(line):
                empty = True
                continue
            line, eol = self.trim_continuation(line)
            parts.append(line)
        logical = "".join(parts)
        if empty:
            self.warnings.append("Empty continuation line found in: " + logical)
        return logical

    def node(self, line: str, start: int) -> Node:
        try:
            return _node_from_line(line, self.escape, top=True)
        except _Refused as e:
            raise DockerfileError.at(start, str(e)) from None
        except InvalidArgument as e:
            raise DockerfileError(str(e), start) from None

    def read_heredocs(self, node: Node, line: str, start: int) -> None:
        """The bodies of the line's heredocs, one after the other, each up to its name alone on
        a line (after leading tabs, for ``<<-``)."""
        target = node.inner if node.keyword == "onbuild" else node
        if target is None or target.keyword not in HEREDOC_KEYWORDS or target.json or "<<" not in line:
            return
        try:
            heredocs = heredocs_from_line(line)
        except ShellError as e:
            raise DockerfileError(str(e), start) from None
        for doc in heredocs:
            body: list[str] = []
            while self.i < len(self.lines):
                raw = self.read()
                candidate = raw.rstrip("\r\n")
                if (candidate.lstrip("\t") if doc.chomp else candidate) == doc.name:
                    break
                body.append(raw)
            else:
                raise DockerfileError("unterminated heredoc", start)
            doc.content = "".join(body)
            node.heredocs.append(doc)
        if target is not node:
            target.heredocs = node.heredocs


def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc a word such as ``<<EOF``, ``<<-"EOF"`` or ``3<<EOF`` opens, or None. A name
    quoted in any part (``<<'EOF'``, ``<<E"O"F``) means the body is not expanded."""
    m = _HEREDOC.match(word)
    if m is None or not m.group(3):
        return None
    lex = Lex("\\", skip_unset_env=True)
    words = lex.process_words(m.group(3), {})
    if len(words) != 1:
        return None
    lex.raw_quotes = True
    raw = lex.process_words(m.group(3), {})
    if len(raw) != len(words):
        raise ShellError(f"internal lexing of heredoc produced inconsistent results: {m.group(3)}")

    def quotes(s: str) -> int:
        return s.count("'") + s.count('"')

    return Heredoc(
        name=words[0],
        expand=quotes(words[0]) == quotes(raw[0]),
        chomp=m.group(2) == "-",
        fd=int(m.group(1) or "0"),
    )


def heredocs_from_line(line: str) -> list[Heredoc]:
    """The heredocs a line opens, in order (a line the lexer cannot split opens none)."""
    lex = Lex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process_words(line, {})
    except ShellError:
        return []
    return [doc for w in words if (doc := parse_heredoc(w)) is not None]


def chomp_heredoc(content: str) -> str:
    """A ``<<-`` body with the leading tabs of its lines stripped."""
    return _LEADING_TABS.sub("", content)


# --- one logical line to a node ------------------------------------------------------------------


def _node_from_line(line: str, escape: str, top: bool) -> Node:
    cmd, flags, rest = split_command(line, escape)
    keyword = cmd.lower()
    if keyword == "onbuild":
        return _onbuild(rest, flags, escape)
    fn = _DISPATCH.get(keyword)
    if fn is None:
        if top:
            raise _Refused(f"unknown instruction: {cmd}")
        return Node(keyword, [""], flags)  # BuildKit takes an unknown trigger until it runs
    args, is_json = fn(rest, escape)
    if keyword in ("env", "label"):
        args = _name_vals(rest, args, cmd.upper(), escape)
    return Node(keyword, args, flags, is_json)


def _onbuild(rest: str, flags: list[str], escape: str) -> Node:
    """ONBUILD keeps its expression whole and parses the trigger instruction beneath it."""
    if not rest:
        return Node("onbuild", flags=flags)
    trigger = _WHITESPACE.split(rest, maxsplit=1)[0].upper()
    if trigger == "ONBUILD":
        raise _Refused("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise _Refused(f"{trigger} isn't allowed as an ONBUILD trigger")
    inner = _node_from_line(rest, escape, top=False)
    inner.original = rest
    return Node("onbuild", [rest], flags, inner=inner)


def split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    """The instruction word, its leading ``--flags``, and the rest of the line."""
    parts = _WHITESPACE.split(trim_space(line), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = extract_flags(parts[1], escape)
    return parts[0], flags, trim_space(rest)


def extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """The ``--flag`` words at the start of the arguments (quotes removed, escapes applied) and
    what follows them; a bare ``--`` ends them, as does the first word not starting with ``--``."""
    words: list[str] = []
    pos, n = 0, len(line)
    while pos < n:
        while pos < n and is_space(line[pos]):
            pos += 1
        if pos == n:
            break
        if not line.startswith("--", pos):
            return line[pos:], words
        word, blank_ok, pos = _flag_word(line, pos, escape)
        if word == "--" and pos < n:
            return line[pos:], words
        if word != "--" and (blank_ok or word):
            words.append(word)
    return "", words


def _flag_word(line: str, pos: int, escape: str) -> tuple[str, bool, int]:
    """One flag word from ``pos``: its text, whether it had quotes, and where it ended."""
    buf: list[str] = []
    quote = ""
    blank_ok = False
    n = len(line)
    while pos < n:
        ch = line[pos]
        if not quote and is_space(ch):
            break
        pos += 1
        if not quote and ch in ("'", '"'):
            quote, blank_ok = ch, True
            continue
        if quote and ch == quote:
            quote = ""
            continue
        if ch == escape:
            if pos == n:
                break  # an escape char at the end is dropped
            ch = line[pos]
            pos += 1
        buf.append(ch)
    return "".join(buf), blank_ok, pos


def parse_words(rest: str, escape: str) -> list[str]:
    """Words split on unquoted whitespace, quotes and escapes kept (they are removed when the
    words are expanded); BuildKit's parseWords, for ENV, LABEL and ARG."""
    words: list[str] = []
    buf: list[str] = []
    in_word = blank_ok = False
    quote = ""
    i, n = 0, len(rest)
    while i < n:
        ch = rest[i]
        i += 1
        if not in_word and not quote:
            if is_space(ch):
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i == n:
                    continue  # a trailing escape char is dropped
                buf.append(ch)
                ch = rest[i]
                i += 1
            buf.append(ch)
            continue
        if is_space(ch):
            if blank_ok or buf:
                words.append("".join(buf))
            buf, in_word, blank_ok = [], False, False
            continue
        if ch in ("'", '"'):
            quote, blank_ok = ch, True
        elif ch == escape:
            if i == n:
                continue
            buf.append(ch)
            ch = rest[i]
            i += 1
        buf.append(ch)
    if (in_word or quote) and (blank_ok or buf):
        words.append("".join(buf))
    return words


def _name_vals(rest: str, words: list[str], key: str, escape: str) -> list[str]:
    """ENV/LABEL: ``name=value ...`` pairs, or the legacy ``name value`` (the rest of the line
    is the value, as written)."""
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise InvalidArgument(f"{key} must have two arguments")
        return [parts[0], parts[1], ""]
    out: list[str] = []
    for word in words:
        name, eq, value = word.partition("=")
        if not eq:
            raise InvalidArgument(
                f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value"
            )
        out += [name, value, "="]
    return out


def _json_array(rest: str) -> list[str] | None:
    """A JSON array of strings, or None when the text is not JSON (then it is shell form); an
    array of anything else is an error, as in BuildKit."""
    rest = _strip_leading_space(rest)
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_no_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise InvalidArgument(_NOT_STRINGS)
    return [re.sub("[\ud800-\udfff]", "\ufffd", v) for v in value]  # Go's lone surrogates


def _no_constant(name: str) -> None:
    raise ValueError(name)  # NaN and Infinity are not JSON to Go


def _maybe_json(rest: str, escape: str) -> tuple[list[str], bool]:
    if not rest:
        return [], False
    arr = _json_array(rest)
    return (arr, True) if arr is not None else ([rest], False)


def _maybe_json_list(rest: str, escape: str) -> tuple[list[str], bool]:
    arr = _json_array(rest)
    return (arr, True) if arr is not None else (_whitespace_words(rest, escape), False)


def _whitespace_words(rest: str, escape: str) -> list[str]:
    return _WHITESPACE.split(rest) if rest else []


def _string(rest: str, escape: str) -> tuple[list[str], bool]:
    return ([rest] if rest else []), False


def _words(rest: str, escape: str) -> tuple[list[str], bool]:
    return parse_words(rest, escape), False


def _fields(rest: str, escape: str) -> tuple[list[str], bool]:
    return _whitespace_words(rest, escape), False


def _healthcheck(rest: str, escape: str) -> tuple[list[str], bool]:
    """``NONE``, or a type word (``CMD``) and a command in either form."""
    sep = 0
    while sep < len(rest) and not is_space(rest[sep]):
        sep += 1
    if sep == 0:
        return [], False
    cmd, is_json = _maybe_json(_strip_leading_space(rest[sep:]), escape)
    return [rest[:sep], *cmd], is_json


_DISPATCH: dict[str, Callable[[str, str], tuple[list[str], bool]]] = {
    "add": _maybe_json_list,
    "arg": _words,
    "cmd": _maybe_json,
    "copy": _maybe_json_list,
    "entrypoint": _maybe_json,
    "env": _words,
    "expose": _fields,
    "from": _fields,
    "healthcheck": _healthcheck,
    "label": _words,
    "maintainer": _string,
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _string,
    "user": _string,
    "volume": _maybe_json_list,
    "workdir": _string,
}
