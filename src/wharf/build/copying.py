"""``COPY`` and ``ADD``: files of the context, of another stage or image (``--from``), heredocs
and downloads, into the stage's image as one layer.

The step is two halves, so the build cache can key it on what it copies:

- ``prepared`` resolves the sources (``sources.py``): context paths, ``--from`` paths inside
  that image's files (lent by ``rootfs.image_fs`` while the ``async with`` lasts), heredocs,
  ``ADD``'s URLs downloaded into the build's directory; it raises the missing-source error and
  gives ``Prepared.checksum``, the hex sha256 of exactly what will be copied and how (the
  expanded destination, --chown, --chmod, --exclude, --parents, the ``--from`` image's ID), never
  of mtimes;
- ``apply`` copies that into a never-started container of the stage's image (or, in a ``FROM
  scratch`` stage, into a fresh directory of the build that becomes the layer) and commits.

Docker's rules, as the classic builder applies them, with BuildKit's flags:

- the destination is relative to WORKDIR unless absolute; it is a directory when it ends with
  ``/``, when there are several sources, when a source is a directory (its contents are
  copied, not itself) or an archive, or when it is one already in the image; a file source lands
  in it under its own name, or at the destination path itself;
- what is copied, and the directories made for it, belong to 0:0 unless ``--chown`` (a name is
  looked up in the image's /etc/passwd and /etc/group); ``COPY --from`` keeps the source's
  owners (and xattrs) without ``--chown``, as BuildKit and dockerd do; ``--chmod`` (octal or
  symbolic) sets the modes; an existing directory on the way keeps its own;
- ``ADD`` unpacks a local tar (plain, gzip, bzip2, xz or zstd; ``--unpack=false`` not); a URL
  is downloaded (mode 0600, mtime from Last-Modified, its name the URL's last path segment),
  never unpacked unless ``--unpack``, ``--checksum=sha256:...`` verified; a git repository is
  refused;
- a heredoc source is a file named after its word, mode 0644, expanded unless its word is
  quoted; ``--link`` changes nothing (every COPY is its own layer already).

The files go through a tar written by a worker thread into a pipe and unpacked by
``archive.scoped.extract_tar`` inside the container's view: no path of the image is followed
out of its root while writing.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
import tarfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from wharf.build import instructions as ins
from wharf.build import sources
from wharf.build.sources import ARCHIVE, FILE, Chmod, Entry, Origin, Source
from wharf.build.steps import StageState
from wharf.errors import InvalidArgument

if TYPE_CHECKING:
    from wharf.archive.scoped import ScopedFS
    from wharf.build.executor import Builder

UNNAMED = "__unnamed__"  # dockerd's name for a download whose URL names no file
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Prepared:
    """A COPY/ADD step's sources, resolved; ``checksum`` keys the build cache."""

    checksum: str  # hex sha256 of what will be copied and how (see the module docstring)
    summary: str  # the history's word: file:<hash>, dir:<hash> or multi:<hash> (content only)
    word: str  # COPY or ADD
    dest: str  # absolute; a trailing "/" when it is to be a directory
    sources: list[Source]
    chown: str  # expanded; "" for none
    chmod: Chmod | None
    keep_owners: bool  # --from without --chown: the entries carry the source's owners


