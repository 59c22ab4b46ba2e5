"""What a ``COPY``/``ADD`` step copies: its sources resolved into entries, and their checksum.

A source is a path of the context (or of another stage's or image's files, ``--from``), a
heredoc or a downloaded URL. Paths resolve inside their root, symlinks too (``..`` and absolute
links cannot leave it); Go's wildcards (``filepath.Match``, one path component at a time, dot
files included) are matched by listing the resolved directories, never the host's. A matched
directory stands for its contents.

Each source becomes a ``Source``: the entries that will land (relative to where the source
lands), each with its mode, its owner (kept only for ``--from`` without ``--chown``, as
BuildKit and the classic builder keep them), its symlink target and where its content is read.

- ``--exclude`` patterns (.dockerignore's rules, ``ignore.Matcher``) match an entry's path
  relative to the source: a directory source's contents relative to the directory, a wildcard
  match relative to the wildcard's directory (``COPY --exclude=*.txt hom* /d/`` leaves out
  ``home.txt``; BuildKit documents this but only applies it below directories, moby/buildkit
  #5489). An excluded directory is walked only when an exception (``!``) may re-include
  something in it.
- ``--parents`` (BuildKit's): the source is a pattern relative to the root, or to a pivot
  written ``dir/./rest``; what it matches keeps its path under the destination, its parent
  directories too (with their own modes).

``checksum`` reads every file once: the hex sha256 of the step's values and of what will be
copied (names, contents, modes, owners when kept, symlink targets, the tree), never mtimes, so
touching a file keeps it; the history's ``file:``/``dir:`` hash is the content part alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from wharf.build.ignore import Matcher, clean
from wharf.errors import InvalidArgument

if TYPE_CHECKING:
    from wharf.archive.scoped import ScopedFS
    from wharf.base.idmap import IdMap

FILE, DIR, ARCHIVE, TREE = "file", "dir", "archive", "tree"  # how a source lands
_WILD = set("*?[")
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_CHUNK = 1 << 20
_ENC = "utf-8"


def not_found(name: str) -> InvalidArgument:
    return InvalidArgument(
        f"COPY failed: file not found in build context or excluded by .dockerignore: "
        f"stat {name}: file does not exist"
    )


@dataclass
class Entry:
    """One file, directory, symlink or device to copy, ``rel`` its path under where its source
    lands ("" for a file source: the landing name itself)."""

    rel: str
    mode: int  # st_mode: the type and the permission bits, before --chmod
    mtime: float
    size: int = 0
    path: str = ""  # the host path a regular file's content is read from
    data: bytes | None = None  # a heredoc's content
    link: str = ""  # a symlink's target
    uid: int = 0  # the owner a tar of it carries (kept from the source only with --from)
    gid: int = 0
    rdev: int = 0
    inode: tuple[int, int] | None = None  # (dev, ino) of a file with other links: one hardlink
    xattrs: dict[str, str] = field(default_factory=dict)  # PAX SCHILY.xattr.* (--from files)


@dataclass
class Source:
    name: str  # as named (a file source lands under its base name in a directory)
    kind: str  # FILE, DIR (its contents), ARCHIVE (ADD unpacks it), TREE (--parents: own paths)
    entries: list[Entry]


@dataclass
class Origin:
    """Where path sources resolve: the context, or an image's files (``--from``)."""

    root: str  # the host directory
    owners: IdMap | None = None  # set: the files' owners are kept (as a tar out of it has them)
    xattrs: bool = False


