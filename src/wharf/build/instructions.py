"""Parsed nodes to typed instructions and build stages, as BuildKit's instructions package has them.

The parser gave each instruction its arguments as strings; this layer checks their number, reads
the flags each instruction takes (``COPY --from``, ``RUN --mount``, ``HEALTHCHECK --interval``),
and groups the commands under their ``FROM``. Words are not expanded here: ``$VAR`` in a value is
kept as written (quotes too, for ENV/LABEL/ARG), because what it means depends on the ARGs and
ENVs in effect when the stage is built; shell.expand does that, later.

Errors are BuildKit's, with its ``dockerfile parse error on line N:`` prefix (DockerfileError.at),
since ``docker build`` users read and search for those words.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from wharf.build.flags import Device, FlagError, Flags, Kind, Mount, go_duration, parse_device, parse_mount
from wharf.build.parser import Dockerfile, DockerfileError, Heredoc, Node, chomp_heredoc, parse_heredoc
from wharf.build.shell import ShellError, go_quote, trim_space
from wharf.errors import InvalidArgument

NETWORKS = ("default", "none", "host")
SECURITY = ("insecure", "sandbox")
_STAGE_NAME = re.compile(r"[a-z][a-z0-9._-]*")
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE | re.ASCII)
_MS = 10**6
_DUPLICATE = "Duplicate stage name {}, stage names should be unique"  # BuildKit's lint rule


@dataclass(kw_only=True)
class Command:
    """What every instruction has: where it starts, and its text (continuations joined)."""

    line: int = 0
    original: str = ""


@dataclass(kw_only=True)
class From(Command):
    base: str
    name: str = ""  # lowercased; "" when there is no AS
    platform: str = ""  # --platform, unexpanded


@dataclass(kw_only=True)
class Run(Command):
    cmd: list[str]  # exec form: the argv; shell form: one string for the SHELL
    shell_form: bool
    mounts: list[Mount] = field(default_factory=list)
    # the raw --mount values: a spec holding "$" is only checked for ``from`` here (BuildKit's
    # parse-time pass) and is to be re-read with parse_mount(spec, expander) when the stage runs
    mount_specs: list[str] = field(default_factory=list)
    network: str = "default"
    security: str = "sandbox"
    devices: list[Device] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)  # as written; chomp applies at use
    flags_used: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class SourceContent:
    """A heredoc given as a COPY/ADD source: a file named ``path`` holding ``data``."""

    path: str
    data: str  # leading tabs already stripped for <<-
    expand: bool


@dataclass(kw_only=True)
class _Transfer(Command):
    sources: list[str]  # paths (or URLs for ADD); heredoc sources are in ``heredocs``
    dest: str
    heredocs: list[SourceContent] = field(default_factory=list)
    chown: str = ""
    chmod: str = ""
    link: bool = False
    exclude: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class Copy(_Transfer):
    from_: str = ""
    parents: bool = False


@dataclass(kw_only=True)
class Add(_Transfer):
    keep_git_dir: bool | None = None  # None: not given
    checksum: str = ""
    unpack: bool | None = None  # None: not given (archives from the context are unpacked)


@dataclass(kw_only=True)
class Env(Command):
    pairs: list[tuple[str, str]]  # values as written: quotes and $ are expanded at build time
    legacy: bool = False  # the ``ENV key value`` form


@dataclass(kw_only=True)
class Label(Command):
    pairs: list[tuple[str, str]]
    legacy: bool = False


@dataclass(kw_only=True)
class Arg(Command):
    pairs: list[tuple[str, str | None]]  # None: no default


ArgCmd = Arg


@dataclass(kw_only=True)
class Workdir(Command):
    path: str


@dataclass(kw_only=True)
class User(Command):
    user: str


@dataclass(kw_only=True)
class Expose(Command):
    ports: list[str]  # sorted, as BuildKit keeps them


@dataclass(kw_only=True)
class Volume(Command):
    paths: list[str]


@dataclass(kw_only=True)
class Cmd(Command):
    cmd: list[str]
    shell_form: bool


@dataclass(kw_only=True)
class Entrypoint(Command):
    cmd: list[str] | None  # None: ENTRYPOINT [] or a bare ENTRYPOINT, which reset it
    shell_form: bool


@dataclass(kw_only=True)
class Healthcheck(Command):
    test: list[str]  # ["NONE"], ["CMD", argv...] or ["CMD-SHELL", "command"]
    interval: int = 0  # nanoseconds; 0: the default
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(kw_only=True)
class Shell(Command):
    shell: list[str]


@dataclass(kw_only=True)
class StopSignal(Command):
    signal: str


@dataclass(kw_only=True)
class Onbuild(Command):
    expression: str  # the trigger's text (and its heredocs), run when a build uses this image


@dataclass(kw_only=True)
class Maintainer(Command):
    maintainer: str


@dataclass
class Stage:
    name: str  # lowercased; "" when the FROM has no AS
    base: str
    platform: str
    commands: list[Command]
    line: int
    original: str = ""


@dataclass
class Parsed:
    meta_args: list[Arg]  # the ARGs before the first FROM
    stages: list[Stage]


def parse_file(df: Dockerfile) -> Parsed:
    """The stages of a parsed Dockerfile, each with its commands."""
    meta: list[Arg] = []
    stages: list[Stage] = []
    names: set[str] = set()
    for node in df.nodes:
        cmd = parse_instruction(node)
        if not stages and isinstance(cmd, Arg):
            meta.append(cmd)
        elif isinstance(cmd, From):
            if cmd.name and cmd.name in names:
                raise DockerfileError(_DUPLICATE.format(go_quote(cmd.name)), node.start_line)
            names.add(cmd.name)
            stages.append(Stage(cmd.name, cmd.base, cmd.platform, [], cmd.line, cmd.original))
        elif not stages:
            raise DockerfileError("no build stage in current context", node.start_line)
        else:
            stages[-1].commands.append(cmd)
    return Parsed(meta, stages)


def parse_instruction(node: Node) -> Command:
    """One node as its typed instruction (a From begins a stage)."""
    fn = _PARSERS.get(node.keyword)
    try:
        if fn is None:
            raise InvalidArgument(f"unknown instruction: {node.keyword.upper()}")
        cmd = fn(node, Flags(node.flags))
    except InvalidArgument as e:
        raise DockerfileError.at(node.start_line, str(e)) from None
    cmd.line, cmd.original = node.start_line, trim_space(node.original)
    return cmd


def _at_least_one(node: Node, name: str) -> None:
    if not node.args:
        raise InvalidArgument(f"{name} requires at least one argument")


def _exactly_one(node: Node, name: str) -> str:
    if len(node.args) != 1:
        raise InvalidArgument(f"{name} requires exactly one argument")
    return node.args[0]


def _cmdline(node: Node) -> list[str]:
    """Exec form: the words; shell form: the words as one string, for the SHELL to run."""
    if not node.args:
        return []
    return list(node.args) if node.json else [" ".join(node.args)]


def _pairs(node: Node, name: str) -> tuple[list[tuple[str, str]], bool]:
    """ENV/LABEL's ``name, value, delimiter`` triples."""
    args = node.args
    if not args:
        raise InvalidArgument(f"{name} requires at least one argument")
    if len(args) % 3:
        raise InvalidArgument(f"Bad input to {name}, too many arguments")
    pairs = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise InvalidArgument(f"{name} names can not be blank")
        pairs.append((args[i], args[i + 1]))
    return pairs, args[2] == ""