@asynccontextmanager
async def prepared(b: Builder, st: StageState, cmd: ins.Copy | ins.Add) -> AsyncIterator[Prepared]:
    """The step's sources resolved (and held: an image's files, downloads) while the ``async
    with`` lasts; raises the missing-source error."""
    from wharf.engine.runner import blocking

    paths = [st.expand(s) for s in cmd.sources]
    _check(st, cmd, paths)
    dest = _destination(st, cmd)
    chown, mode = st.expand(cmd.chown), st.expand(cmd.chmod)
    chmod = sources.parse_chmod(mode) if mode else None
    from_ = cmd.from_ if isinstance(cmd, ins.Copy) else ""
    parents = isinstance(cmd, ins.Copy) and cmd.parents
    async with AsyncExitStack() as stack:
        origin, from_id = Origin(b.opts.context_dir), ""
        if from_:
            from wharf.build.rootfs import image_fs

            from_id = await b.stage_image(from_)
            fs = await stack.enter_async_context(image_fs(b.engine, from_id))
            origin = Origin(fs.root, owners=None if chown else fs.ids, xattrs=True)
        picked = await _gather(b, st, cmd, paths, origin, stack, dest)
        unpack = "" if not isinstance(cmd, ins.Add) or cmd.unpack is None else str(cmd.unpack)
        flags = [chown, mode, json.dumps(cmd.exclude), str(parents), from_id, unpack]
        header = [type(cmd).__name__, dest, *flags]
        checksum, content = await blocking(sources.checksum, header, picked)
        one = picked[0].kind if len(picked) == 1 else ""
        kind = "multi" if len(picked) > 1 else ("dir" if one in (sources.DIR, sources.TREE) else "file")
        yield Prepared(checksum, f"{kind}:{content}", type(cmd).__name__.upper(), dest, picked, chown,
                       chmod, bool(from_) and not chown)  # fmt: skip


async def apply(b: Builder, st: StageState, cmd: ins.Copy | ins.Add, prep: Prepared, image_id: str) -> str:
    """Copy what ``prep`` holds into the stage's image ``image_id`` ("" for FROM scratch) and
    commit it as one layer; returns the new image's ID."""
    from wharf.build.rootfs import scratch_container
    from wharf.engine.runner import blocking

    history = _history(st, prep)
    if not image_id:
        return await _into_scratch(b, st, prep, history)
    cid = await scratch_container(b.engine, image_id)
    try:
        c = b.engine.get(cid)
        async with b.engine.container_fs(c, volumes=False) as fs:
            where = await blocking(placement, fs, prep)
            direct = upper_only(where, prep)
            if not direct:
                await blocking(put, fs, prep)
        upper = b.engine.images.snapshots.fs_dir(c.snapshot_key)
        if direct:  # the overlay is unmounted: its upper directory is a plain one now
            await blocking(_into_upper, b, upper, prep, where)
        return await b.write(st, image_id, history, upper, adopt=c.snapshot_key)
    finally:
        await b.engine.remove(cid, force=True)


def _into_upper(b: Builder, upper: str, prep: Prepared, where: Placement) -> None:
    from wharf.archive.scoped import ScopedFS
    from wharf.base.idmap import IDENTITY

    with ScopedFS(upper, ids=b.engine.images.snapshots.id_map or IDENTITY) as fs:
        put_plain(fs, prep, where)


async def copy_step(b: Builder, st: StageState, cmd: ins.Copy | ins.Add, image_id: str) -> str:
    async with prepared(b, st, cmd) as prep:
        return await apply(b, st, cmd, prep, image_id)


async def _into_scratch(b: Builder, st: StageState, prep: Prepared, history: dict[str, Any]) -> str:
    """FROM scratch has no image to make a container of: the files go into a directory of the
    build's own, which is the layer (its owners mapped as the store's, userns-remap included)."""
    import shutil
    import tempfile

    from wharf.archive.scoped import ScopedFS
    from wharf.base.idmap import IDENTITY
    from wharf.engine.runner import blocking

    upper = tempfile.mkdtemp(prefix="layer-", dir=b.work_dir)
    ids = b.engine.images.snapshots.id_map or IDENTITY

    def fill() -> None:
        with ScopedFS(upper, ids=ids) as fs:
            put(fs, prep)

    try:
        await blocking(fill)
        return await b.write(st, "", history, upper)
    finally:
        await blocking(shutil.rmtree, upper, True)


def _check(st: StageState, cmd: ins.Copy | ins.Add, paths: list[str]) -> None:
    """What the step refuses before anything is read, in BuildKit's words."""
    from wharf.build.shell import expand

    if isinstance(cmd, ins.Copy):
        if any(_is_url(p) for p in paths):
            raise InvalidArgument("source can't be a URL for COPY")
        if cmd.from_ and expand(cmd.from_, {}, st.escape) != cmd.from_:
            raise InvalidArgument(
                "variable expansion is not supported for --from, define a new stage with FROM "
                "using ARG from global scope as a workaround"
            )
        return
    if any(_is_git(p) for p in paths):
        raise InvalidArgument("ADD of a git repository is not supported by this builder")
    if cmd.checksum:
        if len(paths) != 1:
            raise InvalidArgument("checksum can't be specified for multiple sources")
        if not _is_url(paths[0]):
            raise InvalidArgument("checksum requires HTTP(S) or Git sources")


