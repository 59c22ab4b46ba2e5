"""Copy-up: a volume's first use fills it with what the image has at its destination, as Docker
does, keeping owners, modes, times, xattrs, symlinks, hardlinks and device nodes (``cp -a``)."""

from __future__ import annotations

import os
import subprocess

from wharf.errors import FailedPrecondition
from wharf.runtime.securejoin import secure_join


def copy_up(rootfs: str, dest: str, data_dir: str) -> bool:
    """Copy ``rootfs``/``dest`` (resolved inside the rootfs: symlinks in the image cannot point it
    at the host) into ``data_dir`` if that is empty. Returns whether anything was copied."""
    src = secure_join(rootfs, dest)
    if not os.path.isdir(src) or os.path.islink(src) or not os.listdir(src) or os.listdir(data_dir):
        return False
    st = os.stat(src)
    r = subprocess.run(
        ["cp", "-a", "--no-dereference", "--", f"{src}/.", f"{data_dir}/"], capture_output=True, text=True
    )
    if r.returncode != 0:
        raise FailedPrecondition(f"copying the image's content into a volume at {dest}: {r.stderr.strip()}")
    os.chown(data_dir, st.st_uid, st.st_gid)  # the volume's root takes the directory's owner and mode
    os.chmod(data_dir, st.st_mode & 0o7777)
    return True
