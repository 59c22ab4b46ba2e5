"""The Dockerfile parser: directives, continuations, comments, heredocs, each instruction's
argument form, and the errors, checked through BuildKit's AST dump format."""

from __future__ import annotations

import pytest

from wharf.build.parser import DockerfileError, Heredoc, chomp_heredoc, dump, parse, parse_heredoc


@pytest.mark.parametrize(
    "text,expected",
    [
        # exec form (a JSON array of strings) or shell form (the rest of the line, as written)
        ('RUN ["echo", "hi there"]', '(run "echo" "hi there")'),
        ("RUN echo  hi   there", '(run "echo  hi   there")'),
        ("CMD []", "(cmd)"),
        ('CMD [""]', '(cmd "")'),
        ('CMD\t[ "a" ,\t"b" ]  ', '(cmd "a" "b")'),
        ('CMD ["\\u00e9", "tab\\there", "nul\\u0000"]', '(cmd "é" "tab\\there" "nul\\x00")'),
        ("CMD ['single', 'quotes']", "(cmd \"['single', 'quotes']\")"),
        ('CMD ["unterminated"', '(cmd "[\\"unterminated\\"")'),
        ('CMD ["a"] trailing', '(cmd "[\\"a\\"] trailing")'),
        ('CMD "[\\"a\\"]"', '(cmd "\\"[\\\\\\"a\\\\\\"]\\"")'),
        ('ENTRYPOINT ["/bin/sh", "-c"]', '(entrypoint "/bin/sh" "-c")'),
        ('SHELL ["/bin/bash", "-eo", "pipefail", "-c"]', '(shell "/bin/bash" "-eo" "pipefail" "-c")'),
        ("SHELL bash -c", '(shell "bash -c")'),
        # whitespace-separated lists, or a JSON array
        ("COPY a  b\tc /dst/", '(copy "a" "b" "c" "/dst/")'),
        ('COPY ["with space", "/dst"]', '(copy "with space" "/dst")'),
        ("ADD https://example.com/x.tgz /", '(add "https://example.com/x.tgz" "/")'),
        ('VOLUME ["/a", "/b"]', '(volume "/a" "/b")'),
        ("VOLUME /a /b", '(volume "/a" "/b")'),
        ("EXPOSE 80 443/tcp", '(expose "80" "443/tcp")'),
        ("FROM alpine AS base", '(from "alpine" "AS" "base")'),
        # one string
        ("WORKDIR /my dir", '(workdir "/my dir")'),
        ("USER app:app", '(user "app:app")'),
        ("STOPSIGNAL SIGQUIT", '(stopsignal "SIGQUIT")'),
        ("MAINTAINER Jane <j@x.org>", '(maintainer "Jane <j@x.org>")'),
        # ENV / LABEL: name=value words (quotes and escapes kept), or the legacy name value
        ("ENV A=1", '(env "A" "1" "=")'),
        ("ENV A=1 B=2", '(env "A" "1" "=" "B" "2" "=")'),
        ("ENV A=\"x y\" B='z w'", '(env "A" "\\"x y\\"" "=" "B" "\'z w\'" "=")'),
        ("ENV A=x\\ y", '(env "A" "x\\\\ y" "=")'),
        ('ENV A="q\\"uote"', '(env "A" "\\"q\\\\\\"uote\\"" "=")'),
        ("ENV A= B=", '(env "A" "" "=" "B" "" "=")'),
        ("ENV A=b=c", '(env "A" "b=c" "=")'),
        ("ENV PATH /usr/bin:$PATH", '(env "PATH" "/usr/bin:$PATH" "")'),
        ('ENV MSG  hello  "world" ', '(env "MSG" "hello  \\"world\\"" "")'),
        ('LABEL "a.b"="c d" e=f', '(label "\\"a.b\\"" "\\"c d\\"" "=" "e" "f" "=")'),
        ("LABEL version 1.0", '(label "version" "1.0" "")'),
        # ARG: words, kept whole
        ("ARG A", '(arg "A")'),
        ('ARG A=1 B="two words" C', '(arg "A=1" "B=\\"two words\\"" "C")'),
        # flags: leading --words, quotes removed, -- ends them
        ("COPY --from=build --chown=1:1 a b", '(copy ["--from=build" "--chown=1:1"] "a" "b")'),
        ('COPY --chown="a b" x y', '(copy ["--chown=a b"] "x" "y")'),
        ("COPY --chown=a\\ b x y", '(copy ["--chown=a b"] "x" "y")'),
        ("COPY -- --weird /d", '(copy "--weird" "/d")'),
        ("COPY --link -- a b", '(copy ["--link"] "a" "b")'),
        ("COPY -x a", '(copy "-x" "a")'),
        ('RUN --mount=type=cache,target=/c ["make"]', '(run ["--mount=type=cache,target=/c"] "make")'),
        ("RUN --network=none", '(run ["--network=none"])'),
        ("FROM --platform=linux/arm64 alpine", '(from ["--platform=linux/arm64"] "alpine")'),
        ("MAINTAINER --boo me", '(maintainer ["--boo"] "me")'),
        # HEALTHCHECK: a type word then a command in either form
        ("HEALTHCHECK NONE", '(healthcheck "NONE")'),
        ("HEALTHCHECK CMD curl -f http://x/", '(healthcheck "CMD" "curl -f http://x/")'),
        ('HEALTHCHECK --retries=2 CMD ["true"]', '(healthcheck ["--retries=2"] "CMD" "true")'),
        ("HEALTHCHECK", "(healthcheck)"),
        ("HEALTHCHECK CMD", '(healthcheck "CMD")'),
        # ONBUILD: the trigger parsed beneath it
        ("ONBUILD RUN make", '(onbuild (run "make"))'),
        ('ONBUILD RUN ["make", "all"]', '(onbuild (run "make" "all"))'),
        ("ONBUILD COPY --chown=1 . /src", '(onbuild (copy ["--chown=1"] "." "/src"))'),
        ("ONBUILD ENV A=1", '(onbuild (env "A" "1" "="))'),
        ("ONBUILD", "(onbuild)"),
        ("ONBUILD FOO bar", '(onbuild (foo ""))'),
        # instructions and flags in any case; missing arguments are left to instructions.py
        ("from Alpine\nrun Echo", '(from "Alpine")\n(run "Echo")'),
        ("Copy a b", '(copy "a" "b")'),
        ("RUN", "(run)"),
        ("COPY", "(copy)"),
        ("ENV", "(env)"),
        ("ARG", "(arg)"),
    ],
)
def test_dump(text: str, expected: str) -> None:
    assert dump(parse(text)) == expected


