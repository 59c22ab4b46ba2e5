"""Nodes to typed instructions and stages: each instruction, its flags (mounts, durations), the
stage rules, and BuildKit's error words with the line."""

from __future__ import annotations

import pytest

from wharf.build.flags import (
    Device,
    FlagError,
    Flags,
    Kind,
    Mount,
    csv_fields,
    go_duration,
    parse_device,
    parse_mount,
)
from wharf.build.instructions import (
    Add,
    Arg,
    Cmd,
    Command,
    Copy,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Parsed,
    Run,
    Shell,
    SourceContent,
    Stage,
    StopSignal,
    User,
    Volume,
    Workdir,
    parse_file,
    parse_instruction,
)
from wharf.build.parser import DockerfileError, Heredoc, parse

S = 10**9
MS = 10**6
CSV = "failed to parse csv mounts: parse error on line 1, "
QUOTE = 'extraneous or missing " in quoted-field'


def one(text: str) -> Command:
    """The typed form of the one instruction after a FROM."""
    return parse_instruction(parse("FROM scratch\n" + text).nodes[1])


def _cmp(cmd: Command) -> Command:
    cmd.line, cmd.original = 0, ""
    return cmd


@pytest.mark.parametrize(
    "text,expected",
    [
        ("ENV A=1 B='x y'", Env(pairs=[("A", "1"), ("B", "'x y'")])),
        ("ENV PATH /bin:$PATH", Env(pairs=[("PATH", "/bin:$PATH")], legacy=True)),
        ('LABEL a=b "c"="d e"', Label(pairs=[("a", "b"), ('"c"', '"d e"')])),
        ("LABEL v 1", Label(pairs=[("v", "1")], legacy=True)),
        ('ARG A B=2 C= D="q"', Arg(pairs=[("A", None), ("B", "2"), ("C", ""), ("D", '"q"')])),
        ("ARG --ignored=1 A", Arg(pairs=[("A", None)])),  # BuildKit reads no flags for ARG
        ("WORKDIR /app", Workdir(path="/app")),
        ("USER 1000:1000", User(user="1000:1000")),
        ("EXPOSE 8080 80/udp 443", Expose(ports=["443", "80/udp", "8080"])),
        ('VOLUME ["/a", " /b "]', Volume(paths=["/a", "/b"])),
        ("VOLUME /data", Volume(paths=["/data"])),
        ("CMD echo hi", Cmd(cmd=["echo hi"], shell_form=True)),
        ('CMD ["echo", "hi"]', Cmd(cmd=["echo", "hi"], shell_form=False)),
        ("CMD []", Cmd(cmd=[], shell_form=False)),
        ("CMD", Cmd(cmd=[], shell_form=True)),
        ('ENTRYPOINT ["/init"]', Entrypoint(cmd=["/init"], shell_form=False)),
        ("ENTRYPOINT exec app", Entrypoint(cmd=["exec app"], shell_form=True)),
        ("ENTRYPOINT []", Entrypoint(cmd=None, shell_form=False)),
        ("ENTRYPOINT", Entrypoint(cmd=None, shell_form=True)),
        ('SHELL ["/bin/bash", "-c"]', Shell(shell=["/bin/bash", "-c"])),
        ("STOPSIGNAL SIGINT", StopSignal(signal="SIGINT")),
        ("STOPSIGNAL --any=flag 9", StopSignal(signal="9")),  # BuildKit reads no flags here
        ("MAINTAINER me@x.org", Maintainer(maintainer="me@x.org")),
        ("ONBUILD RUN make", Onbuild(expression="RUN make")),
        ("onbuild  copy --chown=1 . /src", Onbuild(expression="copy --chown=1 . /src")),
        ("ONBUILD RUN <<EOF\nmake\nEOF", Onbuild(expression="RUN <<EOF\nmake\nEOF")),
        ("HEALTHCHECK NONE", Healthcheck(test=["NONE"])),
        ("HEALTHCHECK --interval=bogus NONE", Healthcheck(test=["NONE"])),  # flags unread for NONE
        ("HEALTHCHECK CMD curl -f x || exit 1", Healthcheck(test=["CMD-SHELL", "curl -f x || exit 1"])),
        ('HEALTHCHECK CMD ["curl", "-f", "x"]', Healthcheck(test=["CMD", "curl", "-f", "x"])),
        (
            "HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1ms "
            "--retries=5 cmd true",
            Healthcheck(
                test=["CMD-SHELL", "true"],
                interval=90 * S,
                timeout=500 * MS,
                start_period=2 * S,
                start_interval=MS,
                retries=5,
            ),
        ),
        ("HEALTHCHECK --interval=0s --timeout=0 --retries=0 CMD x", Healthcheck(test=["CMD-SHELL", "x"])),
    ],
)
def test_commands(text: str, expected: Command) -> None:
    assert _cmp(one(text)) == expected


