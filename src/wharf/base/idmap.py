"""User-namespace id maps (``userns-remap``): container ids ↔ host ids, and trees shifted.

A map is a list of ``(container_id, host_id, size)`` ranges, as ``/proc/<pid>/uid_map`` and the
OCI spec's ``linux.uidMappings`` have them. ``IdMap`` pairs the uid and gid maps of a remapped
daemon; ``root`` is the host uid/gid that the container's root is.

``shift_tree`` gives every entry of a tree the host ids of its container ids (an image layer
just extracted, as dockerd's archiver chowns through its IdentityMapping). A chown clears the
setuid/setgid bits and the file capabilities (``security.capability``), so both are put back
after it: a layer's ``ping`` keeps its ``cap_net_raw``, a setuid binary stays setuid (to the
remapped owner, which is the point: it is no host root).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from wharf.base import trees

Ranges = tuple[tuple[int, int, int], ...]
_CAPS = "security.capability"


def _to_host(ranges: Ranges, cid: int) -> int | None:
    for container, host, size in ranges:
        if container <= cid < container + size:
            return host + cid - container
    return None


def _to_container(ranges: Ranges, hid: int) -> int | None:
    for container, host, size in ranges:
        if host <= hid < host + size:
            return container + hid - host
    return None


@dataclass(frozen=True)
class IdMap:
    uids: Ranges
    gids: Ranges

    @property
    def root(self) -> tuple[int, int]:
        """The host uid and gid of the container's root."""
        uid, gid = self.host_ids(0, 0)
        return uid, gid

    def host_ids(self, uid: int, gid: int) -> tuple[int, int]:
        """A container's uid/gid as the host sees them; an id outside the maps is the
        overflow id (65534), as the kernel shows unmapped ids."""
        hu, hg = _to_host(self.uids, uid), _to_host(self.gids, gid)
        return (65534 if hu is None else hu), (65534 if hg is None else hg)

    def container_ids(self, uid: int, gid: int) -> tuple[int, int]:
        """Host ids as the container sees them (unmapped: 65534, the overflow id)."""
        cu, cg = _to_container(self.uids, uid), _to_container(self.gids, gid)
        return (65534 if cu is None else cu), (65534 if cg is None else cg)

    def in_tar(self, uid: int, gid: int) -> tuple[int, int]:
        """Host ids as a tar out of a container carries them (cp, export, commit): the ids the
        container sees; an id outside the maps (a file of the host's, bind-mounted) as it is."""
        cu, cg = _to_container(self.uids, uid), _to_container(self.gids, gid)
        return (uid if cu is None else cu), (gid if cg is None else cg)

    def oci(self) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
        """``linux.uidMappings`` and ``linux.gidMappings``."""

        def spec(ranges: Ranges) -> list[dict[str, int]]:
            return [{"containerID": c, "hostID": h, "size": s} for c, h, s in ranges]

        return spec(self.uids), spec(self.gids)


def _shift_entry(m: IdMap, name: str, dir_fd: int | None, seen: set[tuple[int, int]]) -> None:
    """One entry (``name`` in ``dir_fd``; the directory itself when ``dir_fd`` is None and
    ``name`` is a path) chowned to its host ids, its setuid/setgid bits and capabilities kept.
    A hardlinked inode is shifted once (``seen``), not once per name."""
    st = os.lstat(name, dir_fd=dir_fd)
    if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
    uid, gid = m.host_ids(st.st_uid, st.st_gid)
    if (uid, gid) == (st.st_uid, st.st_gid):
        return
    is_link = stat.S_ISLNK(st.st_mode)
    caps: bytes | None = None
    path = name if dir_fd is None else f"/proc/self/fd/{dir_fd}/{name}"
    if stat.S_ISREG(st.st_mode):
        try:
            caps = os.getxattr(path, _CAPS, follow_symlinks=False)
        except OSError:
            caps = None
    os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
    if is_link:
        return
    if st.st_mode & (stat.S_ISUID | stat.S_ISGID) and not stat.S_ISDIR(st.st_mode):
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dir_fd)
    if caps is not None:
        os.setxattr(path, _CAPS, caps, follow_symlinks=False)


def shift_tree(top: str, m: IdMap) -> None:
    """Every entry under ``top`` (and ``top``) owned by the host ids of its container ids."""
    seen: set[tuple[int, int]] = set()
    _shift_entry(m, top, None, seen)
    for d in trees.walk(top):
        for name in (*d.dirs, *d.files):
            try:
                _shift_entry(m, name, d.fd, seen)
            except FileNotFoundError:
                continue


_ALL = ((0, 0, 1 << 32),)
IDENTITY = IdMap(_ALL, _ALL)  # no remap: every id is itself
