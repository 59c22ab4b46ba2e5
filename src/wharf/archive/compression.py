"""Streaming decompression of layer blobs: gzip (``isal``, else zlib), zstd (``zstandard``), or none.

Layers are never held in memory: each reader decompresses one chunk at a time. The format is
taken from the first bytes (magic numbers), not trusted from the media type, as Docker does.
``HashingReader`` computes a layer's DiffID (the digest of the uncompressed tar) as it is read.

gzip goes through python-isal's zlib when it is installed (Intel's ISA-L inflate: the same
streams, about twice zlib's speed on this project's layers, the GIL released as zlib does;
docs/performance.md, "Cold pull"), else through the standard library's zlib: the same API.
"""

from __future__ import annotations

import io
import zlib
from typing import Any, BinaryIO, Protocol

from wharf.errors import InvalidArgument
from wharf.oci.digest import new_hasher

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


def detect(head: bytes) -> str:
    """ "gzip", "zstd" or "none" from a blob's first bytes."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def _inflate() -> Any:
    """The zlib module to inflate with: isal's when installed, else the standard library's."""
    global _INFLATE
    if _INFLATE is None:
        try:
            from isal import isal_zlib

            _INFLATE = isal_zlib
        except ImportError:
            _INFLATE = zlib
    return _INFLATE


_INFLATE: Any = None


class _GzipRaw(io.RawIOBase):
    """Multi-member gzip, one bounded chunk per ``readinto``."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._z = _inflate()
        self._d = self._z.decompressobj(31)
        self._pending = b""
        self._in_member = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while True:
            data = self._d.unconsumed_tail or self._pending or self._raw.read(_CHUNK)
            self._pending = b""
            if not data:
                if self._in_member:
                    raise InvalidArgument("layer is not a complete gzip stream")
                return 0
            self._in_member = True
            out = self._d.decompress(data, len(b))
            if self._d.eof:
                self._in_member = False
                self._next_member()
            if out:
                b[: len(out)] = out
                return len(out)

    def _next_member(self) -> None:
        rest = self._d.unused_data
        self._d = self._z.decompressobj(31)
        self._pending = rest if rest.lstrip(b"\0") else b""


def decompressed(raw: BinaryIO) -> Readable:
    """A reader of ``raw``'s uncompressed bytes, whatever its compression."""
    head = raw.read(4)
    raw.seek(-len(head), 1)
    kind = detect(head)
    if kind == "gzip":
        return io.BufferedReader(_GzipRaw(raw), _CHUNK)
    if kind == "zstd":
        import zstandard

        reader: Readable = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return reader
    return raw


class HashingReader:
    """Passes reads through and digests them; ``digest()`` once fully read."""

    def __init__(self, inner: Readable, alg: str = "sha256") -> None:
        self._inner = inner
        self._alg = alg
        self._hasher = new_hasher(alg)
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self._hasher.update(data)
        self.count += len(data)
        return data

    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    def digest(self) -> str:
        return f"{self._alg}:{self._hasher.hexdigest()}"


def check_kind(kind: str) -> str:
    if kind not in ("gzip", "zstd", "none"):
        raise InvalidArgument(f"unsupported compression {kind!r}")
    return kind
