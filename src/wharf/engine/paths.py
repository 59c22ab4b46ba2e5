"""Where a container's files live, in one place::

<data-root>/containers/<id>/        hostname, hosts, resolv.conf, <id>-json.log, rootfs/
<exec-root>/containers/<id>/        bundle (config.json) and the shim's state dir
<exec-root>/runtime/                the OCI runtime's --root
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from wharf.engine import shim


@dataclass(frozen=True)
class Paths:
    data_root: str
    exec_root: str

    def make_roots(self) -> None:
        for d in (f"{self.data_root}/containers", f"{self.exec_root}/containers", self.runtime_root,
                  f"{self.exec_root}/execs"):  # fmt: skip
            os.makedirs(d, 0o710, exist_ok=True)

    @property
    def runtime_root(self) -> str:
        return f"{self.exec_root}/runtime"

    def runtime_state(self, cid: str) -> str:
        """The runtime's state of the container: there while the runtime knows its id."""
        return f"{self.runtime_root}/{cid}"

    def container_dir(self, cid: str) -> str:
        return f"{self.data_root}/containers/{cid}"

    def state_dir(self, cid: str) -> str:
        return f"{self.exec_root}/containers/{cid}"

    def bundle_config(self, cid: str) -> str:
        """The OCI config.json the container was last started with."""
        return f"{self.state_dir(cid)}/config.json"

    def exec_dir(self, eid: str) -> str:
        """An exec's files while it runs (process.json, pid file, console socket): kept short,
        as /run/wharf/containers/<64 hex>/... would not fit a unix socket's 107 bytes."""
        return f"{self.exec_root}/execs/{eid[:16]}"

    def rootfs_dir(self, cid: str) -> str:
        return f"{self.container_dir(cid)}/rootfs"

    def log_path(self, cid: str) -> str:
        return f"{self.container_dir(cid)}/{cid}-json.log"

    def shim_paths(self, cid: str) -> shim.ShimPaths:
        return shim.ShimPaths(self.state_dir(cid))
