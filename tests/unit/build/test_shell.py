"""BuildKit's shell lexer as wharf.build.shell ports it: quotes, escapes, every ${} form, word
splitting, and the errors in BuildKit's words."""

from __future__ import annotations

import pytest

from wharf.build.shell import Lex, ShellError, expand, expand_words, go_quote

ENV = {"HOME": "/root", "EMPTY": "", "NAME": "wharf", "SP": " a  b ", "FILE": "archive.tar.gz",
       "PATHS": "/usr/local/bin:/usr/bin:/bin", "URL": "http://example.com/x"}  # fmt: skip


@pytest.mark.parametrize(
    "word,out",
    [
        ("plain", "plain"),
        ("", ""),
        # quotes are removed; nothing is special in single quotes
        ("'single'", "single"),
        ("mi'x'ed", "mixed"),
        ("'$HOME \\n'", "$HOME \\n"),
        ("'it\\'", "it\\"),
        ('"double"', "double"),
        ('"it\'s"', "it's"),
        ("\"''\"", "''"),
        # the escape char outside quotes makes the next char literal, and is dropped at the end
        ("\\$HOME", "$HOME"),
        ("a\\ b", "a b"),
        ("\\\\", "\\"),
        ("tail\\", "tail"),
        ("x\\y", "xy"),
        # inside double quotes it only escapes " $ and itself
        ('"a\\"b"', 'a"b'),
        ('"\\$HOME"', "$HOME"),
        ('"a\\\\b"', "a\\b"),
        ('"a\\nb"', "a\\nb"),
        # plain variables
        ("$HOME", "/root"),
        ("${HOME}", "/root"),
        ("$HOME/.cache", "/root/.cache"),
        ("${HOME}x", "/rootx"),
        ("$HOMEx", ""),
        ("$UNSET", ""),
        ('"$HOME"', "/root"),
        ('"${NAME}-${HOME}"', "wharf-/root"),
        ("'${NAME}'", "${NAME}"),
        ("$", "$"),
        ("a$", "a$"),
        ("$.", "$."),
        ("$-", ""),  # a special parameter: never set
        ("$1x", "x"),
        ("${12}", ""),
        # defaults and alternatives, with and without the colon
        ("${UNSET:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${UNSET-dflt}", "dflt"),
        ("${NAME:-dflt}", "wharf"),
        ("${UNSET:-$HOME}", "/root"),
        ("${UNSET:-${ALSO:-nested}}", "nested"),
        ("${UNSET:-a b}", "a b"),
        ("${UNSET:-\\}}", "}"),
        ("${NAME:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${UNSET+alt}", ""),
        ("${NAME?}", "wharf"),
        ("${EMPTY?}", ""),
        ("${NAME:?must be set}", "wharf"),
        ("${NAME}}", "wharf}"),
        # prefix and suffix trims with globs
        ("${FILE#*.}", "tar.gz"),
        ("${FILE##*.}", "gz"),
        ("${FILE%.*}", "archive.tar"),
        ("${FILE%%.*}", "archive"),
        ("${FILE#archive}", ".tar.gz"),
        ("${FILE#nomatch}", "archive.tar.gz"),
        ("${FILE%?z}", "archive.tar."),
        ("${FILE#}", "archive.tar.gz"),
        ("${PATHS%%:*}", "/usr/local/bin"),
        ("${PATHS##*:}", "/bin"),
        ("${UNSET#x}", ""),
        ("${FILE#$NAME}", "archive.tar.gz"),
        # replacement: first match, or every match; the pattern is a greedy glob
        ("${PATHS/:/ }", "/usr/local/bin /usr/bin:/bin"),
        ("${PATHS//:/ }", "/usr/local/bin /usr/bin /bin"),
        ("${URL/http:/https:}", "https://example.com/x"),
        ("${URL//\\//_}", "http:__example.com_x"),
        ("${FILE/.*/}", "archive"),
        ("${NAME//?/x}", "xxxxx"),
        ("${NAME//*/x}", "x"),  # Go's ReplaceAll: no second, empty, match at the end
        ("${NAME/$EMPTY/pre-}", "pre-wharf"),
        ("${NAME///}", "wharf"),
        ("${UNSET//a/b}", ""),
        ("${NAME/a/\\$0}", "wh\\arf"),  # the escape stays; Go's $0 in a replacement is the match
    ],
)
def test_expand(word: str, out: str) -> None:
    assert expand(word, ENV) == out