def resolve(origin: Origin, src: str, excludes: list[str], parents: bool, unpack: bool) -> list[Source]:
    """Blocking: the sources ``src`` names in ``origin`` (several for a wildcard); raises the
    missing-source error when it names nothing."""
    from wharf.archive.scoped import ScopedFS

    exclude = matcher(excludes)
    with ScopedFS(origin.root) as fs:
        if parents:
            return [_parents(fs, origin, src, exclude)]
        rel = posixpath.normpath("/" + src).lstrip("/")
        names, wild = [rel], bool(_WILD & set(rel))
        if wild:
            names, base = _glob(fs, origin.root, rel), _literal(rel)
            if not names:
                raise not_found(src)
            if exclude is not None:  # a match is excluded by its path from the wildcard's dir
                names = [n for n in names if not exclude.matches(n[len(base) + 1 :] if base else n)]
        out: list[Source] = []
        for name in names:
            host = _host(fs, origin.root, name)
            if host is None:
                raise not_found(src)
            st = os.lstat(host)
            if stat.S_ISDIR(st.st_mode):
                out.append(Source(name, DIR, _walk(host, _Filter(exclude), origin)))
                continue
            entry = _entry("", host, st, origin)
            if entry is None:
                raise not_found(src)
            kind = ARCHIVE if unpack and stat.S_ISREG(st.st_mode) and is_archive(host) else FILE
            out.append(Source(name, kind, [entry]))
        return out


def matcher(patterns: list[str]) -> Matcher | None:
    """--exclude's patterns (relative: a leading ``/`` is dropped, ``!`` re-includes)."""
    cleaned = []
    for p in patterns:
        invert = p.startswith("!")
        body = clean(p[1:] if invert else p)
        if len(body) > 1 and body.startswith("/"):
            body = body[1:]
        cleaned.append("!" + body if invert else body)
    return Matcher(cleaned) if cleaned else None


def _host(fs: ScopedFS, root: str, rel: str) -> str | None:
    """The host path of ``rel`` with its symlinks resolved inside ``root``; None if missing."""
    try:
        with fs.resolve("/" + rel, follow=True) as node:
            if not node.exists:
                return None
            inner = node.path.lstrip("/")
    except OSError:  # a missing or non-directory component on the way, a symlink loop
        return None
    return os.path.join(root, inner) if inner else root


def _literal(rel: str) -> str:
    """The components of a pattern before its first wildcard one."""
    parts = rel.split("/")
    for i, part in enumerate(parts):
        if _WILD & set(part):
            return "/".join(parts[:i])
    return rel


def _glob(fs: ScopedFS, root: str, rel: str) -> list[str]:
    """The names under ``root`` matching the pattern ``rel``, each wildcard component matched
    against the entries of the directories found so far (resolved in scope), in Go's order."""
    found = [""]
    for part in rel.split("/"):
        if not _WILD & set(part):
            found = [f"{p}/{part}" if p else part for p in found]
            continue
        m, nxt = Matcher([part]), []
        for p in found:
            host = _host(fs, root, p)
            if host is None or not os.path.isdir(host):
                continue
            for name in sorted(os.listdir(host), key=os.fsencode):
                if m.matches(name):
                    nxt.append(f"{p}/{name}" if p else name)
        found = nxt
    return [p for p in found if _host(fs, root, p) is not None]


class _Filter:
    """Which paths of a walk are copied: not excluded, and (``--parents``) under what the
    source's pattern matches."""

    def __init__(self, exclude: Matcher | None, include: str = "") -> None:
        self.exclude = exclude
        self.include = Matcher([include]) if include else None
        self.parts = [None if p == "**" else Matcher([p]) for p in include.split("/")] if include else []

    def wanted(self, rel: str) -> bool:
        if self.include is not None and not self.include.matches(rel):
            return False
        return self.exclude is None or not self.exclude.matches(rel)

    def descend(self, rel: str) -> bool:
        """Whether a directory that is not wanted may hold something that is."""
        if self.exclude is not None and self.exclude.matches(rel):
            if not self.exclude.may_contain_included(rel):
                return False
        if self.include is None or self.include.matches(rel):
            return True
        for i, name in enumerate(rel.split("/")):  # can the pattern still match below it?
            if i >= len(self.parts):
                return False
            m = self.parts[i]
            if m is None:
                return True
            if not m.matches(name):
                return False
        return True


