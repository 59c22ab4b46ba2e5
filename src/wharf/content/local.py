"""A local content-addressable store: blobs named by their digest, written through ingests.

Layout under ``root``::

    blobs/<alg>/<hex>                committed, verified, immutable
    ingest/<sha256(ref)>/data        bytes received so far for one in-flight write
                        /ref         the caller's ref (e.g. "layer-sha256:...")
                        /total       expected size, if known
                        /expected    expected digest

Lifecycle of a write (containerd's ``content.Writer``):

1. ``writer(ref, expected, size)`` opens (or resumes) the ingest for ``ref`` and takes an
   exclusive ``flock`` on it, so two writers never interleave. On resume the partial ``data`` is
   hashed again and ``offset`` says where to continue (a registry ``Range`` request).
2. ``write()`` appends and hashes as it goes; nothing is buffered in memory.
3. ``commit()`` fsyncs, checks size and digest against what was expected, renames ``data`` to
   ``blobs/<alg>/<hex>`` and fsyncs the directory. A mismatch raises FailedPrecondition and the
   ingest is discarded. After the rename (the point of no return) cleanup failures are ignored.
4. ``close()`` keeps the partial ingest for a later resume; ``abort()`` removes it.

Opening the store removes what no one can resume: ``put_bytes``' temporary files of dead
processes, unlocked ``put_file`` ingests (a commit or load killed midway writes them again) and
ingests whose blob is committed (a kill between the rename and the ingest's removal).

A kill at any moment leaves either a complete, verified blob or an ingest: never a blob whose
bytes do not match its name.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from typing import BinaryIO

from wharf.base import owner, trees
from wharf.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from wharf.oci.digest import HEX_LENGTHS, algorithm, encoded, new_hasher, parse_digest, sha256_digest

_CHUNK = 1 << 20
_PUT_PREFIX = "put-"  # put_bytes' temporary files (then the owner), put_file's ingest refs


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_small(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _read_small(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


class Writer:
    """One in-flight ingest; see the module docstring for its lifecycle."""

    def __init__(self, store: LocalContentStore, ref: str, expected: str, size: int | None) -> None:
        self._store = store
        self.ref = ref
        self.expected = parse_digest(expected)
        self.total = size
        self._dir = store.ingest_dir(ref)
        self._hasher = new_hasher(algorithm(expected))
        self._file = self._open()
        self.offset = self._rehash()

    def _open(self) -> BinaryIO:
        os.makedirs(self._dir, exist_ok=True)
        prior = _read_small(f"{self._dir}/expected")
        f = open(f"{self._dir}/data", "a+b")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            raise Unavailable(f"ref {self.ref} locked: another writer is ingesting it") from None
        if prior != self.expected:
            f.truncate(0)
            _write_small(f"{self._dir}/ref", self.ref)
            _write_small(f"{self._dir}/expected", self.expected)
        if self.total is not None:
            _write_small(f"{self._dir}/total", str(self.total))
        return f

    def _rehash(self) -> int:
        self._file.seek(0)
        n = 0
        while chunk := self._file.read(_CHUNK):
            self._hasher.update(chunk)
            n += len(chunk)
        return n

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._hasher.update(data)
        self.offset += len(data)

    def digest(self) -> str:
        return f"{algorithm(self.expected)}:{self._hasher.hexdigest()}"

    def commit(self) -> str:
        """Verify and move into ``blobs/``; returns the digest. Idempotent for an existing blob."""
        self._file.flush()
        os.fsync(self._file.fileno())
        got = self.digest()
        if self.total is not None and self.offset != self.total:
            self.abort()
            raise FailedPrecondition(
                f"unexpected commit size {self.offset}, expected {self.total} for {self.expected}"
            )
        if got != self.expected:
            self.abort()
            raise FailedPrecondition(f"digest mismatch: expected {self.expected}, got {got}")
        target = self._store.path(self.expected)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(f"{self._dir}/data", target)
        fsync_dir(os.path.dirname(target))
        self._discard()
        return self.expected

    def abort(self) -> None:
        """Drop the partial ingest."""
        self._discard()

    def close(self) -> None:
        """Release the writer; the partial ingest stays for a later resume."""
        if not self._file.closed:
            self._file.close()

    def _discard(self) -> None:
        self.close()
        trees.remove_tree(self._dir, ignore_errors=True)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalContentStore:
    """Blobs on the local filesystem; see the module docstring."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(f"{root}/blobs/sha256", exist_ok=True)
        os.makedirs(f"{root}/ingest", exist_ok=True)
        self._sweep_abandoned()

    def _sweep_abandoned(self) -> None:
        """Writes no one can resume, left by a process killed in the middle: ``put_bytes``'s
        temporary files of a dead process and ``put_file``'s ingests that no writer holds. A
        pull's ingests stay, for the next pull to resume."""
        base = f"{self.root}/ingest"
        for name in os.listdir(base):
            path = f"{base}/{name}"
            if name.startswith(_PUT_PREFIX):
                if not owner.alive(name[len(_PUT_PREFIX) :].partition("-")[0]):
                    with contextlib.suppress(OSError):
                        os.unlink(path)
            elif self._committed(_read_small(f"{path}/expected")):
                trees.remove_tree(path, ignore_errors=True)  # killed after the rename: done
            elif (_read_small(f"{path}/ref") or "").startswith(_PUT_PREFIX):
                try:
                    f = open(f"{path}/data", "rb")
                except OSError:
                    continue
                with f:
                    try:
                        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # a writer of this process holds it
                    trees.remove_tree(path, ignore_errors=True)

    def _committed(self, expected: str | None) -> bool:
        try:
            return expected is not None and self.exists(expected)
        except InvalidArgument:
            return False

    def path(self, digest: str) -> str:
        parse_digest(digest)
        return f"{self.root}/blobs/{algorithm(digest)}/{encoded(digest)}"

    def ingest_dir(self, ref: str) -> str:
        return f"{self.root}/ingest/{encoded(sha256_digest(ref.encode()))}"

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"content digest {digest}: not found") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"content digest {digest}: not found") from None

    def read_bytes(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def put_bytes(self, data: bytes, expected: str | None = None) -> str:
        """Store ``data`` atomically; verifies it against ``expected`` if given."""
        alg = algorithm(parse_digest(expected)) if expected else "sha256"
        hasher = new_hasher(alg)
        hasher.update(data)
        digest = f"{alg}:{hasher.hexdigest()}"
        if expected is not None and digest != expected:
            raise FailedPrecondition(f"digest mismatch: expected {expected}, got {digest}")
        target = self.path(digest)
        if os.path.exists(target):
            return digest
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # one temporary file per writer: two threads may store the same bytes at once
        tmp = f"{self.root}/ingest/{_PUT_PREFIX}{owner.me()}-{encoded(digest)[:16]}-{os.urandom(4).hex()}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, target)
        fsync_dir(os.path.dirname(target))
        return digest

    def put_file(self, src: BinaryIO, expected: str | None = None, size: int | None = None) -> str:
        """Stream ``src`` into the store; without ``expected`` the digest is computed first."""
        if expected is None:
            hasher = new_hasher("sha256")
            src.seek(0)
            while chunk := src.read(_CHUNK):
                hasher.update(chunk)
            expected = "sha256:" + hasher.hexdigest()
            src.seek(0)
        if self.exists(expected):
            return expected
        w = self._own_writer(expected, size)
        if w is None:
            return expected  # another writer stored the same bytes meanwhile
        try:
            if w.offset:
                w.abort()
                w = self.writer(f"{_PUT_PREFIX}{expected}", expected, size)
            while chunk := src.read(_CHUNK):
                w.write(chunk)
            return w.commit()
        finally:
            w.close()

    def _own_writer(self, expected: str, size: int | None, wait: float = 600.0) -> Writer | None:
        """put_file's writer; while another one (another build's step making the same layer)
        holds the ref, wait for it: None when it committed the blob."""
        import time

        deadline = time.monotonic() + wait
        while True:
            try:
                return self.writer(f"{_PUT_PREFIX}{expected}", expected, size)
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
            if self.exists(expected):
                return None
            time.sleep(0.05)

    def writer(self, ref: str, expected: str, size: int | None = None) -> Writer:
        return Writer(self, ref, expected, size)

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            raise NotFound(f"content digest {digest}: not found") from None

    def list(self) -> Iterator[tuple[str, int]]:
        """Every committed blob as (digest, size)."""
        for alg in HEX_LENGTHS:
            base = f"{self.root}/blobs/{alg}"
            try:
                entries = list(os.scandir(base))
            except FileNotFoundError:
                continue
            for e in entries:
                if len(e.name) == HEX_LENGTHS[alg]:
                    try:
                        yield f"{alg}:{e.name}", e.stat().st_size
                    except OSError as err:
                        if err.errno != errno.ENOENT:
                            raise

    def ingests(self) -> builtins.list[str]:
        """Refs of in-flight (or abandoned) ingests."""
        refs = []
        for name in os.listdir(f"{self.root}/ingest"):
            ref = _read_small(f"{self.root}/ingest/{name}/ref")
            if ref is not None:
                refs.append(ref)
        return refs
