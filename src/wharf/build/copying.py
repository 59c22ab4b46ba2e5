"""``COPY`` and ``ADD``: files of the context (or of another stage or image, ``--from``) into a
container of the stage's image, committed as one layer.

Docker's rules, as the classic builder applies them:

- sources are paths relative to the context root, Go wildcards allowed; a source resolves
  inside its root (``..`` and symlinks cannot leave it): ``COPY failed: file not found in build
  context or excluded by .dockerignore: stat NAME: file does not exist`` otherwise;
- the destination is relative to WORKDIR unless absolute; it is a directory when it ends with
  ``/``, when there are several sources, or when it is one already in the image;
- a directory source copies its contents, not itself; a file source lands in the directory
  under its own name, or at the destination path itself;
- everything copied, and the directories made for it, belong to 0:0 unless ``--chown`` (a
  name is looked up in the image's /etc/passwd and /etc/group); ``--chmod`` sets the mode;
- ``ADD`` unpacks a local tar (plain, gzip, bzip2, xz or zstd) into the destination.

The files go through a tar written by a worker thread and unpacked by
``archive.scoped.extract_tar`` inside the container's view: no path of the image is followed
out of its root while writing.
"""

from __future__ import annotations

import glob
import hashlib
import os
import posixpath
import stat
import tarfile
import time
from typing import IO, TYPE_CHECKING, Any

from wharf.build import instructions as ins
from wharf.build.steps import StageState
from wharf.errors import InvalidArgument

if TYPE_CHECKING:
    from wharf.archive.scoped import ScopedFS
    from wharf.build.executor import Builder

_WILD = set("*?[")


def _not_found(name: str) -> InvalidArgument:
    return InvalidArgument(
        f"COPY failed: file not found in build context or excluded by .dockerignore: "
        f"stat {name}: file does not exist"
    )


def select(root: str, sources: list[str]) -> list[tuple[str, str]]:
    """(the source as named, its real path under ``root``) for every match, resolved in root."""
    from wharf.archive.scoped import ScopedFS

    out: list[tuple[str, str]] = []
    with ScopedFS(root) as fs:
        for src in sources:
            rel = posixpath.normpath("/" + src).lstrip("/")
            names = [rel]
            if _WILD & set(rel):
                names = sorted(glob.glob(rel, root_dir=root, include_hidden=True))
                if not names:
                    raise _not_found(src)
            for name in names:
                real = os.path.join(root, fs.real_path("/" + name).lstrip("/"))
                if not os.path.lexists(real):
                    raise _not_found(src)
                out.append((name, real))
    return out


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