@pytest.mark.parametrize(
    "text,directives,escape,expected",
    [
        ("# syntax=docker/dockerfile:1\nFROM a", {"syntax": "docker/dockerfile:1"}, "\\", '(from "a")'),
        ("#SYNTAX = x \n# Check=skip=all\nFROM a", {"syntax": "x", "check": "skip=all"}, "\\", '(from "a")'),
        ("# escape=`\nFROM a\nRUN x `\n  y", {"escape": "`"}, "`", '(from "a")\n(run "x   y")'),
        ("  # escape = `\nFROM a", {"escape": "`"}, "`", '(from "a")'),
        ("# escape=\\\nFROM a", {"escape": "\\"}, "\\", '(from "a")'),
        # a comment, a blank line or an unknown directive ends the directives
        ("# hello\n# escape=`\nFROM a \\\n b", {}, "\\", '(from "a" "b")'),
        ("\n# escape=`\nFROM a", {}, "\\", '(from "a")'),
        ("# foo=bar\n# escape=`\nFROM a", {}, "\\", '(from "a")'),
        ("FROM a\n# escape=`\nRUN x", {}, "\\", '(from "a")\n(run "x")'),
        ("# syntax=\nFROM a", {}, "\\", '(from "a")'),
    ],
)
def test_directives(text: str, directives: dict[str, str], escape: str, expected: str) -> None:
    df = parse(text)
    assert (df.directives, df.escape, dump(df)) == (directives, escape, expected)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("RUN a \\\n  b", '(run "a   b")'),
        ("RUN a\\\nb", '(run "ab")'),
        ("RUN a \\   \t\nb", '(run "a b")'),  # blanks after the escape char
        ("RUN a \\\\\nFROM b", '(run "a \\\\\\\\")\n(from "b")'),  # an escaped escape char ends the line
        ("RUN a \\\n# comment\n  # indented comment\nb", '(run "a b")'),
        ("RUN a \\\n\n   \nb", '(run "a b")'),
        ("RUN a \\\n\\\nb", '(run "a b")'),
        ("RUN a \\", '(run "a")'),  # a continuation at the end of the file
        ("RUN a \\\n", '(run "a")'),
        ("  RUN  indented", '(run "indented")'),
        ("\t# comment\nRUN a # not a comment", '(run "a # not a comment")'),
        ("RUN a\r\nRUN b\r\n", '(run "a")\n(run "b")'),
        ("RUN a \\\r\n  b\r\n", '(run "a   b")'),
        ("\ufeffFROM a", '(from "a")'),
        ("\ufeff# escape=`\nFROM a `\nb", '(from "a" "b")'),
    ],
)
def test_lines(text: str, expected: str) -> None:
    assert dump(parse(text)) == expected


