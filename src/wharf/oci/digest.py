"""Content digests: ``<algorithm>:<hex>``, as the OCI image spec defines them.

A digest names a blob by its bytes. Everything that crosses a trust boundary (a registry, a tar
from ``docker save``, an ingest resumed after a crash) is checked against one before it is used.
Only ``sha256`` and ``sha512`` are accepted. ``hashlib`` is imported lazily so that importing this
module costs nothing on the runtime's fast path.
"""

from __future__ import annotations

from wharf.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    import hashlib

HEX_LENGTHS = {"sha256": 64, "sha512": 128}
_HEX = frozenset("0123456789abcdef")


def parse_digest(s: str) -> str:
    """Return ``s`` if it is a well-formed digest, else raise InvalidArgument."""
    alg, sep, hexpart = s.partition(":")
    want = HEX_LENGTHS.get(alg)
    if not sep or want is None:
        raise InvalidArgument(f"invalid digest {s!r}: unsupported or missing algorithm")
    if len(hexpart) != want or not _HEX.issuperset(hexpart):
        raise InvalidArgument(f"invalid digest {s!r}: want {want} lower-case hex characters")
    return s


def is_digest(s: str) -> bool:
    try:
        parse_digest(s)
    except InvalidArgument:
        return False
    return True


def algorithm(digest: str) -> str:
    return digest.partition(":")[0]


def encoded(digest: str) -> str:
    """The hex part of a digest."""
    return digest.partition(":")[2]


def sha256_digest(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def new_hasher(alg: str = "sha256") -> hashlib._Hash:
    import hashlib

    if alg not in HEX_LENGTHS:
        raise InvalidArgument(f"unsupported digest algorithm {alg!r}")
    return hashlib.new(alg)
