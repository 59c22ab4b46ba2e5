"""``wharf build``: ``docker build`` as the classic builder's CLI does it, over ``POST /build``.

The context is made as the docker CLI makes it (cli/command/image/build.go):

- A directory is walked with ``wharf.build.ignore`` under the patterns of ``<Dockerfile>.dockerignore``
  (next to the Dockerfile, as BuildKit has it) or else of the context's ``.dockerignore``. The
  Dockerfile and the ``.dockerignore`` go even when the patterns name them (exceptions are added,
  as ``TrimBuildFilesFromExcludes`` does; the daemon drops them after reading them). The tar is
  streamed while the walk goes on: names relative to the context, owner 0:0, mtimes in whole
  seconds, symlinks as symlinks, a hard link as a link to the first of its names sent.
- ``-f`` is relative to the working directory, not to the context. A Dockerfile outside the
  context, or ``-f -`` (stdin), goes into the tar as ``.dockerfile.<20 hex>``, the name given to
  the daemon, and that name is appended to the ``.dockerignore`` sent (made if there is none).
- ``-``: stdin is a tar (plain or compressed, sent as it is) or else a Dockerfile, alone in the
  context.

Progress (cli/buildprogress.py): ``plain`` (and ``auto`` when stdout is no terminal) prints the
daemon's stream as the classic CLI does; ``tty`` (``auto`` on a terminal) draws BuildKit-like step
lines in place; ``-q`` prints the image ID only. A failed build prints the daemon's words on
stderr and exits with its ``errorDetail.code``, else 1. Errors in the command line exit 125; a
context that cannot be made exits 1, as docker does.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

from wharf.cli.main import UsageError, die, parser
from wharf.client import Client, Response

if TYPE_CHECKING:
    import tarfile

    from wharf.build.ignore import Matcher

_BOOLS = ("--rm", "--force-rm", "--no-cache", "--pull", "--quiet", "--compress", "--squash",
          "--disable-content-trust")  # fmt: skip
PROGRESS_MODES = ("auto", "plain", "tty")
BLOCK = 512
_COMPRESSED = (b"\x1f\x8b\x08", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")  # Docker's DetectCompression
_REMOTE = ("http://", "https://", "git://", "git@", "github.com/")

# ---------------------------------------------------------------- flags


def _go_bools(args: list[str]) -> tuple[list[str], set[str]]:
    """Go's ``--flag=true|false`` for the boolean flags: (what argparse reads, the flags set false)."""
    out: list[str] = []
    off: set[str] = set()
    for arg in args:
        name, eq, value = arg.partition("=")
        if not eq or name not in _BOOLS:
            out.append(arg)
        elif value.lower() in ("1", "t", "true"):
            out.append(name)
        elif value.lower() in ("0", "f", "false"):
            off.add(name)
        else:
            raise UsageError(
                f'invalid argument "{value}" for "{name}" flag: strconv.ParseBool: parsing "{value}": '
                "invalid syntax"
            )
    return out, off


def parse_options(prog: str, args: list[str], env: Mapping[str, str]) -> argparse.Namespace:
    args, off = _go_bools(args)
    p = parser(prog, f"{prog} [OPTIONS] PATH | URL | -", "Build an image from a Dockerfile")
    for names in (("-t", "--tag"), ("--build-arg",), ("--label",), ("--add-host",), ("--cache-from",)):
        p.add_argument(*names, action="append", default=[])
    for names in (("-f", "--file"), ("--target",), ("--network",), ("--iidfile",), ("--shm-size",),
                  ("-m", "--memory"), ("--memory-swap",), ("--cpuset-cpus",), ("--cpuset-mems",),
                  ("--cgroup-parent",), ("--isolation",)):  # fmt: skip
        p.add_argument(*names, default="")
    for name in ("-c", "--cpu-shares"), ("--cpu-period",), ("--cpu-quota",):
        p.add_argument(*name, type=int, default=0)
    for flag in _BOOLS:
        p.add_argument(*(("-q", flag) if flag == "--quiet" else (flag,)), action="store_true")
    p.add_argument("--progress", default=env.get("BUILDKIT_PROGRESS") or "auto")
    p.add_argument("--platform", default=env.get("DOCKER_DEFAULT_PLATFORM", ""))
    p.add_argument("context", nargs="*")
    o = p.parse_args(args)
    if len(o.context) != 1:
        raise UsageError(f'"{prog}" requires exactly 1 argument.')
    o.context = o.context[0]
    for flag in off:
        setattr(o, flag[2:].replace("-", "_"), False)
    o.rm = "--rm" not in off  # true unless --rm=false
    if o.progress not in PROGRESS_MODES:
        raise UsageError(f'invalid argument "{o.progress}" for "--progress" flag: use auto, plain or tty')
    return o