def _is_url(src: str) -> bool:
    return src.startswith(("http://", "https://")) and not _is_git(src)


def _is_git(src: str) -> bool:
    """BuildKit's git sources: git://, ssh://, user@host:path, an http(s) URL ending in .git."""
    import re
    from urllib.parse import urlsplit

    if src.startswith(("git://", "ssh://")) or re.match(r"[\w.-]+@[\w.-]+:(?!//)", src):
        return True
    return src.startswith(("http://", "https://")) and urlsplit(src).path.endswith(".git")


async def _gather(b: Builder, st: StageState, cmd: ins.Copy | ins.Add, paths: list[str], origin: Origin,
                  stack: AsyncExitStack, dest: str) -> list[Source]:  # fmt: skip
    """The sources in order: paths and URLs as written, then the heredocs (as BuildKit)."""
    import tempfile

    from wharf.build.shell import Lex
    from wharf.engine.runner import blocking

    unpack = isinstance(cmd, ins.Add) and cmd.unpack is not False
    parents = isinstance(cmd, ins.Copy) and cmd.parents
    out: list[Source] = []
    downloads = ""
    for src in paths:
        if _is_url(src):
            assert isinstance(cmd, ins.Add)
            if not downloads:
                downloads = stack.enter_context(tempfile.TemporaryDirectory(prefix="add-", dir=b.work_dir))
            got = await blocking(sources.download, src, downloads, st.expand(cmd.checksum))
            if not got.name and dest.endswith("/"):
                raise InvalidArgument(f"cannot determine filename for source {src}")
            kind = ARCHIVE if cmd.unpack and sources.is_archive(got.path) else FILE
            entry = Entry("", stat.S_IFREG | 0o600, got.mtime, size=got.size, path=got.path)
            out.append(Source(got.name or UNNAMED, kind, [entry]))
        else:
            out += await blocking(sources.resolve, origin, src, cmd.exclude, parents, unpack)
    now, lex = time.time(), Lex("\\", skip_process_quotes=True)  # BuildKit's, whatever the escape
    for doc in cmd.heredocs:
        text = lex.process_word(doc.data, st.env()) if doc.expand else doc.data
        out.append(sources.heredoc(doc.path, text.encode(), now))
    return out


def _destination(st: StageState, cmd: ins.Copy | ins.Add) -> str:
    raw = st.expand(cmd.dest)
    as_dir = raw.endswith(("/", "/.")) or raw == "."  # a directory, whether it exists or not
    dest = raw if raw.startswith("/") else posixpath.join(st.section.get("WorkingDir") or "/", raw)
    dest = posixpath.normpath(dest)
    return dest.rstrip("/") + "/" if as_dir else dest


def _history(st: StageState, prep: Prepared) -> dict[str, Any]:
    from wharf.base.times import now_rfc3339

    chown = f"--chown={prep.chown} " if prep.chown else ""
    created_by = " ".join(st.shell()) + f" #(nop) {prep.word} {chown}{prep.summary} in {prep.dest} "
    return {"created": now_rfc3339(), "created_by": created_by}


# --- into the image's files (blocking) ---------------------------------------------------------


@dataclass
class Placement:
    """Where ``prep``'s sources land in an image's view, as ``put`` works it out."""

    base: str
    to_dir: bool
    owner: tuple[int, int] | None
    made: list[str]  # the directories to make, from the first missing one down
    plain: list[Source]


def placement(fs: ScopedFS, prep: Prepared) -> Placement:
    base = prep.dest.rstrip("/") or "/"
    to_dir = (
        prep.dest.endswith("/")
        or len(prep.sources) > 1
        or _kind(fs, base) == stat.S_IFDIR
        or any(s.kind != FILE for s in prep.sources)
    )
    owner = _owner(fs, prep.chown) if prep.chown else None
    made = _missing(fs, base if to_dir else posixpath.dirname(base))
    return Placement(base, to_dir, owner, made, [s for s in prep.sources if s.kind != ARCHIVE])


