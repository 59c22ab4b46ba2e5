"""The build context: POST /build's body received into a directory of its own, as dockerd's
classic builder receives it (``builder/remotecontext``).

- The body is a tar, plain or compressed (gzip, bzip2, xz or zstd, told by its first bytes as
  Docker's ``DetectCompression`` does). It is unpacked entry by entry as it arrives, never
  held whole, by ``archive.scoped.extract_tar``: every name is resolved inside the directory
  without following a symlink, so ``../`` names are refused (``"../x" is outside of "/"``) and
  a symlink in the context may point anywhere without anything being written through it.
  ``limit`` bounds the bytes unpacked: a context larger than the daemon accepts is a clear
  error, not a full disk.
- The Dockerfile is the ``dockerfile`` parameter's path inside the context (the docker CLI
  puts a Dockerfile from outside the context into the tar under a name of its own and names
  that), ``Dockerfile`` by default, resolved inside the context (a symlink to the host's files
  reads nothing of the host). Missing: ``Cannot locate specified Dockerfile: NAME``; empty:
  ``the Dockerfile (NAME) cannot be empty``, dockerd's words.
- ``.dockerignore`` has been applied by the client (the docker CLI and docker-py filter the
  context before sending it); as dockerd, the daemon only removes the ``.dockerignore`` and the
  Dockerfile themselves when the patterns name them, after the Dockerfile was read.
"""

from __future__ import annotations

import bz2
import lzma
import os
from typing import BinaryIO

from wharf.archive.compression import GZIP_MAGIC, ZSTD_MAGIC, Readable
from wharf.archive.scoped import ExtractOptions, ScopedFS, extract_tar
from wharf.build import ignore
from wharf.errors import InvalidArgument

BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
DEFAULT_DOCKERFILE = "Dockerfile"
MAX_DOCKERFILE = 4 << 20  # a Dockerfile is read whole; more is no Dockerfile


class ContextTooLarge(InvalidArgument):
    """The context unpacks to more than the daemon takes."""


class _Peeked:
    """``raw`` with its first bytes read ahead (to tell the compression) and given back."""

    def __init__(self, raw: Readable, n: int) -> None:
        self.raw = raw
        self.head = b""
        while len(self.head) < n:
            more = raw.read(n - len(self.head))
            if not more:
                break
            self.head += more
        self._pending = self.head

    def read(self, n: int = -1) -> bytes:
        if self._pending:
            out = self._pending if n < 0 else self._pending[:n]
            self._pending = self._pending[len(out) :]
            return out
        return self.raw.read(n)


class _Limited:
    """Fails once more than ``limit`` bytes were read (the uncompressed tar)."""

    def __init__(self, raw: Readable, limit: int) -> None:
        self.raw, self.left, self.limit = raw, limit, limit

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.left -= len(data)
        if self.left < 0:
            raise ContextTooLarge(f"the build context is larger than {self.limit} bytes unpacked")
        return data


def decompressed(body: Readable) -> Readable:
    """The uncompressed tar of ``body``, whatever of Docker's compressions it uses."""
    peeked = _Peeked(body, 6)
    head = peeked.head
    if head.startswith(GZIP_MAGIC):
        import gzip

        return gzip.GzipFile(fileobj=_as_binary(peeked), mode="rb")
    if head.startswith(BZIP2_MAGIC):
        return bz2.BZ2File(_as_binary(peeked), mode="rb")
    if head.startswith(XZ_MAGIC):
        return lzma.LZMAFile(_as_binary(peeked), mode="rb")
    if head.startswith(ZSTD_MAGIC):
        import zstandard

        reader: Readable = zstandard.ZstdDecompressor().stream_reader(
            _as_binary(peeked), read_across_frames=True
        )
        return reader
    return peeked


def _as_binary(r: Readable) -> BinaryIO:
    from typing import cast

    return cast(BinaryIO, r)