def build_args(values: list[str], env: Mapping[str, str]) -> dict[str, str]:
    """``--build-arg K=V``; a bare ``K`` takes its value from the environment, or is left out."""
    out: dict[str, str] = {}
    for value in values:
        key, eq, val = value.partition("=")
        if not key:
            raise UsageError(
                f'invalid argument "{value}" for "--build-arg" flag: invalid environment variable: {value}'
            )
        if eq:
            out[key] = val
        elif key in env:
            out[key] = env[key]
    return out


def labels(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, eq, val = value.partition("=")
        if not eq:
            raise UsageError(f'invalid argument "{value}" for "--label" flag: bad attribute format: {value}')
        out[key] = val
    return out


def extra_host(value: str) -> str:
    """``--add-host host:ip`` checked as Docker's ValidateExtraHost does."""
    import ipaddress

    name, sep, ip = value.partition(":")
    if not sep or not name:
        raise UsageError(
            f'invalid argument "{value}" for "--add-host" flag: bad format for add-host: "{value}"'
        )
    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip.removeprefix("[").removesuffix("]"))
        except ValueError:
            raise UsageError(
                f'invalid argument "{value}" for "--add-host" flag: invalid IP address in add-host: "{ip}"'
            ) from None
    return value


def build_query(o: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any]:
    """The query of ``POST /build`` for the flags (moby's ``imageBuildOptionsToQuery``)."""
    from wharf.cli.options import parse_bytes

    def size(value: str) -> int | None:
        return (-1 if value == "-1" else parse_bytes(value)) if value else None

    query: dict[str, Any] = {
        "t": o.tag or None, "buildargs": build_args(o.build_arg, env) or None,
        "labels": labels(o.label) or None, "target": o.target or None,
        "nocache": "1" if o.no_cache else None, "pull": "1" if o.pull else None,
        "q": "1" if o.quiet else None, "rm": "1" if o.rm else "0", "forcerm": "1" if o.force_rm else None,
        "squash": "1" if o.squash else None, "networkmode": o.network or None,
        "extrahosts": [extra_host(h) for h in o.add_host] or None,
        "cachefrom": json.dumps(o.cache_from) if o.cache_from else None,
        "shmsize": size(o.shm_size), "memory": size(o.memory), "memswap": size(o.memory_swap),
        "cpushares": o.cpu_shares or None, "cpusetcpus": o.cpuset_cpus or None,
        "cpusetmems": o.cpuset_mems or None, "cpuperiod": o.cpu_period or None,
        "cpuquota": o.cpu_quota or None, "cgroupparent": o.cgroup_parent or None,
        "isolation": o.isolation or None, "platform": o.platform.lower() or None,
    }  # fmt: skip
    return {k: v for k, v in query.items() if v is not None}


# ---------------------------------------------------------------- the context


def prepare_context(context: str, dockerfile: str, stdin: BinaryIO) -> tuple[Iterator[bytes], str]:
    """(the context's bytes to send, the query's ``dockerfile``: "" for the daemon's default)."""
    if context == "-":
        if dockerfile == "-":
            die("invalid argument: can't use stdin for both build context and dockerfile")
        return stdin_context(stdin, dockerfile)
    if not os.path.exists(context):
        die(f'unable to prepare context: path "{context}" not found')
    root = os.path.realpath(context)
    if not os.path.isdir(root):
        die(f"unable to prepare context: context must be a directory: {root}")
    replace: dict[str, bytes] = {}
    if dockerfile == "-":
        path, rel, content = "", "", stdin.read()
    else:
        path, rel = locate_dockerfile(root, dockerfile)
        content = None
        if rel == ".." or rel.startswith("../"):
            content = _read(path, "unable to open Dockerfile")
    matcher = context_matcher(root, path, "" if content is not None else rel)
    if content is not None:
        rel = ".dockerfile." + os.urandom(10).hex()
        replace[rel] = content
        ignored = os.path.join(root, ".dockerignore")
        old = _read(ignored, "error reading .dockerignore") if os.path.isfile(ignored) else b".dockerignore"
        replace[".dockerignore"] = old + b"\n" + rel.encode() + b"\n"
    from wharf.build import ignore

    return tar_chunks(root, ignore.walk(root, matcher), replace), rel