def upper_only(where: Placement, prep: Prepared) -> bool:
    """Whether everything lands under a new top-level directory of the image (the first one to
    make is at the root): then it is written into a fresh container's upper directory itself,
    not through the overlay (plain files cost about half there), and nothing else can be."""
    from wharf.build import fastcopy

    whole = len(where.plain) == len(prep.sources)
    return (
        whole
        and bool(where.made)
        and posixpath.dirname(where.made[0]) == "/"
        and fastcopy.supported(where.plain)
    )


def put_plain(fs: ScopedFS, prep: Prepared, where: Placement) -> None:
    """Blocking: the sources that are not archives to unpack, written where ``where`` says (the
    direct path when it can, else a tar); also into the upper directory of a container that
    never ran (``upper_only``)."""
    if not _direct(fs, prep, where.plain, where.base, where.to_dir, where.made, where.owner):
        _stream(fs, lambda out: _write_tar(out, prep, where.plain, where.base, where.to_dir,
                                           where.made, where.owner))  # fmt: skip


def put(fs: ScopedFS, prep: Prepared) -> None:
    """Blocking: ``prep``'s sources written into ``fs`` at their destination."""
    from wharf.archive.scoped import ExtractOptions, extract_tar
    from wharf.build.context import decompressed

    where = placement(fs, prep)
    put_plain(fs, prep, where)
    for s in prep.sources:
        if s.kind == ARCHIVE:
            with open(s.entries[0].path, "rb") as f:
                extract_tar(fs, where.base, decompressed(f), ExtractOptions(owner=where.owner or (0, 0)))


def _direct(fs: ScopedFS, prep: Prepared, plain: list[Source], base: str, to_dir: bool,
            made: list[str], owner: tuple[int, int] | None) -> bool:  # fmt: skip
    """The sources written by ``fastcopy`` when it can (the directories to make first, as the tar
    would make them); False: the tar path is to take (it overwrites what this one wrote)."""
    from wharf.build import fastcopy

    if not fastcopy.supported(plain):
        return False
    if made:
        _stream(fs, lambda out: _write_tar(out, prep, [], base, to_dir, made, owner))
    try:
        fastcopy.put(fs, plain, base, to_dir, fastcopy.Owners(fs, owner, prep.keep_owners, prep.chmod))
    except fastcopy.Unsupported:
        return False
    return True


def _kind(fs: ScopedFS, path: str) -> int | None:
    """The file type at the container path ``path`` (symlinks followed in scope), or None."""
    try:
        with fs.resolve(path, follow=True) as node:
            return stat.S_IFMT(node.lstat().st_mode) if node.exists else None
    except OSError:
        return None


def _missing(fs: ScopedFS, path: str) -> list[str]:
    """The directories to make for ``path``: those from its first missing component down."""
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts)):
        if _kind(fs, "/" + "/".join(parts[: i + 1])) is None:
            return ["/" + "/".join(parts[: j + 1]) for j in range(i, len(parts))]
    return []


def _stream(fs: ScopedFS, write: Callable[[IO[bytes]], None]) -> None:
    """The tar ``write`` produces (in a worker thread, into a pipe) unpacked at ``fs``'s root."""
    from wharf.archive.scoped import ExtractOptions, extract_tar

    r, w = os.pipe()
    failed: list[BaseException] = []

    def produce() -> None:
        try:
            with open(w, "wb") as out:
                write(out)
        except BaseException as exc:  # handed to the extracting thread
            failed.append(exc)

    worker = threading.Thread(target=produce, name="copy-tar", daemon=True)
    worker.start()
    try:
        with open(r, "rb") as inp:
            extract_tar(fs, "/", inp, ExtractOptions())
    except BaseException:
        worker.join()  # the pipe's read end is closed: the writer ends
        if failed and not isinstance(failed[0], BrokenPipeError):
            raise failed[0] from None  # the writer's error is why the tar broke off
        raise
    worker.join()
    if failed and not isinstance(failed[0], BrokenPipeError):  # (the tar's end, not read)
        raise failed[0]