@pytest.mark.parametrize(
    "word,message",
    [
        ("'open", "unexpected end of statement while looking for matching single-quote"),
        ('"open', "unexpected end of statement while looking for matching double-quote"),
        ('"open\\"', "unexpected end of statement while looking for matching double-quote"),
        ("${", "syntax error: missing '}'"),
        ("${HOME", "unsupported modifier (\ufffd) in substitution"),
        ("${UNSET:-x", "syntax error: missing '}'"),
        ("${}", "syntax error: bad substitution"),
        ("${:-x}", "syntax error: bad substitution"),
        ("${{x}", "syntax error: bad substitution"),
        ("${.}", "unsupported modifier (.) in substitution"),
        ("${HOME:=x}", "unsupported modifier (:=) in substitution"),
        ("${HOME=x}", "unsupported modifier (=) in substitution"),
        ("${HOME:x}", "unsupported modifier (:x) in substitution"),
        ("${HOME:#x}", "unsupported modifier (:#) in substitution"),
        ("${HOME:%%x}", "unsupported modifier (:%) in substitution"),
        ("${UNSET?}", "UNSET: is not allowed to be unset"),
        ("${UNSET:?}", "UNSET: is not allowed to be unset"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
        ("${UNSET?give it}", "UNSET: give it"),
        ("${EMPTY:?give it}", "EMPTY: give it"),
        ("${HOME/x}", "syntax error: missing '/' in ${}"),
        ("${HOME/x/y", "syntax error: missing '}'"),
        ("${HOME#\\a}", "invalid pattern (\\a) in substitution: invalid escape '\\a'"),
    ],
)
def test_expand_errors(word: str, message: str) -> None:
    with pytest.raises(ShellError) as e:
        expand(word, ENV)
    assert str(e.value) == f"failed to process {go_quote(word)}: {message}"


@pytest.mark.parametrize(
    "word,words",
    [
        ("a b  c", ["a", "b", "c"]),
        ("  lead trail  ", ["lead", "trail"]),
        ("80/tcp 443", ["80/tcp", "443"]),
        ("$SP", ["a", "b"]),  # what a variable yields is split
        ("x${SP}y", ["x", "a", "b", "y"]),
        ('"$SP"', [" a  b "]),  # what came from quotes is not
        ('x"$SP"y', ["x a  b y"]),
        ("'a b' c", ["a b", "c"]),
        ("a\\ b c", ["a b", "c"]),
        ('a\\" b', ['a"', "b"]),
        ("$UNSET", []),
        ('""', []),
        ("pre${UNSET:-a b}post", ["prea", "bpost"]),
        ("${NAME}s ${HOME}", ["wharfs", "/root"]),
    ],
)
def test_expand_words(word: str, words: list[str]) -> None:
    assert expand_words(word, ENV) == words


def test_backtick_escape() -> None:
    """With ``# escape=``` the backslash is an ordinary character (Windows paths)."""
    assert expand("C:\\Users\\$NAME", ENV, "`") == "C:\\Users\\wharf"
    assert expand("`$NAME", ENV, "`") == "$NAME"
    assert expand('"a`"b"', ENV, "`") == 'a"b'
    assert expand_words("a` b c", ENV, "`") == ["a b", "c"]


@pytest.mark.parametrize(
    "word,out",
    [
        ("$UNSET", "$UNSET"),
        ("${UNSET}", "${UNSET}"),
        ("${UNSET:-d}", "${UNSET:-d}"),
        ("${UNSET/a/b}", "${UNSET/a/b}"),
        ("$NAME", "wharf"),
        ("'q'", "'q'"),
        ('"q"', '"q"'),
        ("a\\b", "a\\b"),
        ("<<  EOF", "<<  EOF"),
    ],
)
def test_raw_lexer(word: str, out: str) -> None:
    """The switches the heredoc finder uses: quotes, escapes and unset variables kept."""
    lex = Lex(raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    assert lex.process_word(word, ENV) == out


def test_heredoc_marker_stays_one_word() -> None:
    assert Lex(skip_unset_env=True).process_words("RUN <<  EOF > out", {}) == ["RUN", "<<  EOF", ">", "out"]


@pytest.mark.parametrize(
    "s,quoted",
    [
        ("plain", '"plain"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("\t\n\r\x00\x7f", '"\\t\\n\\r\\x00\\x7f"'),
        ("♥ é", '"♥ é"'),
        ("\u00a0\u200b", '"\\u00a0\\u200b"'),
        ("\U0001f600\U000e0001", '"\U0001f600\\U000e0001"'),
    ],
)
def test_go_quote(s: str, quoted: str) -> None:
    assert go_quote(s) == quoted
