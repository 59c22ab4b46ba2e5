"""The daemon's ``userns-remap``: whose subordinate ids containers' root and users are.

The option takes dockerd's forms: ``default`` (the user ``dockremap``, created with ranges in
/etc/subuid and /etc/subgid when it has none; never removed), ``user``, ``user:group``,
``uid`` or ``uid:gid``. As dockerd's (daemon_unix.go parseRemappedRoot, idtools
LoadIdentityMapping) the ranges are the user's, looked up by name or uid in both files; the
group only has to exist. A user without ranges stops the daemon at start with dockerd's words
("Can't create ID mappings: no subuid ranges found for user ..."). ``root`` remaps nothing
(dockerd logs that user namespaces are off).

With a remap the daemon's root is ``<data-root>/<uid>.<gid>`` (the remapped root's host ids,
as dockerd's): images unpacked there are owned by the ranges' ids, so an image never
unpacked for this mapping is not shared with a daemon that has another.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import subprocess
from dataclasses import dataclass

from wharf.base.files import ensure_dir
from wharf.base.idmap import IdMap, Ranges
from wharf.errors import InvalidArgument

log = logging.getLogger("wharf.daemon")

DEFAULT = "default"
DEFAULT_USER = "dockremap"
RANGE_START = 100000  # where dockerd starts looking for a free range for dockremap
RANGE_SIZE = 65536
SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"


@dataclass(frozen=True)
class Remap:
    user: str
    group: str
    ids: IdMap


def _is_id(text: str) -> bool:
    """A number as dockerd's ParseInt(text, 10, 32) takes one; anything else is a name."""
    return text.isdigit() and int(text) < 1 << 31