def receive(body: Readable, dest: str, limit: int) -> int:
    """Unpack the context ``body`` into the empty directory ``dest``; returns its entries."""
    with ScopedFS(dest) as fs:
        try:
            return extract_tar(fs, "/", _Limited(decompressed(body), limit), ExtractOptions())
        except (EOFError, OSError, lzma.LZMAError) as exc:
            raise InvalidArgument(f"the build context is not a valid archive: {exc}") from None


def read_dockerfile(dest: str, name: str) -> tuple[str, str]:
    """(the Dockerfile's path in the context, its text), resolved inside ``dest``."""
    from wharf.runtime.securejoin import read_in_root

    rel = ignore.clean(name or DEFAULT_DOCKERFILE).lstrip("/")
    shown = name or DEFAULT_DOCKERFILE
    data = read_in_root(dest, rel, MAX_DOCKERFILE + 1) if rel not in ("", ".") else None
    if data is None:
        raise InvalidArgument(f"Cannot locate specified Dockerfile: {shown}")
    if len(data) > MAX_DOCKERFILE:
        raise InvalidArgument(f"the Dockerfile ({shown}) is larger than {MAX_DOCKERFILE} bytes")
    if not data:
        raise InvalidArgument(f"the Dockerfile ({shown}) cannot be empty")
    try:
        return rel, data.decode()
    except UnicodeDecodeError:
        raise InvalidArgument(f"the Dockerfile ({shown}) is not UTF-8 text") from None


def drop_ignored(dest: str, dockerfile: str) -> None:
    """dockerd's ``removeDockerfile``: the ``.dockerignore`` and the Dockerfile leave the
    context when ``.dockerignore`` names them (the client removed everything else it names)."""
    from wharf.runtime.securejoin import read_in_root

    data = read_in_root(dest, ".dockerignore", 1 << 20)
    if data is None:
        return
    matcher = ignore.Matcher(ignore.read_patterns(data.decode(errors="replace")))
    for rel in (".dockerignore", dockerfile):
        if matcher.matches(rel):
            _remove_in(dest, rel)


def _remove_in(dest: str, rel: str) -> None:
    parent, base = os.path.split(rel)
    with ScopedFS(dest) as fs, fs.resolve("/" + parent, follow=True) as node:
        if not node.exists:
            return
        fd = os.open(node.name, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=node.dir_fd)
        try:
            os.unlink(base, dir_fd=fd)
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            pass
        finally:
            os.close(fd)


def fetch_remote(url: str, work: str, dest: str, dockerfile: str, limit: int) -> None:
    """Blocking: ``remote``: the URL's body (http or https) downloaded into ``work``, then, as
    dockerd does, unpacked into ``dest`` when it is an archive, else taken as the Dockerfile
    (named ``dockerfile`` or ``Dockerfile``) of an otherwise empty context."""
    import tarfile
    import urllib.error
    import urllib.request

    if url.startswith(("git://", "git@", "github.com/")) or url.split("#")[0].endswith(".git"):
        raise InvalidArgument("a git repository as the build context is not supported by this builder")
    if not url.startswith(("http://", "https://")):
        raise InvalidArgument(f"unable to prepare context: unsupported remote context {url}")
    path = os.path.join(work, "remote")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(path, "wb") as out:
            size = 0
            while chunk := resp.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise ContextTooLarge(f"the remote context {url} is larger than {limit} bytes")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise InvalidArgument(f"unable to prepare context: {url}: {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise InvalidArgument(
            f"unable to prepare context: unable to download remote context {url}: {exc}"
        ) from None
    with open(path, "rb") as f:
        head = f.read(6)
    if head.startswith((GZIP_MAGIC, BZIP2_MAGIC, XZ_MAGIC, ZSTD_MAGIC)) or tarfile.is_tarfile(path):
        with open(path, "rb") as f:
            receive(f, dest, limit)
        return
    name = ignore.clean(dockerfile or DEFAULT_DOCKERFILE).lstrip("/") or DEFAULT_DOCKERFILE
    os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
    os.replace(path, os.path.join(dest, name))
