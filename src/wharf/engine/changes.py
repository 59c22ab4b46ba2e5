"""`docker diff`: what a container changed, read from its snapshot's upper directory.

Kind 0 = modified (the path exists in the image), 1 = added, 2 = deleted (an overlay whiteout:
a 0:0 character device). Paths are listed parents first, as Docker lists them.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wharf.engine.containers import Container
    from wharf.snapshots.base import BaseSnapshotter


def changes(sn: BaseSnapshotter, c: Container) -> list[dict[str, Any]]:
    upper = sn.fs_dir(c.snapshot_key)
    lowers: list[str] = sn.lower_dirs(c.snapshot_key)
    out: list[dict[str, Any]] = []

    def in_image(rel: str) -> bool:
        return any(os.path.lexists(os.path.join(d, rel)) for d in lowers)

    for dirpath, dirnames, filenames in os.walk(upper):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, upper)
            st = os.lstat(full)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                out.append({"Path": "/" + rel, "Kind": 2})
                continue
            out.append({"Path": "/" + rel, "Kind": 0 if in_image(rel) else 1})
    from wharf.engine.files import runtime_only

    skip = runtime_only(upper)
    out = [x for x in out if x["Path"] not in skip and not any(x["Path"].startswith(p + "/") for p in skip)]
    out.sort(key=lambda x: x["Path"])
    return out