def test_run() -> None:
    run = one("RUN --network=none --security=insecure --device=vendor.com/gpu=all,required apt-get update")
    assert isinstance(run, Run)
    assert (run.cmd, run.shell_form, run.network, run.security) == (
        ["apt-get update"],
        True,
        "none",
        "insecure",
    )
    assert run.devices == [Device("vendor.com/gpu=all", required=True)]
    assert sorted(run.flags_used) == ["device", "network", "security"]
    assert (run.line, run.original) == (2, "RUN --network=none --security=insecure "
                                        "--device=vendor.com/gpu=all,required apt-get update")  # fmt: skip
    plain = one('RUN ["make", "-j4"]')
    assert isinstance(plain, Run)
    assert (plain.cmd, plain.shell_form, plain.network, plain.security, plain.mounts) == (
        ["make", "-j4"],
        False,
        "default",
        "sandbox",
        [],
    )


def test_run_mounts_and_heredocs() -> None:
    run = one(
        "RUN --mount=type=cache,target=/root/.cache,sharing=locked "
        "--mount=type=secret,id=tok,env=TOKEN --mount=type=cache,target=$HOME/.npm,uid=$UID <<-EOF\n"
        "\tnpm ci\nEOF"
    )
    assert isinstance(run, Run)
    assert run.mounts[:2] == [
        Mount(type="cache", target="/root/.cache", sharing="locked"),
        Mount(type="secret", id="tok", env="TOKEN", readonly=True),
    ]
    # a spec with a variable waits for the stage's environment (BuildKit's parse-time pass)
    assert run.mount_specs[2] == "type=cache,target=$HOME/.npm,uid=$UID"
    assert parse_mount(
        run.mount_specs[2], lambda w: w.replace("$HOME", "/root").replace("$UID", "1000")
    ) == (Mount(type="cache", target="/root/.npm", uid=1000))
    assert run.heredocs == [Heredoc("EOF", "\tnpm ci\n", chomp=True)]
    assert run.cmd == ["<<-EOF"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("COPY a b /dst/", Copy(sources=["a", "b"], dest="/dst/")),
        ('COPY ["a b", "/dst"]', Copy(sources=["a b"], dest="/dst")),
        (
            "COPY --from=build --chown=app:app --chmod=0755 --link --parents --exclude=*.md --exclude=.git "
            "src/ /app/",
            Copy(
                sources=["src/"],
                dest="/app/",
                from_="build",
                chown="app:app",
                chmod="0755",
                link=True,
                parents=True,
                exclude=["*.md", ".git"],
            ),
        ),
        ("COPY --link=false a b", Copy(sources=["a"], dest="b")),
        (
            "COPY <<EOF <<-two /etc/\none\nEOF\n\tsecond\ntwo",
            Copy(
                sources=[],
                dest="/etc/",
                heredocs=[
                    SourceContent(path="EOF", data="one\n", expand=True),
                    SourceContent(path="two", data="second\n", expand=True),
                ],
            ),
        ),
        (
            "COPY x <<'RAW' /d\n$KEEP\nRAW",
            Copy(
                sources=["x"], dest="/d", heredocs=[SourceContent(path="RAW", data="$KEEP\n", expand=False)]
            ),
        ),
        ("ADD https://x/a.tgz /opt/", Add(sources=["https://x/a.tgz"], dest="/opt/")),
        (
            "ADD --checksum=sha256:24454f830c --keep-git-dir --unpack=false --chown=1 --exclude=x "
            "git@github.com:a/b.git /src",
            Add(
                sources=["git@github.com:a/b.git"],
                dest="/src",
                checksum="sha256:24454f830c",
                keep_git_dir=True,
                unpack=False,
                chown="1",
                exclude=["x"],
            ),
        ),
        ("ADD --keep-git-dir=false r /", Add(sources=["r"], dest="/", keep_git_dir=False)),
    ],
)
def test_copy_and_add(text: str, expected: Command) -> None:
    assert _cmp(one(text)) == expected