def test_empty_continuation_lines_warn_once_per_instruction() -> None:
    df = parse("FROM a\nRUN x \\\n\n  y \\\n\n  z\nRUN ok \\\n# comment\n  fine")
    assert dump(df) == '(from "a")\n(run "x   y   z")\n(run "ok   fine")'
    assert df.warnings == ["Empty continuation line found in: RUN x   y   z"]


def test_line_numbers_and_original() -> None:
    text = "# syntax=x\n\nFROM a\n\nRUN one \\\n  # c\n  two\nCOPY <<EOF /f\nbody\nEOF\nCMD x"
    df = parse(text)
    assert [(n.keyword, n.start_line, n.end_line) for n in df.nodes] == [
        ("from", 3, 3),
        ("run", 5, 7),
        ("copy", 8, 10),
        ("cmd", 11, 11),
    ]
    assert df.nodes[1].original == "RUN one   two"
    assert df.nodes[2].original == "COPY <<EOF /f"


@pytest.mark.parametrize(
    "text,heredocs",
    [
        ("RUN <<EOF\necho hi\nEOF", [Heredoc("EOF", "echo hi\n")]),
        ("RUN <<EOF\nEOF", [Heredoc("EOF", "")]),
        ("RUN <<-EOF\n\tone\n\t\ttwo\n\tEOF", [Heredoc("EOF", "\tone\n\t\ttwo\n", chomp=True)]),
        ("RUN <<EOF\n\tEOF\nEOF", [Heredoc("EOF", "\tEOF\n")]),  # no <<-: a tabbed name is body
        ("RUN <<'EOF'\n$HOME\nEOF", [Heredoc("EOF", "$HOME\n", expand=False)]),
        ('RUN <<"EOF"\n$HOME\nEOF', [Heredoc("EOF", "$HOME\n", expand=False)]),
        ("RUN <<E'O'F\nx\nEOF", [Heredoc("EOF", "x\n", expand=False)]),
        ("RUN <<-'EOF'\n\tx\nEOF", [Heredoc("EOF", "\tx\n", expand=False, chomp=True)]),
        ("RUN << EOF\nx\nEOF", [Heredoc("EOF", "x\n")]),
        ("RUN 3<<IN cat <&3\nx\nIN", [Heredoc("IN", "x\n", fd=3)]),
        ("RUN python3 <<PY\nprint(1)\nPY", [Heredoc("PY", "print(1)\n")]),
        ("RUN <<A <<B\na\nA\nb\nB", [Heredoc("A", "a\n"), Heredoc("B", "b\n")]),
        ("COPY <<one <<two /d/\n1\none\n2\ntwo", [Heredoc("one", "1\n"), Heredoc("two", "2\n")]),
        ("ADD <<x.txt /x.txt\nhello\nx.txt", [Heredoc("x.txt", "hello\n")]),
        ("RUN <<EOF\r\nwin\r\nEOF\r\n", [Heredoc("EOF", "win\r\n")]),
        ("RUN --mount=type=cache,target=/c <<EOF\nmake\nEOF", [Heredoc("EOF", "make\n")]),
        ("RUN <<EOF\n# a comment in the body\n\nEOF", [Heredoc("EOF", "# a comment in the body\n\n")]),
        # not heredocs: quoted as a whole, JSON form, not RUN/COPY/ADD, $ left as written
        ('RUN echo "<<EOF"', []),
        ('RUN ["cat", "<<EOF"]', []),
        ("RUN <<$V\nx\n$V", [Heredoc("$V", "x\n")]),
    ],
)
def test_heredocs(text: str, heredocs: list[Heredoc]) -> None:
    assert parse(text).nodes[0].heredocs == heredocs