def _walk(top: str, keep: _Filter, origin: Origin) -> list[Entry]:
    """The wanted entries under the host directory ``top`` (not itself), each directory before
    its contents, names in byte order; an unwanted directory walked into is listed (before its
    first wanted entry) only if something in it is wanted. Symlinks are never followed."""
    out: list[Entry] = []
    pending: list[tuple[str, str, os.stat_result]] = []
    stack = [("", _listing(top))]
    while stack:
        rel_dir, entries = stack[-1]
        if not entries:
            stack.pop()
            if pending and pending[-1][0] == rel_dir:
                pending.pop()
            continue
        d = entries.pop()
        rel = f"{rel_dir}/{d.name}" if rel_dir else d.name
        is_dir = d.is_dir(follow_symlinks=False)
        if keep.wanted(rel):
            out.extend(e for e in (_entry(*p, origin) for p in pending) if e is not None)
            pending.clear()
            e = _entry(rel, d.path, d.stat(follow_symlinks=False), origin)
            if e is not None:
                out.append(e)
            if is_dir:
                stack.append((rel, _listing(d.path)))
        elif is_dir and keep.descend(rel):
            pending.append((rel, d.path, d.stat(follow_symlinks=False)))
            stack.append((rel, _listing(d.path)))
    return out


def _listing(path: str) -> list[os.DirEntry[str]]:
    """A directory's entries, last name (in Go's byte order) first: popped in order."""
    with os.scandir(path) as it:
        return sorted(it, key=lambda e: os.fsencode(e.name), reverse=True)


def _entry(rel: str, path: str, st: os.stat_result, origin: Origin) -> Entry | None:
    kind = stat.S_IFMT(st.st_mode)
    if kind == stat.S_IFSOCK:
        return None  # sockets are not copied (as Docker)
    e = Entry(rel, st.st_mode, st.st_mtime)
    if origin.owners is not None:
        e.uid, e.gid = origin.owners.in_tar(st.st_uid, st.st_gid)
    if kind == stat.S_IFREG:
        e.path, e.size = path, st.st_size
        if st.st_nlink > 1:
            e.inode = (st.st_dev, st.st_ino)
    elif kind == stat.S_IFLNK:
        e.link = os.readlink(path)
    elif kind in (stat.S_IFCHR, stat.S_IFBLK):
        e.rdev = st.st_rdev
    if origin.xattrs and kind in (stat.S_IFREG, stat.S_IFDIR):
        e.xattrs = _xattrs(path)
    return e


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith("trusted.overlay."):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out["SCHILY.xattr." + name] = value.decode(_ENC, "surrogateescape")
    return out


def _parents(fs: ScopedFS, origin: Origin, src: str, exclude: Matcher | None) -> Source:
    """``--parents``: what the pattern matches under the root (or the pivot ``dir/./``), with
    its parent directories, named by their paths from there."""
    pivot, sep, pattern = src.partition("/./")
    if not sep:
        pivot, pattern = "/", src
    pattern = posixpath.normpath("/" + pattern).lstrip("/")
    top = _host(fs, origin.root, posixpath.normpath("/" + pivot).lstrip("/"))
    wild = bool(_WILD & set(pattern))
    if not wild and _host(fs, origin.root, posixpath.join(pivot, pattern).lstrip("/")) is None:
        raise not_found(src)
    entries = _walk(top, _Filter(exclude, pattern), origin) if top and os.path.isdir(top) else []
    if wild and not entries and exclude is None:
        raise not_found(src)
    return Source(src, TREE, entries)


def is_archive(path: str) -> bool:
    """Whether ``path`` is a tar, plain or compressed, holding at least one entry (moby's
    isArchivePath: a compressed file that is no tar is copied as it is)."""
    import tarfile

    from wharf.build.context import decompressed

    try:
        with open(path, "rb") as f, tarfile.open(fileobj=decompressed(f), mode="r|") as tar:  # type: ignore[call-overload]
            return tar.next() is not None
    except Exception:  # anything unreadable as a tar is no tar
        return False


def heredoc(name: str, data: bytes, mtime: float) -> Source:
    """A heredoc source: a file named after its word, mode 0644 (as BuildKit makes it)."""
    return Source(name, FILE, [Entry("", stat.S_IFREG | 0o644, mtime, size=len(data), data=data)])