@pytest.mark.parametrize(
    "text,name,base,platform",
    [
        ("FROM alpine", "", "alpine", ""),
        ("FROM alpine AS Base", "base", "alpine", ""),
        ("FROM alpine as my-stage_1.x", "my-stage_1.x", "alpine", ""),
        ("FROM --platform=$BUILDPLATFORM golang:1.22 aS build", "build", "golang:1.22", "$BUILDPLATFORM"),
        ("FROM ${BASE:-alpine}", "", "${BASE:-alpine}", ""),
    ],
)
def test_from(text: str, name: str, base: str, platform: str) -> None:
    stage = parse_file(parse(text)).stages[0]
    assert (stage.name, stage.base, stage.platform, stage.line, stage.original) == (
        name,
        base,
        platform,
        1,
        text,
    )


def test_parse_file_groups_stages() -> None:
    text = """\
# syntax=docker/dockerfile:1
ARG VERSION=1.0
ARG REGISTRY
FROM $REGISTRY/base:$VERSION AS base
ARG VERSION
RUN make

FROM base AS final
COPY --from=base /out /out
CMD ["/out/app"]
"""
    parsed = parse_file(parse(text))
    assert [(a.line, a.pairs) for a in parsed.meta_args] == [
        (2, [("VERSION", "1.0")]),
        (3, [("REGISTRY", None)]),
    ]
    base, final = parsed.stages
    assert (base.name, base.base, base.line) == ("base", "$REGISTRY/base:$VERSION", 4)
    assert [type(c).__name__ for c in base.commands] == ["Arg", "Run"]
    assert [c.line for c in base.commands] == [5, 6]
    assert (final.name, final.base, final.line) == ("final", "base", 8)
    assert [type(c).__name__ for c in final.commands] == ["Copy", "Cmd"]


def test_parse_file_result_types() -> None:
    parsed = parse_file(parse("FROM a\nFROM b"))
    assert parsed == Parsed([], [Stage("", "a", "", [], 1, "FROM a"), Stage("", "b", "", [], 2, "FROM b")])