def test_heredoc_lines_are_not_instructions() -> None:
    df = parse("FROM a\nRUN <<EOF bash\nFROM b\nCOPY x y\nEOF\nUSER me")
    assert dump(df) == '(from "a")\n(run "<<EOF bash")\n(user "me")'
    assert df.nodes[1].end_line == 5


def test_heredoc_only_for_run_copy_add() -> None:
    df = parse("FROM a\nUSER <<EOF\nRUN x")
    assert [n.keyword for n in df.nodes] == ["from", "user", "run"]
    assert df.nodes[1].heredocs == []


def test_onbuild_heredoc() -> None:
    df = parse("FROM a\nONBUILD RUN <<EOF\nmake\nEOF\nCMD x")
    onbuild = df.nodes[1]
    assert onbuild.args == ["RUN <<EOF"] and onbuild.inner is not None
    assert onbuild.heredocs == [Heredoc("EOF", "make\n")] == onbuild.inner.heredocs
    assert (onbuild.start_line, onbuild.end_line) == (2, 4)


@pytest.mark.parametrize(
    "word,heredoc",
    [
        ("<<EOF", Heredoc("EOF")),
        ("<<-EOF", Heredoc("EOF", chomp=True)),
        ("<<'EOF'", Heredoc("EOF", expand=False)),
        ('<<-"EOF"', Heredoc("EOF", expand=False, chomp=True)),
        ("<<  EOF", Heredoc("EOF")),
        ("12<<EOF", Heredoc("EOF", fd=12)),
        ("<<E\\'F", Heredoc("E'F")),
        ("<<'a b'", Heredoc("a b", expand=False)),
        ("<<", None),
        ("<<-", None),
        ("<EOF", None),
        ("<<<EOF", None),
        ("EOF", None),
        ("<<EOF sh", None),
        ("x<<EOF", None),
    ],
)
def test_parse_heredoc(word: str, heredoc: Heredoc | None) -> None:
    assert parse_heredoc(word) == heredoc


def test_chomp_heredoc() -> None:
    assert chomp_heredoc("\t\ta\n  b\n\tc\t\n") == "a\n  b\nc\t\n"