def locate_dockerfile(root: str, given: str) -> tuple[str, str]:
    """(the Dockerfile's path, as given or the default, its real path relative to the context)."""
    path = os.path.abspath(given) if given else os.path.join(root, "Dockerfile")
    if not given and not os.path.lexists(path) and os.path.lexists(os.path.join(root, "dockerfile")):
        path = os.path.join(root, "dockerfile")
    try:
        real = os.path.realpath(path, strict=True)
    except OSError as exc:
        die(
            "unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
            f"lstat {exc.filename or path}: {(exc.strerror or str(exc)).lower()}"
        )
    return path, os.path.relpath(real, root)


def context_matcher(root: str, dockerfile: str, rel_dockerfile: str) -> Matcher:
    """The patterns of ``<dockerfile>.dockerignore`` or else ``<root>/.dockerignore``, with the
    exceptions that keep the ``.dockerignore`` and the Dockerfile (``rel_dockerfile``, "" when it is
    not in the context) in it."""
    from wharf.build import ignore
    from wharf.errors import WharfError

    text = ""
    for candidate in ([dockerfile + ".dockerignore"] if dockerfile else []) + [f"{root}/.dockerignore"]:
        if os.path.isfile(candidate):
            text = _read(candidate, "error reading .dockerignore").decode(errors="replace")
            break
    try:
        patterns = ignore.read_patterns(text)
        matcher = ignore.Matcher(patterns)
        if matcher.matches(".dockerignore"):
            patterns.append("!.dockerignore")
        if rel_dockerfile and matcher.matches(rel_dockerfile):
            patterns.append("!" + rel_dockerfile)
        return ignore.Matcher(patterns)
    except WharfError as exc:
        die(f"error checking context: {exc}")


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        die(f"{what}: {exc.strerror or exc}: {path}")


def stdin_context(stdin: BinaryIO, dockerfile: str) -> tuple[Iterator[bytes], str]:
    """stdin as the context: a tar (any compression) sent as it is, or a Dockerfile alone."""
    head = b""
    while len(head) < 2 * BLOCK and (more := stdin.read(2 * BLOCK - len(head))):
        head += more
    if is_archive(head):

        def passthrough() -> Iterator[bytes]:
            yield head
            while chunk := stdin.read(1 << 20):
                yield chunk

        return passthrough(), dockerfile
    return tar_chunks("", (), {"Dockerfile": head + stdin.read()}), "Dockerfile"