def _is_archive(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")):
        return True
    return tarfile.is_tarfile(path)


def write_tar(
    out: IO[bytes], picked: list[tuple[str, str]], dest: str, to_dir: bool, chmod: int | None
) -> None:
    """The tar of the selected files named as they land under ``/`` (the destination's path)."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if to_dir:
            info = tarfile.TarInfo(dest.lstrip("/") or ".")
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            if dest.strip("/"):
                tar.addfile(info)
        for name, real in picked:
            if os.path.isdir(real) and not os.path.islink(real):
                for dirpath, dirnames, filenames in os.walk(real):
                    dirnames.sort()
                    for entry in [*dirnames, *sorted(filenames)]:
                        full = os.path.join(dirpath, entry)
                        arc = posixpath.join(dest, os.path.relpath(full, real))
                        _add(tar, full, arc, chmod)
            else:
                arc = posixpath.join(dest, posixpath.basename(name)) if to_dir else dest
                _add(tar, real, arc, chmod)


def _add(tar: tarfile.TarFile, real: str, arc: str, chmod: int | None) -> None:
    info = tar.gettarinfo(real, arc.lstrip("/"))
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if chmod is not None and not info.issym():
        info.mode = chmod
    if info.isreg():
        with open(real, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def _destination(st: StageState, cmd: ins.Copy | ins.Add) -> str:
    raw = st.expand(cmd.dest)
    as_dir = raw.endswith(("/", "/.")) or raw == "."  # a directory, whether it exists or not
    dest = raw if raw.startswith("/") else posixpath.join(st.section.get("WorkingDir") or "/", raw)
    dest = posixpath.normpath(dest)
    return dest.rstrip("/") + "/" if as_dir else dest


async def copy_step(b: Builder, st: StageState, cmd: ins.Copy | ins.Add, image_id: str) -> str:
    from wharf.base.times import now_rfc3339
    from wharf.build.rootfs import scratch_container
    from wharf.engine.runner import blocking

    if isinstance(cmd, ins.Copy) and cmd.from_:
        raise InvalidArgument("COPY --from is not supported by this builder yet")
    sources = [st.expand(s) for s in cmd.sources]
    if isinstance(cmd, ins.Add) and any("://" in s for s in sources):
        raise InvalidArgument("ADD of a URL is not supported by this builder yet")
    word = type(cmd).__name__.upper()
    if cmd.heredocs:
        raise InvalidArgument(f"{word} of a heredoc is not supported by this builder yet")
    picked = await blocking(select, b.opts.context_dir, sources)
    dest = _destination(st, cmd)
    chmod = int(cmd.chmod, 8) if cmd.chmod else None
    if not image_id:
        raise InvalidArgument("COPY into a FROM scratch stage is not supported by this builder yet")
    cid = await scratch_container(b.engine, image_id)
    try:
        c = b.engine.get(cid)
        async with b.engine.container_fs(c, volumes=False) as fs:
            summary = await blocking(_put, b, fs, cmd, picked, dest, chmod, st.expand(cmd.chown))
        history = {
            "created": now_rfc3339(),
            "created_by": " ".join(st.shell()) + f" #(nop) {word} {summary} in {dest} ",
        }
        upper = b.engine.images.snapshots.fs_dir(c.snapshot_key)
        return await b.write(st, image_id, history, upper)
    finally:
        await b.engine.remove(cid, force=True)


def _put(b: Builder, fs: ScopedFS, cmd: Any, picked: list[tuple[str, str]], dest: str, chmod: int | None,
         chown: str) -> str:  # fmt: skip
    """Blocking: the sources unpacked into the container's view; returns the history's
    ``file:<hash>`` / ``dir:<hash>`` / ``multi:<hash>`` word."""
    import tempfile

    from wharf.archive.scoped import ExtractOptions, extract_tar
    from wharf.build.context import decompressed

    with fs.resolve(dest, follow=True) as node:
        existing_dir = node.exists and stat.S_ISDIR(node.lstat().st_mode)
    to_dir = (
        dest.endswith("/")
        or len(picked) > 1
        or existing_dir
        or any(os.path.isdir(real) and not os.path.islink(real) for _, real in picked)
    )
    owner = _owner(fs, chown) if chown else (0, 0)
    opts = ExtractOptions(owner=owner)
    digest = hashlib.sha256()
    with tempfile.TemporaryFile(dir=b.opts.context_dir + "/..") as tmp:
        adding = isinstance(cmd, ins.Add)
        archives = [(n, r) for n, r in picked if adding and os.path.isfile(r) and _is_archive(r)]
        plain = [p for p in picked if p not in archives]
        write_tar(tmp, plain, dest.rstrip("/") or "/", to_dir or bool(archives), chmod)
        tmp.seek(0)
        while chunk := tmp.read(1 << 20):
            digest.update(chunk)
        tmp.seek(0)
        extract_tar(fs, "/", tmp, opts)
        for _, real in archives:
            with open(real, "rb") as f:
                digest.update(real.encode())
                extract_tar(fs, dest.rstrip("/") or "/", decompressed(f), opts)
    one_dir = len(picked) == 1 and os.path.isdir(picked[0][1])
    kind = "multi" if len(picked) > 1 else ("dir" if one_dir else "file")
    return f"{kind}:{digest.hexdigest()}"