@pytest.mark.parametrize(
    "text,message,line",
    [
        ("FROM a\nFOO bar", "dockerfile parse error on line 2: unknown instruction: FOO", 2),
        (
            "FROM a\n\nfrobnicate \\\n  x",
            "dockerfile parse error on line 3: unknown instruction: frobnicate",
            3,
        ),
        ("FROM a\n\\\n", "dockerfile parse error on line 2: unknown instruction: ", 2),
        (
            "FROM a\nONBUILD ONBUILD RUN x",
            "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
            2,
        ),
        ("ONBUILD FROM x", "dockerfile parse error on line 1: FROM isn't allowed as an ONBUILD trigger", 1),
        (
            "ONBUILD maintainer x",
            "dockerfile parse error on line 1: MAINTAINER isn't allowed as an ONBUILD trigger",
            1,
        ),
        ("FROM a\nENV PATH", "ENV must have two arguments", 2),
        ("FROM a\nLABEL x", "LABEL must have two arguments", 2),
        ("ENV A=1 B", 'Syntax error - can\'t find = in "B". Must be of the form: name=value', 1),
        (
            'LABEL a=b \\\n  "c d"',
            'Syntax error - can\'t find = in "\\"c d\\"". Must be of the form: name=value',
            1,
        ),
        ('CMD ["a", 1]', "when using JSON array syntax, arrays must be comprised of strings only", 1),
        (
            'FROM a\nRUN ["a", ["b"]]',
            "when using JSON array syntax, arrays must be comprised of strings only",
            2,
        ),
        (
            'HEALTHCHECK CMD ["a", null]',
            "when using JSON array syntax, arrays must be comprised of strings only",
            1,
        ),
        ("FROM a\nRUN <<EOF\nno end", "unterminated heredoc", 2),
        ("FROM a\nCOPY <<A <<B /d\na\nA\nb", "unterminated heredoc", 2),
        ("", "file with no instructions", 0),
        ("# only\n\n  # comments\n", "file with no instructions", 3),
        ("# escape=x\nFROM a", "invalid escape token 'x' does not match ` or \\", 1),
        ("# escape=\\\n# ESCAPE=`\nFROM a", "only one escape parser directive can be used", 2),
        ("# syntax=a\n# syntax=b\nFROM a", "only one syntax parser directive can be used", 2),
        ("FROM a\nRUN " + "x" * 70000, "dockerfile line greater than max allowed size of 65535", 2),
    ],
)
def test_errors(text: str, message: str, line: int) -> None:
    with pytest.raises(DockerfileError) as e:
        parse(text)
    assert (str(e.value), e.value.line) == (message, line)


def test_the_error_keeps_its_bare_reason() -> None:
    with pytest.raises(DockerfileError) as e:
        parse("FROM a\nBOGUS")
    assert e.value.reason == "unknown instruction: BOGUS"


# ~10 Dockerfiles as they are written in the wild, with the dump BuildKit's parser gives

GO = """\
# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \\
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \\
    --mount=type=cache,target=/root/.cache/go-build \\
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ./cmd/app

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/app /app
USER nonroot:nonroot
ENTRYPOINT ["/app"]
"""
GO_DUMP = """\
(arg "GO_VERSION=1.22")
(from ["--platform=$BUILDPLATFORM"] "golang:${GO_VERSION}-alpine" "AS" "build")
(workdir "/src")
(copy "go.mod" "go.sum" "./")
(run ["--mount=type=cache,target=/go/pkg/mod"] "go mod download")
(copy "." ".")
(arg "TARGETOS" "TARGETARCH")
(run ["--mount=type=cache,target=/go/pkg/mod" "--mount=type=cache,target=/root/.cache/go-build"] \
"CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -o /out/app ./cmd/app")
(from "gcr.io/distroless/static:nonroot")
(copy ["--from=build"] "/out/app" "/app")
(user "nonroot:nonroot")
(entrypoint "/app")"""

PYTHON = """\
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=off
LABEL org.opencontainers.image.title="demo app" \\
      org.opencontainers.image.version=1.0
RUN apt-get update \\
 && apt-get install -y --no-install-recommends \\
      build-essential \\
      libpq-dev \\
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s \\
  CMD curl -fsS http://localhost:8000/health || exit 1
CMD ["gunicorn", "-b", "0.0.0.0:8000", "app:app"]
"""
PYTHON_DUMP = """\
(from "python:3.12-slim")
(env "PYTHONDONTWRITEBYTECODE" "1" "=" "PYTHONUNBUFFERED" "1" "=" "PIP_NO_CACHE_DIR" "off" "=")
(label "org.opencontainers.image.title" "\\"demo app\\"" "=" "org.opencontainers.image.version" "1.0" "=")
(run "apt-get update  && apt-get install -y --no-install-recommends       build-essential       libpq-dev  \
&& rm -rf /var/lib/apt/lists/*")
(workdir "/app")
(copy "requirements.txt" ".")
(run "pip install -r requirements.txt")
(copy "." ".")
(expose "8000")
(healthcheck ["--interval=30s" "--timeout=3s"] "CMD" "curl -fsS http://localhost:8000/health || exit 1")
(cmd "gunicorn" "-b" "0.0.0.0:8000" "app:app")"""

