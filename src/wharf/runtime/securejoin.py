"""Resolve a path inside a root directory the way the kernel would after a chroot.

``secure_join("/rootfs", "/etc/../../x")`` is ``/rootfs/x``: ``..`` stops at the root and
absolute symlinks restart from it, so a container's own symlinks can never make the runtime
(or later the daemon's `cp`) touch a host path. Components that do not exist yet are joined
as they are. This is the lexical walk runc's securejoin does; callers that then open the
result must still not follow a symlink that appears later (a race the caller guards against
by doing the work inside the container's mount namespace, after pivot_root).
"""

from __future__ import annotations

import os

_MAX_LINKS = 255


def secure_join(root: str, unsafe: str) -> str:
    root = root.rstrip("/") or "/"
    parts = [p for p in unsafe.split("/") if p]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root + "/" + "/".join([*resolved, part])
        try:
            target = os.readlink(candidate)
        except OSError:
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(40, "too many levels of symbolic links", candidate)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p] + parts
    return root.rstrip("/") + "/" + "/".join(resolved) if resolved else root