@pytest.mark.parametrize(
    "text,reason,line",
    [
        # argument counts
        ("FROM", "FROM requires either one or three arguments", 1),
        ("FROM a b", "FROM requires either one or three arguments", 1),
        ("FROM a IS b", "FROM requires either one or three arguments", 1),
        (
            "FROM a AS 1st",
            'invalid name for build stage: "1st", name can\'t start with a number or contain symbols',
            1,
        ),
        (
            "FROM a AS my/stage",
            'invalid name for build stage: "my/stage", name can\'t start with a number or contain symbols',
            1,
        ),
        (
            "FROM a\nCOPY only",
            "COPY requires at least two arguments, but only one was provided. Destination could "
            "not be determined",
            2,
        ),  # fmt: skip
        (
            "FROM a\n\nADD \\\n x",
            "ADD requires at least two arguments, but only one was provided. Destination could "
            "not be determined",
            3,
        ),  # fmt: skip
        ("FROM a\nCOPY <<EOF <<X\nx\nEOF\ny\nX", "COPY cannot accept a heredoc as a destination", 2),
        ("FROM a\nENV", "ENV requires at least one argument", 2),
        ("FROM a\nLABEL", "LABEL requires at least one argument", 2),
        ("FROM a\nENV =x", "ENV names can not be blank", 2),
        ("FROM a\nLABEL =x", "LABEL names can not be blank", 2),
        ("ARG", "ARG requires at least one argument", 1),
        ("ARG =x", "ARG names can not be blank", 1),
        ("FROM a\nEXPOSE", "EXPOSE requires at least one argument", 2),
        ("FROM a\nVOLUME", "VOLUME requires at least one argument", 2),
        ('FROM a\nVOLUME ["/a", "  "]', "VOLUME specified can not be an empty string", 2),
        ("FROM a\nONBUILD", "ONBUILD requires at least one argument", 2),
        ("FROM a\nHEALTHCHECK", "HEALTHCHECK requires at least one argument", 2),
        ("FROM a\nWORKDIR", "WORKDIR requires exactly one argument", 2),
        ("FROM a\nUSER", "USER requires exactly one argument", 2),
        ("FROM a\nSTOPSIGNAL", "STOPSIGNAL requires exactly one argument", 2),
        ("FROM a\nMAINTAINER", "MAINTAINER requires exactly one argument", 2),
        ("FROM a\nSHELL []", "SHELL requires at least one argument", 2),
        ("FROM a\nSHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form", 2),
        # flags
        ("FROM a\nCOPY --foo a b", "unknown flag: --foo", 2),
        ("FROM a\nMAINTAINER --boo joe", "unknown flag: --boo", 2),
        ("FROM a\nENV --x=1 A=b", "unknown flag: --x", 2),
        ("FROM --platform a", "missing a value on flag: --platform", 1),
        ("FROM --platform linux/amd64 a", "FROM requires either one or three arguments", 1),
        ("FROM a\nCOPY --from=a --from=b x y", "duplicate flag specified: --from", 2),
        ("FROM a\nCOPY --link= x y", "missing a value on flag: --link", 2),
        ("FROM a\nCOPY --link=yes x y", "expecting boolean value for flag --link, not: yes", 2),
        ("FROM a\nCOPY --exclude x y", "missing a value on flag: --exclude", 2),
        ("FROM a\nADD --from=x a b", "unknown flag: --from", 2),
        ("FROM a\nRUN --network=bridge x", 'invalid network mode "bridge"', 2),
        ("FROM a\nRUN --security=paranoid x", 'security "paranoid" is not valid', 2),
        ("FROM a\nRUN --mount=type=nfs x", 'unsupported mount type "nfs"', 2),
        ("FROM a\nRUN --device=a,b x", "invalid field 'b' must be a key=value pair", 2),
        # HEALTHCHECK
        ("FROM a\nHEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments", 2),
        ("FROM a\nHEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD", 2),
        ("FROM a\nHEALTHCHECK CMD []", "Missing command after HEALTHCHECK CMD", 2),
        ("FROM a\nHEALTHCHECK connect tcp 80", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)', 2),
        ("FROM a\nHEALTHCHECK --interval=500us CMD x", 'Interval "interval" cannot be less than 1ms', 2),
        (
            "FROM a\nHEALTHCHECK --start-period=-1s CMD x",
            'Interval "start-period" cannot be less than 1ms',
            2,
        ),
        ("FROM a\nHEALTHCHECK --timeout=10 CMD x", 'time: missing unit in duration "10"', 2),
        ("FROM a\nHEALTHCHECK --retries=x CMD x", 'strconv.ParseInt: parsing "x": invalid syntax', 2),
        (
            "FROM a\nHEALTHCHECK --retries=4294967296 CMD x",
            'strconv.ParseInt: parsing "4294967296": value out of range',
            2,
        ),
        ("FROM a\nHEALTHCHECK --retries=-2 CMD x", "--retries cannot be negative (-2)", 2),
        ("FROM a\nHEALTHCHECK --foo=1 CMD x", "unknown flag: --foo", 2),
    ],
)
def test_instruction_errors(text: str, reason: str, line: int) -> None:
    with pytest.raises(DockerfileError) as e:
        parse_file(parse(text))
    assert (str(e.value), e.value.reason, e.value.line) == (
        f"dockerfile parse error on line {line}: {reason}",
        reason,
        line,
    )


@pytest.mark.parametrize(
    "text,message,line",
    [
        ("RUN make", "no build stage in current context", 1),
        ("ARG A\nENV B=1\nFROM x", "no build stage in current context", 2),
        (
            "FROM a AS x\nFROM b AS y\nFROM c AS X",
            'Duplicate stage name "x", stage names should be unique',
            3,
        ),
    ],
)
def test_stage_errors(text: str, message: str, line: int) -> None:
    with pytest.raises(DockerfileError) as e:
        parse_file(parse(text))
    assert (str(e.value), e.value.line) == (message, line)


