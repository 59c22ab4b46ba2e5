"""BuildKit's shell lexer: the variable expansion and word splitting a Dockerfile's words get.

A Dockerfile is not run by a shell, yet its words (``COPY $SRC /app``, ``ENV PATH=$PATH:/x``,
``WORKDIR ${HOME:-/root}``) are expanded as if by a small POSIX-ish one. Images built by wharf
must come out as BuildKit's do, so this is a port of the rules of BuildKit's
``frontend/dockerfile/shell`` lexer, quirks included:

* quotes are removed; inside ``'...'`` nothing is special; inside ``"..."`` the escape character
  (``\\`` or the ``# escape=`` one) only escapes ``"``, ``$`` and itself, else it stays;
* outside quotes the escape character makes the next character literal (``\\$HOME``);
* ``$v``, ``${v}``, ``${v:-d}``, ``${v-d}``, ``${v:+a}``, ``${v+a}``, ``${v:?msg}``, ``${v?msg}``,
  ``${v#p}``, ``${v##p}``, ``${v%p}``, ``${v%%p}`` (``*`` and ``?`` globs), ``${v/p/r}`` and
  ``${v//p/r}``; ``$1`` style positional names and the special ``$@ $* $# ...`` expand to "";
* word splitting (``expand_words``) splits what a ``$`` expansion yields on spaces, but never
  what came from quotes.

One BuildKit quirk is not copied: since dockerfile 1.9 its word splitter shares one buffer
between a word and the ``${v:-...}`` inside it, so ``ab${x:-c}d`` splits to ``["cd"]``; here it
is ``["abcd"]``, as before 1.9 and as a shell does.

Errors carry BuildKit's wording (``failed to process "${v:?}": v: is not allowed to be unset``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from wharf.errors import InvalidArgument

EOF = ""  # what peek/next give at the end; every membership test below is on a frozenset
# Go's unicode.IsSpace: ASCII space, NEL, NBSP and the Unicode White_Space set above Latin-1
GO_SPACES = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" + (
    "\u2028\u2029\u202f\u205f\u3000"
)
_SPACE_SET = frozenset(GO_SPACES)
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_HEREDOC_SPACE = frozenset("\t\r ")
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
_REGEX_SPECIAL = frozenset("[]{}.+()|^$")


class ShellError(InvalidArgument):
    """A word the lexer cannot expand (a missing quote or brace, a ``${v:?}`` that fired)."""


class _LexError(Exception):
    """Raised inside the lexer; ``Lex`` wraps it as BuildKit does (``failed to process ...``)."""


def is_space(ch: str) -> bool:
    """Go's unicode.IsSpace (Python's str.isspace also takes the ASCII separators 0x1c-0x1f)."""
    return ch in _SPACE_SET


def trim_space(s: str) -> str:
    """Go's strings.TrimSpace."""
    return s.strip(GO_SPACES)