def _lookup_user(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _group_name(spec: str, user: str) -> str:
    """The group part of the spec, checked to exist (a gid or a name)."""
    if _is_id(spec):
        try:
            return grp.getgrgid(int(spec)).gr_name
        except KeyError:
            raise InvalidArgument(f"Gid {spec} has no entry in /etc/group: no such group: {spec}") from None
    try:
        return grp.getgrnam(spec).gr_name
    except KeyError:
        what = "gid lookup" if spec == user else "groupname lookup"
        raise InvalidArgument(
            f'Error during {what} for "{spec}": getent unable to find entry "{spec}" in group database'
        ) from None


def parse(spec: str) -> tuple[str, str]:
    """(user, group) names of a ``userns-remap`` value, as dockerd resolves them; ``default``
    creates ``dockremap`` (and its ranges) when it does not exist."""
    parts = spec.split(":")
    if len(parts) > 2 or not parts[0]:
        raise InvalidArgument(f'Invalid user/group specification in --userns-remap: "{spec}"')
    first = parts[0]
    if _is_id(first):
        try:
            user = pwd.getpwuid(int(first)).pw_name
        except KeyError:
            raise InvalidArgument(
                f"Uid {first} has no entry in /etc/passwd: no such user: {first}"
            ) from None
        group = _group_name(parts[1] if len(parts) == 2 else first, first)
        return user, group
    name = DEFAULT_USER if first == DEFAULT else first
    entry = _lookup_user(name)
    if entry is None and first != DEFAULT:
        raise InvalidArgument(
            f'Error during uid lookup for "{name}": getent unable to find entry "{name}" in passwd database'
        )
    if entry is None:
        _add_default_user()
        return DEFAULT_USER, DEFAULT_USER
    group = _group_name(parts[1] if len(parts) == 2 else name, name)
    return entry.pw_name, group


def _run(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        out = (proc.stderr or proc.stdout).strip()
        raise InvalidArgument(f'Error during "{DEFAULT_USER}" user creation: {" ".join(argv)}: {out}')


def _add_default_user() -> None:
    """dockremap, a system user and group with no shell, and a free range of 65536 ids in
    each of /etc/subuid and /etc/subgid (dockerd's AddNamespaceRangesUser)."""
    _run(["useradd", "--system", "--shell", "/bin/false", "--user-group", DEFAULT_USER])
    entry = pwd.getpwnam(DEFAULT_USER)
    for path, flag in ((SUBUID, "-v"), (SUBGID, "-w")):
        if read_ranges(path, DEFAULT_USER, entry.pw_uid):
            continue
        start = next_free_range(path)
        _run(["usermod", flag, f"{start}-{start + RANGE_SIZE - 1}", DEFAULT_USER])


def _entries(path: str) -> list[tuple[str, int, int]]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        fields = line.strip().split(":")
        if len(fields) != 3 or line.lstrip().startswith("#"):
            continue
        try:
            out.append((fields[0], int(fields[1]), int(fields[2])))
        except ValueError:
            continue
    return out


def read_ranges(path: str, user: str, uid: int) -> Ranges:
    """The user's ranges in /etc/subuid or /etc/subgid (by name or uid), container ids from 0
    on, one range after the other."""
    out: list[tuple[int, int, int]] = []
    container = 0
    for name, start, count in _entries(path):
        if name in (user, str(uid)):
            out.append((container, start, count))
            container += count
    return tuple(out)


def next_free_range(path: str) -> int:
    """The first start at or after 100000 where 65536 ids overlap no range of the file."""
    taken = sorted((start, start + count) for _, start, count in _entries(path))
    start = RANGE_START
    for lo, hi in taken:
        if start + RANGE_SIZE <= lo:
            break
        start = max(start, hi)
    return start


def setup(spec: str) -> Remap | None:
    """The remap of a ``userns-remap`` value; None when there is none (or it is root)."""
    if not spec:
        return None
    user, group = parse(spec)
    if user == "root":
        log.warning("User namespaces: root cannot be remapped with itself; user namespaces are OFF")
        return None
    log.info("User namespaces: ID ranges will be mapped to subuid/subgid ranges of: %s", user)
    uid = pwd.getpwnam(user).pw_uid
    uids = read_ranges(SUBUID, user, uid)
    if not uids:
        raise InvalidArgument(f'Can\'t create ID mappings: no subuid ranges found for user "{user}"')
    gids = read_ranges(SUBGID, user, uid)
    if not gids:
        raise InvalidArgument(f'Can\'t create ID mappings: no subgid ranges found for user "{user}"')
    return Remap(user, group, IdMap(uids, gids))


def make_root(data_root: str, remap: Remap) -> str:
    """dockerd's setupDaemonRoot under a remap: the data root and ``<uid>.<gid>`` in it, both
    0710 root:<remapped gid> (the remapped root traverses to its rootfs and volumes, nobody
    else but root does); returns the daemon's root."""
    uid, gid = remap.ids.root
    sub = f"{data_root}/{uid}.{gid}"
    for d in (data_root, sub):
        ensure_dir(d, 0o710)
        os.chown(d, os.geteuid(), gid)
    parent = os.path.dirname(os.path.abspath(data_root))
    while parent != "/":
        if not _can_pass(parent, uid, gid):
            raise InvalidArgument(
                f"a subdirectory in your graphroot path ({sub}) restricts access to the remapped"
                " root uid/gid; please fix by allowing 'o+x' permissions on existing directories"
            )
        parent = os.path.dirname(parent)
    return sub


def _can_pass(path: str, uid: int, gid: int) -> bool:
    """dockerd's canAccess: the remapped root may search ``path`` (others, owner or group x)."""
    st = os.stat(path)
    return bool(
        st.st_mode & 0o001
        or (st.st_uid == uid and st.st_mode & 0o100)
        or (st.st_gid == gid and st.st_mode & 0o010)
    )


def traversable(path: str, remap: Remap) -> None:
    """A directory of the daemon's the remapped root must pass through (0710: its group)."""
    os.chown(path, os.geteuid(), remap.ids.root[1])


def is_remapped(remap: Remap | None, userns_mode: str | None) -> bool:
    """Whether a container runs in a user namespace of the remap (not ``--userns=host``)."""
    return remap is not None and (userns_mode or "") != "host"


def own_container_files(remap: Remap, container_dir: str, upper: str | None) -> None:
    """A new container's directory passable by its root, its /etc/hostname, hosts and
    resolv.conf and the top of its rootfs (the snapshot's upper directory) its root's own,
    so its root may write them as it may without a remap."""
    uid, gid = remap.ids.root
    traversable(container_dir, remap)
    for name in ("hostname", "hosts", "resolv.conf"):
        try:
            os.chown(f"{container_dir}/{name}", uid, gid)
        except FileNotFoundError:
            continue
    if upper is not None:
        os.chown(upper, uid, gid)