@pytest.mark.parametrize(
    "spec,mount",
    [
        ("target=/src", Mount(type="bind", target="/src", readonly=True)),
        ("type=bind,source=.,target=/src,rw", Mount(type="bind", source=".", target="/src")),
        ("type=bind,src=a,dst=/b,from=build,readwrite=true", Mount(source="a", target="/b", from_="build")),
        ("Type=BIND,Destination=/x,RO=false", Mount(target="/x")),
        ("type=cache,target=/c", Mount(type="cache", target="/c")),
        ("type=cache,target=/c,ro", Mount(type="cache", target="/c", readonly=True)),
        ("type=cache,target=/c,readonly=1", Mount(type="cache", target="/c", readonly=True)),
        (
            "type=cache,id=gomod,target=/go,sharing=Private,mode=0700,uid=1000,gid=100",
            Mount(type="cache", id="gomod", target="/go", sharing="private", mode=0o700, uid=1000, gid=100),
        ),  # fmt: skip
        ("type=tmpfs,target=/tmp,size=64m", Mount(type="tmpfs", target="/tmp", size=64 << 20)),
        (
            "type=secret,id=npmrc,target=/root/.npmrc,required",
            Mount(type="secret", id="npmrc", target="/root/.npmrc", required=True, readonly=True),
        ),  # fmt: skip
        (
            "type=secret,source=a.txt,required=false,mode=0400",
            Mount(type="secret", source="a.txt", readonly=True, mode=0o400),
        ),  # fmt: skip
        ("type=secret,id=tok,env=TOKEN", Mount(type="secret", id="tok", env="TOKEN", readonly=True)),
        ("type=ssh", Mount(type="ssh", readonly=True)),
        (
            "type=ssh,id=default,required=true,uid=1",
            Mount(type="ssh", id="default", required=True, readonly=True, uid=1),
        ),
        ('"type=bind","target=/a,b"', Mount(target="/a,b", readonly=True)),
    ],
)
def test_parse_mount(spec: str, mount: Mount) -> None:
    assert parse_mount(spec, lambda w: w) == mount


def test_parse_mount_at_parse_time_only_checks_from() -> None:
    """Without an expander (BuildKit's first pass) other keys wait for their variables."""
    assert parse_mount("type=cache,target=$DIR,uid=$UID,from=stage") == Mount(from_="stage", readonly=True)
    assert parse_mount("from=$") == Mount(from_="$", readonly=True)