def checksum(header: list[str], sources: list[Source]) -> tuple[str, str]:
    """Blocking: (the step's checksum, the content hash) — see the module docstring."""
    content = hashlib.sha256()
    for s in sources:
        content.update(b"\x01" + f"{s.kind}\0{s.name}\0".encode(_ENC, "surrogateescape"))
        for e in s.entries:
            meta = f"{e.rel}\0{e.mode:o}\0{e.uid}:{e.gid}\0{e.link}\0{e.rdev}\0"
            if e.xattrs:
                meta += json.dumps(sorted(e.xattrs.items()))
            content.update(b"\x02" + meta.encode(_ENC, "surrogateescape"))
            if e.data is not None:
                content.update(b"%d\0" % len(e.data))
                content.update(e.data)
            elif e.path:
                content.update(_file_digest(e.path))
    digest = content.hexdigest()
    key = json.dumps([*header, digest], ensure_ascii=False).encode(_ENC, "surrogateescape")
    return hashlib.sha256(key).hexdigest(), digest


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...


_FILE_DIGESTS: dict[tuple[str, int, int, int, int, int], bytes] = {}  # by path and stat data
_FILE_FILE_DIGESTS_MAX = 1 << 18


def _file_digest(path: str) -> bytes:
    """The SHA-256 of a file's size and bytes; remembered by its path, inode, size, mtime and
    ctime (a write or a chmod moves ctime, which no one can set back), but only once its ctime
    is a second old, so that a change within the clock's granularity is never hidden."""
    import time

    st = os.stat(path, follow_symlinks=False)
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    got = _FILE_DIGESTS.get(key)
    if got is not None:
        return got
    h = hashlib.sha256()
    _hash_file(h, path)
    digest = h.digest()
    if st.st_ctime < time.time() - 1:
        if len(_FILE_DIGESTS) >= _FILE_FILE_DIGESTS_MAX:
            _FILE_DIGESTS.clear()
        _FILE_DIGESTS[key] = digest
    return digest


def _hash_file(h: _Hasher, path: str) -> None:
    fd = os.open(path, _READ)
    try:
        left = os.fstat(fd).st_size
        h.update(b"%d\0" % left)
        while left > 0:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:
                h.update(bytes(left))  # shrank meanwhile: hashed as the tar pads it
                break
            h.update(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)


# --- --chmod ---------------------------------------------------------------------------------

_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o0007, "a": 0o6777}
_PERM = {"r": 0o444, "w": 0o222, "x": 0o111}
_SHIFT = {"u": 6, "g": 3, "o": 0}


@dataclass(frozen=True)
class Chmod:
    """--chmod: an octal mode (up to 07777) or a symbolic one (``u+x,go=rX``), as BuildKit
    reads it (dchapes/mode, BSD's setmode, umask 0); ``apply`` gives an entry's new bits."""

    text: str
    octal: int | None = None
    clauses: tuple[tuple[int, tuple[tuple[str, str], ...]], ...] = ()

    def apply(self, mode: int, is_dir: bool) -> int:
        if self.octal is not None:
            return self.octal
        old = new = stat.S_IMODE(mode)
        for who, ops in self.clauses:
            for op, perms in ops:
                mask = who or 0o7777
                if perms in _SHIFT:
                    bits = ((new >> _SHIFT[perms]) & 7) * 0o111 & mask & 0o777
                else:
                    bits = _bits(perms, who, old, is_dir) & (mask | (0o1000 if "t" in perms else 0))
                if op == "+":
                    new |= bits
                elif op == "-":
                    new &= ~bits
                else:
                    new = (new & ~mask) | bits
        return new


def _bits(perms: str, who: int, old: int, is_dir: bool) -> int:
    out = 0
    for p in perms:
        if p in _PERM:
            out |= _PERM[p]
        elif p == "X" and (is_dir or old & 0o111):
            out |= 0o111
        elif p == "s" and (not who or who & 0o6700):
            out |= 0o6000
        elif p == "t" and (not who or who & ~0o0007):
            out |= 0o1000
    return out