def _env(node: Node, flags: Flags) -> Command:
    flags.parse()
    pairs, legacy = _pairs(node, "ENV")
    return Env(pairs=pairs, legacy=legacy)


def _label(node: Node, flags: Flags) -> Command:
    flags.parse()
    pairs, legacy = _pairs(node, "LABEL")
    return Label(pairs=pairs, legacy=legacy)


def _arg(node: Node, flags: Flags) -> Command:
    """``ARG name`` or ``ARG name=default`` (several allowed). BuildKit reads no flags here."""
    _at_least_one(node, "ARG")
    pairs: list[tuple[str, str | None]] = []
    for word in node.args:
        key, eq, value = word.partition("=")
        if eq and not key:
            raise InvalidArgument("ARG names can not be blank")
        pairs.append((key, value if eq else None))
    return Arg(pairs=pairs)


def _maintainer(node: Node, flags: Flags) -> Command:
    who = _exactly_one(node, "MAINTAINER")
    flags.parse()
    return Maintainer(maintainer=who)


def _from(node: Node, flags: Flags) -> Command:
    """``FROM [--platform=p] image [AS name]``: the name is lowercased, then must start with a
    letter and hold only letters, digits, ``-``, ``_`` and ``.``."""
    args = node.args
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if _STAGE_NAME.fullmatch(name) is None:
            raise InvalidArgument(
                f"invalid name for build stage: {go_quote(args[2])}, "
                "name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise InvalidArgument("FROM requires either one or three arguments")
    flags.add("platform", Kind.STRING)
    flags.parse()
    return From(base=args[0], name=name, platform=flags.value("platform"))


def _onbuild(node: Node, flags: Flags) -> Command:
    """The trigger kept as text (BuildKit keeps the line as written, heredocs appended), since
    it is parsed again when a build uses the image. The parser refused ONBUILD/FROM/MAINTAINER."""
    _at_least_one(node, "ONBUILD")
    flags.parse()
    expression = _ONBUILD_PREFIX.sub("", node.original, count=1)
    for doc in node.heredocs:
        expression += "\n" + doc.content + doc.name
    return Onbuild(expression=expression)


def _workdir(node: Node, flags: Flags) -> Command:
    path = _exactly_one(node, "WORKDIR")
    flags.parse()
    return Workdir(path=path)


def _user(node: Node, flags: Flags) -> Command:
    user = _exactly_one(node, "USER")
    flags.parse()
    return User(user=user)


def _stopsignal(node: Node, flags: Flags) -> Command:
    """BuildKit reads no flags for STOPSIGNAL; the signal is checked when the image is made."""
    return StopSignal(signal=_exactly_one(node, "STOPSIGNAL"))


def _expose(node: Node, flags: Flags) -> Command:
    _at_least_one(node, "EXPOSE")
    flags.parse()
    return Expose(ports=sorted(node.args))


def _volume(node: Node, flags: Flags) -> Command:
    _at_least_one(node, "VOLUME")
    flags.parse()
    paths = [trim_space(p) for p in node.args]
    if "" in paths:
        raise InvalidArgument("VOLUME specified can not be an empty string")
    return Volume(paths=paths)


def _cmd(node: Node, flags: Flags) -> Command:
    flags.parse()
    return Cmd(cmd=_cmdline(node), shell_form=not node.json)


def _entrypoint(node: Node, flags: Flags) -> Command:
    flags.parse()
    return Entrypoint(cmd=_cmdline(node) or None, shell_form=not node.json)


def _shell(node: Node, flags: Flags) -> Command:
    flags.parse()
    shell = _cmdline(node)
    if not shell:
        raise InvalidArgument("SHELL requires at least one argument")
    if not node.json:
        raise InvalidArgument("SHELL requires the arguments to be in JSON form")
    return Shell(shell=shell)


def _run(node: Node, flags: Flags) -> Command:
    """RUN and its flags: ``--mount`` (repeatable), ``--network``, ``--security``, ``--device``."""
    flags.add("device", Kind.STRINGS)
    flags.add("mount", Kind.STRINGS)
    flags.add("network", Kind.STRING, "default")
    flags.add("security", Kind.STRING, "sandbox")
    flags.parse()
    devices = [parse_device(d) for d in flags.lists["device"]]
    specs = flags.lists["mount"]
    mounts = [parse_mount(s, None if "$" in s else _same) for s in specs]
    network, security = flags.value("network"), flags.value("security")
    if network not in NETWORKS:
        raise InvalidArgument(f"invalid network mode {go_quote(network)}")
    if security not in SECURITY:
        raise InvalidArgument(f"security {go_quote(security)} is not valid")
    return Run(
        cmd=_cmdline(node),
        shell_form=not node.json,
        mounts=mounts,
        mount_specs=list(specs),
        network=network,
        security=security,
        devices=devices,
        heredocs=list(node.heredocs),
        flags_used=list(dict.fromkeys(flags.used)),
    )


def _same(word: str) -> str:
    return word


def _must_heredoc(word: str) -> Heredoc | None:
    try:
        return parse_heredoc(word)
    except ShellError:
        return None


def _sources(node: Node, name: str) -> tuple[list[str], str, list[SourceContent]]:
    """COPY/ADD's paths, destination and heredoc sources (``COPY <<EOF /etc/motd``)."""
    *srcs, dest = node.args
    if _must_heredoc(dest) is not None:
        raise InvalidArgument(f"{name} cannot accept a heredoc as a destination")
    bodies = {doc.name: doc.content for doc in node.heredocs}
    paths: list[str] = []
    contents: list[SourceContent] = []
    for src in srcs:
        doc = _must_heredoc(src)
        if doc is None:
            paths.append(src)
            continue
        data = bodies.get(doc.name, "")
        contents.append(SourceContent(path=doc.name, data=chomp_heredoc(data) if doc.chomp else data,
                                      expand=doc.expand))  # fmt: skip
    return paths, dest, contents


def _transfer_flags(node: Node, flags: Flags, name: str, extra: dict[str, Kind]) -> None:
    if len(node.args) < 2:
        raise InvalidArgument(
            f"{name} requires at least two arguments, but only one was provided. "
            "Destination could not be determined"
        )
    for flag, kind in {"chown": Kind.STRING, "chmod": Kind.STRING, "link": Kind.BOOL, **extra}.items():
        flags.add(flag, kind)
    flags.parse()


def _copy(node: Node, flags: Flags) -> Command:
    extra = {"from": Kind.STRING, "exclude": Kind.STRINGS, "parents": Kind.BOOL}
    _transfer_flags(node, flags, "COPY", extra)
    paths, dest, contents = _sources(node, "COPY")
    return Copy(
        sources=paths,
        dest=dest,
        heredocs=contents,
        from_=flags.value("from"),
        chown=flags.value("chown"),
        chmod=flags.value("chmod"),
        link=flags.true("link"),
        exclude=flags.lists["exclude"],
        parents=flags.true("parents"),
    )


def _add(node: Node, flags: Flags) -> Command:
    extra = {"keep-git-dir": Kind.BOOL, "checksum": Kind.STRING, "unpack": Kind.BOOL}
    extra["exclude"] = Kind.STRINGS
    _transfer_flags(node, flags, "ADD", extra)
    paths, dest, contents = _sources(node, "ADD")
    return Add(
        sources=paths,
        dest=dest,
        heredocs=contents,
        chown=flags.value("chown"),
        chmod=flags.value("chmod"),
        link=flags.true("link"),
        exclude=flags.lists["exclude"],
        keep_git_dir=flags.true("keep-git-dir") if "keep-git-dir" in flags.used else None,
        checksum=flags.value("checksum"),
        unpack=flags.true("unpack") if "unpack" in flags.used else None,
    )


def _interval(flags: Flags, name: str) -> int:
    """A HEALTHCHECK duration flag: 0 when not given or 0, else at least 1ms."""
    value = flags.value(name)
    if not value:
        return 0
    ns = go_duration(value)
    if ns != 0 and ns < _MS:
        raise FlagError(f"Interval {go_quote(name)} cannot be less than 1ms")
    return ns


def _retries(value: str) -> int:
    """Go's strconv.ParseInt(value, 10, 32), and no negative count."""
    if not value:
        return 0
    if re.fullmatch(r"[+-]?[0-9]+", value) is None:
        raise FlagError(f"strconv.ParseInt: parsing {go_quote(value)}: invalid syntax")
    n = int(value)
    if not -(1 << 31) <= n < 1 << 31:
        raise FlagError(f"strconv.ParseInt: parsing {go_quote(value)}: value out of range")
    if n < 0:
        raise FlagError(f"--retries cannot be negative ({n})")
    return n


def _healthcheck(node: Node, flags: Flags) -> Command:
    """``HEALTHCHECK NONE`` (flags are not read), or ``[--interval= --timeout= --start-period=
    --start-interval= --retries=] CMD command`` in either form."""
    _at_least_one(node, "HEALTHCHECK")
    kind, args = node.args[0].upper(), node.args[1:]
    if kind == "NONE":
        if args:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(test=["NONE"])
    for name in ("interval", "timeout", "start-period", "start-interval", "retries"):
        flags.add(name, Kind.STRING)
    flags.parse()
    if kind != "CMD":
        raise InvalidArgument(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    cmd = _cmdline(Node("cmd", args, json=node.json))
    if not cmd:
        raise InvalidArgument("Missing command after HEALTHCHECK CMD")
    return Healthcheck(
        test=["CMD" if node.json else "CMD-SHELL", *cmd],
        interval=_interval(flags, "interval"),
        timeout=_interval(flags, "timeout"),
        start_period=_interval(flags, "start-period"),
        start_interval=_interval(flags, "start-interval"),
        retries=_retries(flags.value("retries")),
    )


_PARSERS: dict[str, Callable[[Node, Flags], Command]] = {
    "add": _add,
    "arg": _arg,
    "cmd": _cmd,
    "copy": _copy,
    "entrypoint": _entrypoint,
    "env": _env,
    "expose": _expose,
    "from": _from,
    "healthcheck": _healthcheck,
    "label": _label,
    "maintainer": _maintainer,
    "onbuild": _onbuild,
    "run": _run,
    "shell": _shell,
    "stopsignal": _stopsignal,
    "user": _user,
    "volume": _volume,
    "workdir": _workdir,
}