@pytest.mark.parametrize(
    "spec,message",
    [
        ("type=volume", 'unsupported mount type "volume"'),
        ("type=cache,target=/c,sharing=all", 'unsupported sharing value "all"'),
        ("type=bind,target=/c,sharing=shared", "invalid cache sharing set for bind mount"),
        ("type=bind,size=1m", "unexpected key 'size' for mount type 'bind'"),
        ("type=tmpfs,size=lots", "invalid value for size: lots"),
        ("type=cache,required", "unexpected key 'required' for mount type 'cache'"),
        ("type=cache,required=true", "unexpected key 'required' for mount type 'cache'"),
        ("type=secret,id=a,required=maybe", "invalid value for required: maybe"),
        ("type=bind,ro=yes", "invalid value for ro: yes"),
        ("type=bind,rw=2", "invalid value for rw: 2"),
        ("type=cache,mode=0999", "invalid value 0999 for mode"),
        ("type=cache,uid=-1", "invalid value -1 for uid"),
        ("type=cache,gid=4294967296", "invalid value 4294967296 for gid"),
        ("type=bind,mode=0700", 'mode not allowed for "bind" type mounts'),
        ("type=tmpfs,uid=0", 'uid not allowed for "tmpfs" type mounts'),
        ("type=bind,gid=0", 'gid not allowed for "bind" type mounts'),
        ("type=cache,target=/c,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
        ("type=cache,target=/c,nope", "invalid field 'nope' must be a key=value pair"),
        ("type=secret", "invalid secret mount. one of source, target required"),
        ("type=secret,id=a,source=b", "both source and id can't be set"),
        ("type=secret,id=a,from=x", "secret mount should not have a from"),
        ("type=secret,id=a,sharing=shared", "secret mount should not define sharing"),
        ("", "failed to parse csv mounts: EOF"),
        (
            'target=/a"b',
            'failed to parse csv mounts: parse error on line 1, column 10: bare " in non-quoted-field',
        ),
        (
            '"target=/a',
            f"{CSV}column 2: {QUOTE}",
        ),
        (
            '"target"x',
            f"{CSV}column 8: {QUOTE}",
        ),
    ],
)
def test_parse_mount_errors(spec: str, message: str) -> None:
    with pytest.raises(FlagError) as e:
        parse_mount(spec, lambda w: w)
    assert str(e.value) == message


def test_parse_mount_refuses_a_variable_in_from() -> None:
    with pytest.raises(FlagError) as e:
        parse_mount("type=bind,from=$STAGE,target=/x")
    assert str(e.value) == "'from' doesn't support variable expansion, define alias stage instead"


@pytest.mark.parametrize(
    "spec,device",
    [
        ("vendor.com/gpu=all", Device("vendor.com/gpu=all")),
        ("name=vendor.com/gpu,required", Device("vendor.com/gpu", required=True)),
        ("/dev/fuse,required=false", Device("/dev/fuse")),
        ("required,nvidia.com/gpu=0", Device("nvidia.com/gpu=0", required=True)),
    ],
)
def test_parse_device(spec: str, device: Device) -> None:
    assert parse_device(spec) == device


@pytest.mark.parametrize(
    "spec,message",
    [
        ("a,name=b", "device name already set to a"),
        ("a,b", "invalid field 'b' must be a key=value pair"),
        ("a,x=y", "unexpected key 'x' in 'x=y'"),
        ("a,required=sure", "invalid value for required: sure"),
    ],
)
def test_parse_device_errors(spec: str, message: str) -> None:
    with pytest.raises(FlagError) as e:
        parse_device(spec)
    assert str(e.value) == message


def test_csv_fields() -> None:
    assert csv_fields('a,"b,c",""""') == ["a", "b,c", '"']
    assert csv_fields("a,,b\n") == ["a", "", "b"]


@pytest.mark.parametrize(
    "text,ns",
    [
        ("0", 0),
        ("-0", 0),
        ("1ns", 1),
        ("1.5us", 1500),
        ("3µs", 3000),
        ("2ms", 2 * MS),
        ("1s", S),
        ("+1s", S),
        ("1m30s", 90 * S),
        ("1h2m3s4ms", 3723 * S + 4 * MS),
        (".5s", S // 2),
        ("1.s", S),
        ("-1.5h", -5400 * S),
        ("2h45m", 9900 * S),
    ],
)
def test_go_duration(text: str, ns: int) -> None:
    assert go_duration(text) == ns


@pytest.mark.parametrize(
    "text,message",
    [
        ("", 'time: invalid duration ""'),
        ("-", 'time: invalid duration "-"'),
        ("s", 'time: invalid duration "s"'),
        (".s", 'time: invalid duration ".s"'),
        ("1", 'time: missing unit in duration "1"'),
        ("1s2", 'time: missing unit in duration "1s2"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("1 s", 'time: unknown unit " s" in duration "1 s"'),
        ("5é", 'time: unknown unit "\\xc3\\xa9" in duration "5\\xc3\\xa9"'),
        ("3000000h", 'time: invalid duration "3000000h"'),
    ],
)
def test_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(FlagError) as e:
        go_duration(text)
    assert str(e.value) == message


def test_flags() -> None:
    flags = Flags(["--a", "--b=x", "--many=1", "--many=2", "--", "--unknown"])
    flags.add("a", Kind.BOOL)
    flags.add("b", Kind.STRING, "dflt")
    flags.add("c", Kind.STRING, "dflt")
    flags.add("many", Kind.STRINGS)
    flags.parse()
    assert (flags.true("a"), flags.value("b"), flags.value("c"), flags.lists["many"]) == (
        True,
        "x",
        "dflt",
        ["1", "2"],
    )
    assert flags.used == ["a", "b", "many", "many"]
    refused = Flags(["-x"])
    with pytest.raises(FlagError) as e:
        refused.parse()
    assert str(e.value) == "arg should start with -- : -x"