def parse_chmod(text: str) -> Chmod:
    """--chmod's value, or BuildKit's error."""
    numeric = InvalidArgument(
        f"invalid chmod parameter: '{text}'. it should be octal string and between 0 and 07777"
    )
    if text and text[0].isdigit():
        if not all(c in "01234567" for c in text) or int(text, 8) > 0o7777:
            raise numeric
        return Chmod(text, octal=int(text, 8))
    clauses = []
    for part in text.split(","):
        i, who = 0, 0
        while i < len(part) and part[i] in _WHO:
            who |= _WHO[part[i]]
            i += 1
        ops = []
        while i < len(part) and part[i] in "+-=":
            op, j = part[i], i + 1
            if j < len(part) and part[j] in _SHIFT:
                ops.append((op, part[j]))
                i = j + 1
                continue
            while j < len(part) and part[j] in "rwxXst":
                j += 1
            ops.append((op, part[i + 1 : j]))
            i = j
        if not ops or i != len(part):
            raise InvalidArgument(f"invalid chmod parameter: '{text}': invalid syntax")
        clauses.append((who, tuple(ops)))
    return Chmod(text, clauses=tuple(clauses))


# --- ADD <url> -------------------------------------------------------------------------------

_DIGESTS = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass
class Download:
    path: str
    name: str  # "" when neither the URL's path nor a Content-Disposition names a file
    mtime: float  # Last-Modified, else 0 (as dockerd and BuildKit set it)
    size: int


def parse_digest(text: str) -> tuple[str, str]:
    """ADD --checksum's ``algorithm:hex`` as go-digest's Parse reads it, with its errors."""
    algo, sep, encoded = text.partition(":")
    if not sep or not algo or not encoded:
        raise InvalidArgument("invalid checksum digest format")
    if algo not in _DIGESTS:
        raise InvalidArgument("unsupported digest algorithm")
    if len(encoded) != _DIGESTS[algo]:
        raise InvalidArgument("invalid checksum digest length")
    if any(c not in "0123456789abcdef" for c in encoded):
        raise InvalidArgument("invalid checksum digest format")
    return algo, encoded


def download(url: str, into: str, want: str) -> Download:
    """Blocking: ``url``'s body saved (mode 0600) in a new directory under ``into``, verified
    against ``want`` (``--checksum``) if given; an HTTP error status is dockerd's message."""
    import http.client
    import tempfile
    import urllib.error
    import urllib.request

    algo, expected = parse_digest(want) if want else ("sha256", "")
    h = hashlib.new(algo)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "wharf-builder"})
        with _opener(url).open(request, timeout=600) as resp:
            name = _download_name(url, resp.headers.get("Content-Disposition", ""))
            path = os.path.join(tempfile.mkdtemp(dir=into), name or "__unnamed__")
            size = 0
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "wb") as f:
                while chunk := resp.read(_CHUNK):
                    f.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
            mtime = _last_modified(resp.headers.get("Last-Modified", ""))
    except urllib.error.HTTPError as e:
        with e:
            body = e.read(1 << 16).strip().decode(_ENC, "replace")
        raise InvalidArgument(f"failed to GET {url} with status {e.code} {e.reason}: {body}") from None
    except (OSError, ValueError, http.client.HTTPException) as e:
        raise InvalidArgument(f'Get "{url}": {getattr(e, "reason", None) or e}') from None
    os.utime(path, (mtime, mtime))
    if expected and h.hexdigest() != expected:
        raise InvalidArgument(f"digest mismatch for {url}: {algo}:{h.hexdigest()} (expected: {want})")
    return Download(path, name, mtime, size)


def _opener(url: str) -> Any:
    """urllib's opener; no proxy for a loopback host (as Go's ProxyFromEnvironment)."""
    import ipaddress
    import urllib.request
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    return urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if loopback else []))


def _download_name(url: str, disposition: str) -> str:
    """dockerd's getFilenameForDownload: the URL path's last segment, else Content-Disposition's
    filename, else ""."""
    from email.message import Message
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(url).path)
    name = posixpath.basename(path) if path and not path.endswith("/") else ""
    if not name and disposition:
        m = Message()
        m["Content-Disposition"] = disposition
        given = m.get_filename() or ""
        name = posixpath.basename(given) if not given.endswith("/") else ""
    return "" if name in (".", "..") else name


def _last_modified(text: str) -> float:
    from email.utils import parsedate_to_datetime

    if not text:
        return 0.0
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError):
        return 0.0
