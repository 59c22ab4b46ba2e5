"""`wharf cp`: files between a container and the local filesystem, with docker cp's rules.

The daemon only archives a path (GET /containers/{id}/archive) and extracts a tar into a directory
(PUT); where things land is decided here, as the docker CLI decides it: the destination is stat-ed
first, and the tar's top entry is renamed so that `cp a b` makes `b` when `b` does not exist,
`b/a` when it is a directory, and "src/." copies a directory's contents. Local extraction goes
through wharf.archive.scoped, so a container's archive cannot write outside the destination.
"""

from __future__ import annotations

import base64
import json
import os
import posixpath
import sys
import threading
from dataclasses import dataclass
from typing import Any

from wharf.archive import scoped
from wharf.archive.scoped import (
    GO_CHAR,
    GO_DEVICE,
    GO_DIR,
    GO_PIPE,
    GO_SOCKET,
    GO_SYMLINK,
    asserts_directory,
)
from wharf.cli.format import human_size
from wharf.cli.main import die, parser
from wharf.client import APIError, Client

_IRREGULAR = GO_DEVICE | GO_PIPE | GO_SOCKET | GO_CHAR


def split_arg(arg: str) -> tuple[str, str]:
    """("container", "path") for CONTAINER:PATH; ("", arg) for a local path (absolute, or
    starting with "." when it holds a colon, as in docker)."""
    if arg.startswith("/"):
        return "", arg
    ctr, sep, path = arg.partition(":")
    if not sep or ctr.startswith("."):
        return "", arg
    return ctr, path


def split_dir_entry(path: str) -> tuple[str, str]:
    """docker's SplitPathDirEntry: "/a/b/." -> ("/a/b", "."), "/a/b/" -> ("/a", "b")."""
    cleaned = posixpath.normpath(path)
    if path.endswith("/.") or path == ".":
        cleaned = cleaned.rstrip("/") + "/."
    return posixpath.dirname(cleaned) or ".", posixpath.basename(cleaned)


def rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """docker's GetRebaseName: the resolved path (keeping a trailing "/" or "/.") and the name
    the copy must carry when the resolved base name differs from the one asked for."""
    if path.endswith("/.") and not resolved.endswith("/."):
        resolved += "/."
    elif path.endswith("/") and not resolved.endswith("/"):
        resolved += "/"
    name = ""
    if posixpath.basename(path.rstrip("/")) != posixpath.basename(resolved.rstrip("/")):
        name = posixpath.basename(path.rstrip("/"))
    return resolved, name


def local_abs(path: str) -> str:
    return scoped.preserve_trailing(os.path.abspath(path), path)


class CopyError(Exception):
    pass


@dataclass
class Plan:
    """Where a tar goes: the directory it is extracted into, and the rename of its top entry."""

    directory: str
    old: str = ""
    new: str = ""

    def rename(self, name: str) -> str:
        if not self.old or self.old == self.new:
            return name
        stripped = name[2:] if name.startswith("./") and self.old != "." else name
        if stripped == self.old or stripped.startswith(self.old + "/"):
            return self.new + stripped[len(self.old) :]
        return name


def prepare(
    src_path: str, src_is_dir: bool, src_rebase: str, dst_path: str, dst_exists: bool, dst_is_dir: bool
) -> Plan:
    """docker's PrepareArchiveCopy."""
    dst_dir, dst_base = split_dir_entry(dst_path)
    _, src_base = split_dir_entry(src_path)
    if dst_exists and dst_is_dir:
        return Plan(dst_path)
    if dst_exists and src_is_dir:
        raise CopyError("cannot copy directory")
    if not dst_exists and not src_is_dir and asserts_directory(dst_path):
        raise CopyError("no such directory")
    return Plan(dst_dir, src_rebase or src_base, dst_base)


def _stat(client: Client, ctr: str, path: str) -> dict[str, Any] | None:
    resp = client.send("HEAD", f"/containers/{ctr}/archive", {"path": path})
    try:
        if resp.status == 404 and not resp.getheader("X-Docker-Container-Path-Stat"):
            return None
        if resp.status >= 400:
            raise APIError(
                resp.status, f"{'No such container:path' if resp.status == 404 else 'error'}: {ctr}:{path}"
            )
        return _decode_stat(resp.getheader("X-Docker-Container-Path-Stat"))
    finally:
        resp.close()


def _decode_stat(header: str | None) -> dict[str, Any]:
    if not header:
        raise CopyError("unable to get resource stat from response: missing X-Docker-Container-Path-Stat")
    stat: dict[str, Any] = json.loads(base64.b64decode(header))
    return stat


def _destination(path: str) -> tuple[str, bool, bool]:
    """docker's CopyInfoDestinationPath: (path with symlinks of the last element followed,
    exists, is a directory)."""
    for _ in range(11):
        if not os.path.lexists(path):
            parent, _ = split_dir_entry(path)
            if not os.path.exists(parent):
                raise CopyError(f"stat {parent}: no such file or directory")
            if not os.path.isdir(parent):
                raise CopyError("not a directory")
            return path, False, False
        if not os.path.islink(path):
            return path, True, os.path.isdir(path)
        target = os.readlink(path)
        if not target.startswith("/"):
            target = os.path.join(split_dir_entry(path)[0], target)
        path = target
    raise CopyError(f"too many symlinks in {path}")