def _write_tar(out: IO[bytes], prep: Prepared, plain: list[Source], base: str, to_dir: bool,
               made: list[str], owner: tuple[int, int] | None) -> None:  # fmt: skip
    """The tar of the plain sources named as they land under ``/``, after the directories made
    for them (0755, owned 0:0 or by --chown)."""
    now = time.time()
    links: dict[tuple[int, int], str] = {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for d in made:
            tar.addfile(_info(d, tarfile.DIRTYPE, 0o755, now, owner or (0, 0)))
        for s in plain:
            at = posixpath.join(base, posixpath.basename(s.name)) if to_dir and s.kind == FILE else base
            for e in s.entries:
                arc = posixpath.join(at, e.rel) if e.rel else at
                ids = owner or ((e.uid, e.gid) if prep.keep_owners else (0, 0))
                _add(tar, e, arc, ids, prep.chmod, links)


def _info(name: str, kind: bytes, mode: int, mtime: float, ids: tuple[int, int]) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.type, info.mode, info.mtime = kind, mode, mtime
    info.uid, info.gid = ids
    info.uname = info.gname = ""
    return info


_TYPES = {
    stat.S_IFDIR: tarfile.DIRTYPE,
    stat.S_IFLNK: tarfile.SYMTYPE,
    stat.S_IFCHR: tarfile.CHRTYPE,
    stat.S_IFBLK: tarfile.BLKTYPE,
    stat.S_IFIFO: tarfile.FIFOTYPE,
    stat.S_IFREG: tarfile.REGTYPE,
}


def _add(tar: tarfile.TarFile, e: Entry, arc: str, ids: tuple[int, int], chmod: Chmod | None,
         links: dict[tuple[int, int], str]) -> None:  # fmt: skip
    import io

    kind = stat.S_IFMT(e.mode)
    mode = stat.S_IMODE(e.mode)
    if chmod is not None and kind != stat.S_IFLNK:
        mode = chmod.apply(e.mode, kind == stat.S_IFDIR)
    info = _info(arc, _TYPES[kind], mode, e.mtime, ids)
    info.pax_headers = dict(e.xattrs)
    if kind == stat.S_IFLNK:
        info.linkname = e.link
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        info.devmajor, info.devminor = os.major(e.rdev), os.minor(e.rdev)
    elif kind == stat.S_IFREG:
        if e.inode is not None and e.inode in links:
            info.type, info.linkname = tarfile.LNKTYPE, links[e.inode]
        elif e.data is not None:
            info.size = len(e.data)
            tar.addfile(info, io.BytesIO(e.data))
            return
        else:
            if e.inode is not None:
                links[e.inode] = info.name
            with open(os.open(e.path, _READ), "rb") as f:
                info.size = os.fstat(f.fileno()).st_size
                tar.addfile(info, f)
            return
    tar.addfile(info)


def _owner(fs: ScopedFS, chown: str) -> tuple[int, int]:
    """--chown's user[:group], names looked up in the image's files, as dockerd does (a user
    name alone: its primary group; a uid alone: the same number as the gid)."""
    user, _, group = chown.partition(":")
    if user.isdigit():
        uid = primary = int(user)
    else:
        fields = _entry(fs, "/etc/passwd", user)
        uid, primary = int(fields[2]), int(fields[3])
    if not group:
        return uid, primary
    return uid, int(group) if group.isdigit() else int(_entry(fs, "/etc/group", group)[2])


def _entry(fs: ScopedFS, path: str, name: str) -> list[str]:
    from wharf.runtime.securejoin import read_in_root

    data = read_in_root(fs.root, path, 1 << 22) or b""
    for line in data.decode(errors="replace").splitlines():
        fields = line.split(":")
        if fields and fields[0] == name and len(fields) > 3:
            return fields
    what = "user" if path.endswith("passwd") else "group"
    raise InvalidArgument(f"unable to convert uid/gid chown string to host mapping: no such {what}: {name}")