def go_quote(s: str) -> str:
    """Go's strconv.Quote: how BuildKit's messages (``%q``) and AST dumps quote a string."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch == " " or (ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF):
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """The word with its variables expanded and its quotes removed (BuildKit's ProcessWord):
    what ENV, LABEL, WORKDIR, USER, ... values become."""
    return Lex(escape).process_word(word, env)


def expand_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """The word expanded, then split on the spaces that did not come from quotes (BuildKit's
    ProcessWords, as EXPOSE uses it)."""
    return Lex(escape).process_words(word, env)


class _Words:
    """The words being built while a string is lexed (BuildKit's wordsStruct)."""

    __slots__ = ("buf", "in_word", "words")

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if not is_space(ch):
            self.add_raw(ch)
        elif self.in_word and "".join(self.buf):
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw(self, s: str) -> None:
        self.buf.append(s)
        self.in_word = True

    def done(self) -> list[str]:
        if "".join(self.buf):
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class Lex:
    """BuildKit's shell.Lex with its switches: ``raw_quotes`` keeps the quote characters,
    ``raw_escapes`` keeps the escape characters, ``skip_unset_env`` leaves unset variables as
    written (``$X``, ``${X:-d}``) and ``skip_process_quotes`` treats quotes as plain characters.
    The parser uses the raw forms to find heredoc words; instructions use the plain one."""

    def __init__(
        self,
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset_env: bool = False,
        skip_process_quotes: bool = False,
    ) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset_env = skip_unset_env
        self.skip_process_quotes = skip_process_quotes

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        return self._process(word, env)[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        return self._process(word, env)[1]

    def _process(self, word: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
        try:
            return _Scan(self, word, env).stop_on(EOF, self.raw_escapes)
        except _LexError as e:
            raise ShellError(f"failed to process {go_quote(word)}: {e}") from None


class _Scan:
    """One pass over one word: a cursor, the variables, and the lexer's switches."""

    def __init__(self, lex: Lex, text: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.special = frozenset("$<" if lex.skip_process_quotes else "$<'\"")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else EOF

    def next(self) -> str:
        ch = self.peek()
        self.pos += len(ch)
        return ch

    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Lex up to ``stop`` (consumed) or the end (when ``stop`` is EOF): the expanded text and
        its words. Running out before ``stop`` is an error."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        escape = self.lex.escape
        while (ch := self.peek()) != EOF:
            if stop != EOF and ch == stop:
                self.next()
                return "".join(result), words.done()
            if ch in self.special:
                tmp = self._special(ch)
                result.append(tmp)
                if ch == "$":
                    words.add_string(tmp)
                else:
                    words.add_raw(tmp)
                continue
            ch = self.next()
            if ch == escape:
                if self.raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.next()
                if ch == EOF:
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop != EOF:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.done()

    def _special(self, ch: str) -> str:
        if ch == "$":
            return self._dollar()
        if ch == "<":
            return self._possible_heredoc()
        if ch == "'":
            return self._single_quote()
        return self._double_quote()

    def _single_quote(self) -> str:
        """Everything up to the next ``'`` as it is; there is no escaping a ``'``."""
        opening = self.next()
        out = [opening] if self.lex.raw_quotes else []
        while True:
            ch = self.next()
            if ch == EOF:
                raise _LexError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quote(self) -> str:
        """Up to the next unescaped ``"``, with ``$`` expanded; the escape character only escapes
        ``"``, ``$`` and itself (BuildKit leaves backquotes alone)."""
        opening = self.next()
        out = [opening] if self.lex.raw_quotes else []
        escape = self.lex.escape
        while True:
            peek = self.peek()
            if peek == EOF:
                raise _LexError("unexpected end of statement while looking for matching double-quote")
            if peek == '"':
                ch = self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if peek == "$":
                out.append(self._dollar())
                continue
            ch = self.next()
            if ch == escape:
                if self.raw_escapes:
                    out.append(ch)
                after = self.peek()
                if after == EOF:
                    continue  # the error comes on the next turn
                if after in ('"', "$", escape):
                    ch = self.next()
            out.append(ch)

    def _possible_heredoc(self) -> str:
        """``<<`` and the blanks after it stay one piece, so ``<< EOF`` is a single word."""
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        blanks = []
        while self.peek() in _HEREDOC_SPACE:
            blanks.append(self.next())
        return "<<" + "".join(blanks)

    def _name(self) -> str:
        """A variable name: letters, digits and ``_``; a leading digit run (``$12``) or one special
        parameter (``$@``, ``$?``, ...) is a whole name."""
        name: list[str] = []
        while (ch := self.peek()) != EOF:
            if not name and ch.isdecimal():
                while self.peek() != EOF and self.peek().isdecimal():
                    name.append(self.next())
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            name.append(self.next())
        return "".join(name)

    def _get(self, name: str) -> tuple[str, bool]:
        value = self.env.get(name)
        return ("", False) if value is None else (value, True)

    def _dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._get(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value
        self.next()
        first = self.peek()
        if first == EOF:
            raise _LexError("syntax error: missing '}'")
        if first in ("{", "}", ":"):
            raise _LexError("syntax error: bad substitution")
        name = self._name()
        ch = self.next()
        if ch == "}":
            value, found = self._get(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self._replace(name)
        if ch == ":" or ch in ("+", "-", "?", "#", "%"):
            return self._modifier(name, ch)
        raise _LexError(f"unsupported modifier ({ch or chr(0xFFFD)}) in substitution")

    def _modifier(self, name: str, ch: str) -> str:
        """``${name<op>word}`` for the ops that take a word: defaults, alternatives, errors and
        the prefix/suffix trims."""
        null_is_unset = ch == ":"
        chs = ch
        if null_is_unset:
            ch = self.next()
            chs += ch or chr(0xFFFD)  # Go's string(EOF)
        trims = ch in ("#", "%")
        if null_is_unset and trims:
            raise _LexError(f"unsupported modifier ({chs}) in substitution")
        word = self._stop_on_brace("}", trims, "syntax error: missing '}'")
        value, found = self._get(name)
        if self.lex.skip_unset_env and not found:
            return "${" + name + chs + word + "}"
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = word[:1] == ch
            pattern = word[1:] if greedy else word
            if ch == "%":
                return _trim_suffix(pattern, value, greedy)
            return _trim_prefix(pattern, value, greedy)
        raise _LexError(f"unsupported modifier ({chs}) in substitution")

    def _stop_on_brace(self, stop: str, raw_escapes: bool, missing: str) -> str:
        try:
            return self.stop_on(stop, raw_escapes)[0]
        except _LexError:
            if self.peek() == EOF:
                raise _LexError(missing) from None
            raise

    def _replace(self, name: str) -> str:
        """``${name/pattern/replacement}`` (first match) and ``${name//pattern/replacement}``
        (every match); the pattern is a glob, matched greedily anywhere."""
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        pattern = self._stop_on_brace("/", True, "syntax error: missing '/' in ${}")
        replacement = self._stop_on_brace("}", True, "syntax error: missing '}'")
        value, found = self._get(name)
        if self.lex.skip_unset_env and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _glob_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return _replace_all(regex, value, replacement)
        m = regex.search(value)
        if m is None:
            return value
        return value[: m.start()] + _go_expand(replacement, m.group(0)) + value[m.end() :]


def _glob_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell pattern (``*``, ``?``, ``\\`` escapes; no brackets) as a regular expression. A
    ``\\`` before ``}`` or ``/`` only kept it from ending the ``${}``, so it is dropped."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
            continue
        if tok == "?":
            out.append(".")
            continue
        if tok == "\\":
            after = pattern[i] if i < len(pattern) else EOF
            if after in ("}", "/"):
                continue
            i += len(after)
            if after not in ("*", "?", "\\"):
                shown = after or chr(0xFFFD)
                raise _LexError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{shown}'")
            out.append("\\" + after)
            continue
        out.append("\\" + tok if tok in _REGEX_SPECIAL else tok)
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _glob_regex(pattern, greedy, anchored=True).search(value)
    return value[m.end() :] if m else value


def _reverse_pattern(pattern: str) -> str:
    """The pattern backwards, an escape still before the character it escapes (``a\\*c`` ->
    ``c\\*a``), so that the shortest/longest *suffix* can be found as a prefix."""
    out = [""] * len(pattern)
    last = len(pattern) - 1
    i = 0
    while i <= last:
        at = last - i
        if pattern[i] == "\\" and i != last:
            out[at - 1], out[at] = "\\", pattern[i + 1]
            i += 2
        else:
            out[at] = pattern[i]
            i += 1
    return "".join(out)


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _replace_all(regex: re.Pattern[str], value: str, template: str) -> str:
    """Go's Regexp.ReplaceAllString: an empty match right after a match is not replaced (Python's
    re.sub replaces it, so ``${v//*/x}`` would give ``xx``)."""
    out: list[str] = []
    last_end = 0
    pos = 0
    while pos <= len(value):
        m = regex.search(value, pos)
        if m is None:
            break
        out.append(value[last_end : m.start()])
        if m.end() > last_end or m.start() == 0:
            out.append(_go_expand(template, m.group(0)))
        last_end = m.end()
        pos = pos + 1 if pos + 1 > m.end() else m.end()
    out.append(value[last_end:])
    return "".join(out)


_TEMPLATE_REF = re.compile(r"\$(?:\$|\{(\w+)\}|(\w+))")


def _go_expand(template: str, match: str) -> str:
    """Go's Regexp.Expand for a pattern without groups: ``$$`` is ``$``, ``$0``/``${0}`` the
    match, any other ``$name`` nothing, a ``$`` without a name itself."""

    def ref(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(2)
        return match if name == "0" else ""

    return _TEMPLATE_REF.sub(ref, template)