def cmd_cp(client: Client, prog: str, args: list[str]) -> int:
    p = parser(
        prog,
        f"{prog} [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
        f"\t{prog} [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
    )
    p.add_argument("-a", "--archive", action="store_true")
    p.add_argument("-L", "--follow-link", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true", default=None)
    p.add_argument("source")
    p.add_argument("destination")
    o = p.parse_args(args)
    if not o.source:
        die("source can not be empty")
    if not o.destination:
        die("destination can not be empty")
    quiet = o.quiet if o.quiet is not None else not sys.stdout.isatty()
    src_ctr, src = split_arg(o.source)
    dst_ctr, dst = split_arg(o.destination)
    try:
        if src_ctr and dst_ctr:
            die("copying between containers is not supported")
        if src_ctr:
            return _from_container(client, src_ctr, src, dst, o.follow_link, quiet)
        if dst_ctr:
            return _to_container(client, src, dst_ctr, dst, o.follow_link, o.archive, quiet)
        die("must specify at least one container source")
    except CopyError as exc:
        die(str(exc))
    except OSError as exc:
        die(f"{exc.strerror.lower() if exc.strerror else exc}: {exc.filename}" if exc.filename else str(exc))


class _Counting:
    def __init__(self, f: Any) -> None:
        self.f = f
        self.n = 0

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.f.read1(n if n > 0 else 1 << 20) if hasattr(self.f, "read1") else self.f.read(n)
        self.n += len(data)
        return data


def _from_container(client: Client, ctr: str, src: str, dst: str, follow: bool, quiet: bool) -> int:
    if dst != "-":
        dst = local_abs(dst)
        parent = os.path.dirname(os.path.normpath(dst))
        if parent and not os.path.exists(parent):
            raise CopyError(f'invalid output path: directory "{parent}" does not exist')
    rebase = ""
    if follow:
        st = _stat(client, ctr, src)
        if st is not None and st["mode"] & GO_SYMLINK:
            target = st["linkTarget"]
            if not target.startswith("/"):
                target = posixpath.join(split_dir_entry(src)[0], target)
            src, rebase = rebase_name(src, target)
    resp = client.stream("GET", f"/containers/{ctr}/archive", {"path": src})
    try:
        st = _decode_stat(resp.getheader("X-Docker-Container-Path-Stat"))
        if dst == "-":
            out = sys.stdout.buffer
            while chunk := resp.read1(1 << 20):
                out.write(chunk)
            out.flush()
            return 0
        src_is_dir = bool(st["mode"] & GO_DIR)
        path, exists, is_dir = _destination(dst)
        plan = prepare(src, src_is_dir, rebase, path, exists, is_dir)
        first = Plan("", split_dir_entry(src)[1], rebase) if rebase else Plan("")
        counted = _Counting(resp)
        with scoped.ScopedFS(plan.directory) as fs:
            opts = scoped.ExtractOptions(
                no_overwrite_dir_non_dir=True, chown=False, rename=lambda n: plan.rename(first.rename(n))
            )
            scoped.extract_tar(fs, "/", counted, opts)
    finally:
        resp.close()
    if not quiet:
        sys.stderr.write(f"Successfully copied {human_size(counted.n)} to {dst}\n")
    return 0


def _source(path: str, follow: bool) -> tuple[str, str]:
    """docker's ResolveHostSourcePath: (the path to archive, the name it must carry)."""
    if follow:
        return rebase_name(path, os.path.realpath(path))
    directory, base = os.path.split(path)
    resolved = os.path.join(os.path.realpath(directory or "."), base)
    name = ""
    if path.endswith("/") and os.path.basename(path.rstrip("/")) != os.path.basename(resolved.rstrip("/")):
        name = os.path.basename(path.rstrip("/"))
    return resolved, name


def _to_container(
    client: Client, src: str, ctr: str, dst: str, follow: bool, archive: bool, quiet: bool
) -> int:
    dst_path = dst
    st: dict[str, Any] | None = _stat(client, ctr, dst)
    if st is not None and st["mode"] & GO_SYMLINK:
        target = st["linkTarget"]
        if not target.startswith("/"):
            target = posixpath.join(split_dir_entry(dst)[0], target)
        dst_path = target
        st = _stat(client, ctr, target)
    if st is not None and st["mode"] & _IRREGULAR:
        raise CopyError(f'destination "{ctr}:{dst}" must be a directory or a regular file')
    exists, is_dir = st is not None, bool(st and st["mode"] & GO_DIR)
    query = {"path": dst_path, "noOverwriteDirNonDir": "true", "copyUIDGID": "true" if archive else None}
    query = {k: v for k, v in query.items() if v is not None}
    if src == "-":
        if not is_dir:
            raise CopyError(f'destination "{ctr}:{dst}" must be a directory')
        client.upload(
            f"/containers/{ctr}/archive", query, sys.stdin.buffer, "application/x-tar", "PUT"
        ).close()
        return 0
    resolved, rebase = _source(local_abs(src), follow)
    os.lstat(resolved)  # a missing source: "lstat PATH: no such file or directory"
    src_is_dir = os.path.isdir(resolved) and not os.path.islink(resolved)
    plan = prepare(resolved, src_is_dir, rebase, dst_path, exists, is_dir)
    source_dir, source_base = split_dir_entry(resolved)
    arcname = plan.rename(rebase or source_base)
    query["path"] = plan.directory
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out, scoped.ScopedFS(source_dir) as fs:
                with fs.resolve(source_base, follow=False) as node, scoped.open_tar(out) as tar:
                    scoped.TarWriter(fs, tar).add(node, "" if arcname == "/" else arcname)
        except BaseException as exc:  # reported after the upload
            failure.append(exc)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    with os.fdopen(read_fd, "rb") as src_stream:
        counted = _Counting(src_stream)
        try:
            client.upload(f"/containers/{ctr}/archive", query, counted, "application/x-tar", "PUT").close()
        finally:
            worker.join()
    if failure:
        raise failure[0]
    if not quiet:
        sys.stderr.write(f"Successfully copied {human_size(counted.n)} to {ctr}:{dst_path}\n")
    return 0