def is_archive(head: bytes) -> bool:
    """Docker's IsArchive: a compression's magic, or a tar header that reads."""
    import tarfile

    if head.startswith(_COMPRESSED):
        return True
    try:
        tarfile.TarInfo.frombuf(head[:BLOCK], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def tar_chunks(root: str, paths: Iterable[str], replace: dict[str, bytes]) -> Iterator[bytes]:
    """The tar of ``paths`` (relative to ``root``), each regular file in ``replace`` with the
    content given there instead, then the names of ``replace`` not met, as new files."""
    import tarfile

    links: dict[tuple[int, int], str] = {}
    pending = dict(replace)
    for rel in paths:
        full = os.path.join(root, rel)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            continue  # gone since the walk saw it
        if rel in pending and stat.S_ISREG(st.st_mode):
            yield from _file_entry(rel, pending.pop(rel), stat.S_IMODE(st.st_mode), int(st.st_mtime))
            continue
        info = _header(rel, full, st, links)
        if info is None:
            continue
        yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        if info.isreg() and info.size:
            yield from _content(full, info.size)
    for name, data in pending.items():
        yield from _file_entry(name, data, 0o600, int(time.time()))
    yield b"\0" * (2 * BLOCK)


def _header(
    rel: str, full: str, st: os.stat_result, links: dict[tuple[int, int], str]
) -> tarfile.TarInfo | None:
    import tarfile

    info = tarfile.TarInfo(rel)
    info.mode, info.mtime, info.uid, info.gid = stat.S_IMODE(st.st_mode), int(st.st_mtime), 0, 0
    mode = st.st_mode
    if stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            info.type, info.linkname = tarfile.LNKTYPE, links[key]
        else:
            if st.st_nlink > 1:
                links[key] = rel
            info.size = st.st_size
    elif stat.S_ISDIR(mode):
        info.type, info.name = tarfile.DIRTYPE, rel + "/"
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    else:
        return None  # a socket: tar has no place for it
    return info


def _content(full: str, size: int) -> Iterator[bytes]:
    """Exactly ``size`` bytes of the file (padded if it shrank since its header), then padding."""
    try:
        f = open(full, "rb")
    except OSError as exc:
        die(f"error checking context: can't open '{full}': {exc.strerror or exc}")
    with f:
        left = size
        while left > 0:
            data = f.read(min(left, 1 << 20))
            if not data:
                yield b"\0" * left
                break
            left -= len(data)
            yield data
    if size % BLOCK:
        yield b"\0" * (BLOCK - size % BLOCK)


def _file_entry(name: str, data: bytes, mode: int, mtime: int) -> Iterator[bytes]:
    import tarfile

    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, mtime
    yield info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + data
    if len(data) % BLOCK:
        yield b"\0" * (BLOCK - len(data) % BLOCK)


def _batched(chunks: Iterable[bytes], size: int = 1 << 16) -> Iterator[bytes]:
    buf = bytearray()
    for chunk in chunks:
        buf += chunk
        if len(buf) >= size:
            yield bytes(buf)
            buf.clear()
    if buf:
        yield bytes(buf)


def _gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import zlib

    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        if out := z.compress(chunk):
            yield out
    yield z.flush()


def post_context(client: Client, query: dict[str, Any], chunks: Iterable[bytes],
                 sent: Callable[[int, bool], None]) -> Response:  # fmt: skip
    """``POST /build`` with the context as a chunked body, produced as it is sent (``sent`` hears
    the bytes so far); -> the response, whose body is the build's progress."""
    return client.upload("/build", query, _batched(chunks), "application/x-tar", sent=sent)


# ---------------------------------------------------------------- the command


def cmd_build(client: Client, prog: str, args: list[str]) -> int:
    o = parse_options(prog, args, os.environ)
    query = build_query(o, os.environ)
    if o.context.startswith(_REMOTE) and not os.path.exists(o.context):
        # a URL: the daemon fetches it (an archive, or a Dockerfile alone), as dockerd does
        query["remote"] = o.context
        chunks: Iterator[bytes] = iter(())
        dockerfile = o.file if o.file != "-" else ""
    else:
        chunks, dockerfile = prepare_context(o.context, o.file, sys.stdin.buffer)
    if dockerfile:
        query["dockerfile"] = dockerfile
    if o.compress:
        chunks = _gzipped(chunks)
    if o.iidfile:
        try:
            os.remove(o.iidfile)  # no stale ID is left if this build fails
        except FileNotFoundError:
            pass
        except OSError as exc:
            die(f"Removing image ID file: {exc}")
    from wharf.cli.buildprogress import make_view

    view = make_view(o.quiet, o.progress, sys.stdout)
    try:
        resp = post_context(client, query, chunks, view.sending)
        try:
            view.follow(resp)
        except (OSError, ValueError) as exc:  # the connection broke, or what came was no HTTP
            view.state.error = f"error reading the build's progress from the daemon: {exc}"
        finally:
            resp.close()
    finally:
        view.close()
    state = view.state
    if state.error:
        view.failed()
        sys.stderr.write(state.error.rstrip("\n") + "\n")
        return state.code or 1
    if not state.image_id:
        die("the daemon ended the build without an image ID")
    view.succeeded()
    if o.iidfile:
        try:
            with open(o.iidfile, "w") as f:
                f.write(state.image_id)
        except OSError as exc:
            die(f"error writing {o.iidfile}: {exc.strerror or exc}")
    return 0


def cmd_builder_prune(client: Client, prog: str, args: list[str]) -> int:
    """``builder prune``: POST /build/prune, Docker's words and report."""
    from wharf.cli.common import confirm, filters_arg, print_reclaimed

    p = parser(prog, f"{prog} [OPTIONS]", "Remove build cache")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--keep-storage", default="")
    o = p.parse_args(args)
    warning = (
        "WARNING! This will remove all build cache."
        if o.all
        else "WARNING! This will remove all dangling build cache."
    )
    if not confirm(warning, o.force):
        return 0
    query: dict[str, Any] = {"all": "1" if o.all else None, "filters": filters_arg(o.filter)}
    res = client.call("POST", "/build/prune", {k: v for k, v in query.items() if v})
    deleted = res.get("CachesDeleted") or []
    if deleted:
        print("Deleted build cache objects:")
        print("\n".join(deleted))
        print()
    print_reclaimed(res.get("SpaceReclaimed") or 0)
    return 0