NODE = """\
FROM node:20-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:20-alpine
ENV NODE_ENV production
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node . .
USER node
EXPOSE 3000
STOPSIGNAL SIGTERM
CMD ["node", "server.js"]
"""
NODE_DUMP = """\
(from "node:20-alpine" "AS" "deps")
(workdir "/app")
(copy "package.json" "package-lock.json" "./")
(run "npm ci --omit=dev")
(from "node:20-alpine")
(env "NODE_ENV" "production" "")
(workdir "/app")
(copy ["--from=deps" "--chown=node:node"] "/app/node_modules" "./node_modules")
(copy ["--chown=node:node"] "." ".")
(user "node")
(expose "3000")
(stopsignal "SIGTERM")
(cmd "node" "server.js")"""

WINDOWS = """\
# escape=`
FROM mcr.microsoft.com/windows/servercore:ltsc2022
SHELL ["powershell", "-Command", "$ErrorActionPreference = 'Stop';"]
RUN New-Item -ItemType Directory C:\\app ; `
    Set-Location C:\\app
COPY app\\ C:\\app\\
WORKDIR C:\\app
ENTRYPOINT ["C:\\\\app\\\\app.exe"]
"""
WINDOWS_DUMP = """\
(from "mcr.microsoft.com/windows/servercore:ltsc2022")
(shell "powershell" "-Command" "$ErrorActionPreference = 'Stop';")
(run "New-Item -ItemType Directory C:\\\\app ;     Set-Location C:\\\\app")
(copy "app\\\\" "C:\\\\app\\\\")
(workdir "C:\\\\app")
(entrypoint "C:\\\\app\\\\app.exe")"""

HEREDOCS = """\
# syntax=docker/dockerfile:1
FROM alpine:3.19
RUN <<EOF
set -e
apk add --no-cache curl
EOF
COPY <<-"CONF" /etc/app.conf
\tlisten = $PORT
\tCONF
RUN <<A cat >/a && <<B cat >/b
a
A
b
B
RUN python3 <<'PY'
print("hi")
PY
"""
HEREDOCS_DUMP = """\
(from "alpine:3.19")
(run "<<EOF")
(copy "<<-\\"CONF\\"" "/etc/app.conf")
(run "<<A cat >/a && <<B cat >/b")
(run "python3 <<'PY'")"""

NGINX = """\
FROM nginx:1.25-alpine
LABEL maintainer="ops@example.com"
RUN rm /etc/nginx/conf.d/default.conf
COPY nginx.conf /etc/nginx/conf.d/site.conf
COPY --chmod=644 public/ /usr/share/nginx/html/
VOLUME ["/var/cache/nginx", "/var/log/nginx"]
EXPOSE 80 443
HEALTHCHECK NONE
"""
NGINX_DUMP = """\
(from "nginx:1.25-alpine")
(label "maintainer" "\\"ops@example.com\\"" "=")
(run "rm /etc/nginx/conf.d/default.conf")
(copy "nginx.conf" "/etc/nginx/conf.d/site.conf")
(copy ["--chmod=644"] "public/" "/usr/share/nginx/html/")
(volume "/var/cache/nginx" "/var/log/nginx")
(expose "80" "443")
(healthcheck "NONE")"""

ONBUILD = """\
FROM ruby:3.3
MAINTAINER Jane Doe <jane@example.com>
ONBUILD COPY Gemfile Gemfile.lock /app/
ONBUILD RUN bundle install --jobs 4
ONBUILD RUN ["bundle", "exec", "rake", "assets:precompile"]
ONBUILD ARG RAILS_ENV=production
WORKDIR /app
"""
ONBUILD_DUMP = """\
(from "ruby:3.3")
(maintainer "Jane Doe <jane@example.com>")
(onbuild (copy "Gemfile" "Gemfile.lock" "/app/"))
(onbuild (run "bundle install --jobs 4"))
(onbuild (run "bundle" "exec" "rake" "assets:precompile"))
(onbuild (arg "RAILS_ENV=production"))
(workdir "/app")"""

