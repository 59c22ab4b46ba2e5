"""`docker diff`: what a container changed, read from its snapshot's upper directory.

Kind 0 = modified (the path exists in the image), 1 = added, 2 = deleted (an overlay whiteout:
a 0:0 character device). Paths are listed parents first, as Docker lists them. A path is in
the image if a lower layer has it, looked up without following the layer's symlinks.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

from wharf.base import trees

if TYPE_CHECKING:
    from wharf.engine.containers import Container
    from wharf.snapshots.base import BaseSnapshotter


def changes(sn: BaseSnapshotter, c: Container) -> list[dict[str, Any]]:
    upper = sn.fs_dir(c.snapshot_key)
    lowers: list[str] = sn.lower_dirs(c.snapshot_key)
    out: list[dict[str, Any]] = []
    # the upper directory walked to any depth, each lower layer in step (its directory at the
    # same path, if it has one there) to tell modified from added
    for d in trees.walk(upper, alongside=lowers):
        for name in sorted(d.dirs + d.files):
            path = "/" + d.path(name)
            try:
                st = os.stat(name, dir_fd=d.fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone while we looked: a running container
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append({"Path": path, "Kind": 2})
                continue
            out.append({"Path": path, "Kind": 0 if _in_any(d.alongside, name) else 1})
    from wharf.engine.files import runtime_only

    skip = runtime_only(upper)
    out = [x for x in out if x["Path"] not in skip and not any(x["Path"].startswith(p + "/") for p in skip)]
    out.sort(key=lambda x: x["Path"])
    return out


def _in_any(dir_fds: list[int], name: str) -> bool:
    for fd in dir_fds:
        if fd < 0:
            continue
        try:
            os.stat(name, dir_fd=fd, follow_symlinks=False)
            return True
        except OSError:
            continue
    return False