RUST = """\
FROM rust:1.77 AS builder
WORKDIR /usr/src/app
RUN --mount=type=ssh \\
    --mount=type=secret,id=cargo_token,env=CARGO_REGISTRY_TOKEN \\
    # fetch the private crates
    cargo fetch

RUN cargo build --release \\

    --locked
FROM debian:bookworm-slim
COPY --from=builder /usr/src/app/target/release/app /usr/local/bin/app
CMD app --serve
"""
RUST_DUMP = """\
(from "rust:1.77" "AS" "builder")
(workdir "/usr/src/app")
(run ["--mount=type=ssh" "--mount=type=secret,id=cargo_token,env=CARGO_REGISTRY_TOKEN"] "cargo fetch")
(run "cargo build --release     --locked")
(from "debian:bookworm-slim")
(copy ["--from=builder"] "/usr/src/app/target/release/app" "/usr/local/bin/app")
(cmd "app --serve")"""

LOWERCASE_CRLF = '\ufefffrom busybox\r\nrun echo hello \\\r\n  world\r\nentrypoint ["sh"]\r\n'
LOWERCASE_CRLF_DUMP = '(from "busybox")\n(run "echo hello   world")\n(entrypoint "sh")'

JAVA = """\
ARG JDK=21
FROM eclipse-temurin:${JDK}-jre
ARG APP_USER=app APP_UID="10001"
ENV JAVA_OPTS "-Xms256m -Xmx512m"
LABEL "com.example.vendor"="Example Corp" version=2.1 description="A \\"quoted\\" value"
RUN useradd -u ${APP_UID} ${APP_USER}
COPY --chown=${APP_USER} build/libs/*.jar /opt/app/app.jar
USER ${APP_USER}
ENTRYPOINT exec java $JAVA_OPTS -jar /opt/app/app.jar
"""
JAVA_DUMP = """\
(arg "JDK=21")
(from "eclipse-temurin:${JDK}-jre")
(arg "APP_USER=app" "APP_UID=\\"10001\\"")
(env "JAVA_OPTS" "\\"-Xms256m -Xmx512m\\"" "")
(label "\\"com.example.vendor\\"" "\\"Example Corp\\"" "=" "version" "2.1" "=" \
"description" "\\"A \\\\\\"quoted\\\\\\" value\\"" "=")
(run "useradd -u ${APP_UID} ${APP_USER}")
(copy ["--chown=${APP_USER}"] "build/libs/*.jar" "/opt/app/app.jar")
(user "${APP_USER}")
(entrypoint "exec java $JAVA_OPTS -jar /opt/app/app.jar")"""


@pytest.mark.parametrize(
    "text,expected",
    [
        (GO, GO_DUMP),
        (PYTHON, PYTHON_DUMP),
        (NODE, NODE_DUMP),
        (WINDOWS, WINDOWS_DUMP),
        (HEREDOCS, HEREDOCS_DUMP),
        (NGINX, NGINX_DUMP),
        (ONBUILD, ONBUILD_DUMP),
        (RUST, RUST_DUMP),
        (LOWERCASE_CRLF, LOWERCASE_CRLF_DUMP),
        (JAVA, JAVA_DUMP),
    ],
    ids=["go", "python", "node", "windows", "heredocs", "nginx", "onbuild", "rust", "crlf", "java"],
)
def test_realistic_dockerfiles(text: str, expected: str) -> None:
    assert dump(parse(text)) == expected


def test_realistic_details() -> None:
    go = parse(GO)
    assert go.directives == {"syntax": "docker/dockerfile:1.7"}
    assert [(n.start_line, n.end_line) for n in go.nodes][:5] == [(2, 2), (4, 4), (5, 5), (6, 6), (7, 8)]
    rust = parse(RUST)
    assert rust.warnings == ["Empty continuation line found in: RUN cargo build --release     --locked"]
    heredocs = parse(HEREDOCS).nodes
    assert heredocs[1].heredocs == [Heredoc("EOF", "set -e\napk add --no-cache curl\n")]
    assert heredocs[2].heredocs == [Heredoc("CONF", "\tlisten = $PORT\n", expand=False, chomp=True)]
    assert heredocs[3].heredocs == [Heredoc("A", "a\n"), Heredoc("B", "b\n")]
    assert heredocs[4].heredocs == [Heredoc("PY", 'print("hi")\n', expand=False)]
    assert parse(WINDOWS).escape == "`"
