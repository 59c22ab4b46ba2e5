"""Container cgroups on cgroup v1, v2 and hybrid hosts, through the cgroupfs (no systemd).

One ``Manager`` covers the three layouts. It holds a directory per v1 hierarchy (keyed by
controller) and, where a cgroup2 hierarchy is mounted, one v2 directory. A resource goes to the
v1 hierarchy that has its controller, else to the v2 directory if the controller is available
there: on a hybrid host (v1 controllers plus an empty cgroup2 at /sys/fs/cgroup/unified) that
joins the process everywhere and applies limits through v1, while a controller that the host
mounted on cgroup2 (hugetlb, on some hybrid hosts) is driven through v2.

The manager never writes into a cgroup it did not create, with one exception needed on a pure v2
host: enabling controllers in the nearest existing parent's ``cgroup.subtree_control``, as every
engine does there. Everything it created is listed in its state and removed by ``destroy``.
"""

from __future__ import annotations

import os

from wharf.errors import FailedPrecondition, InvalidArgument
from wharf.runtime.cgroups import v1, v2
from wharf.runtime.cgroups.fs import is_under, read, write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PARENT = "/wharf"


def _hierarchies() -> tuple[dict[str, tuple[str, str]], tuple[str, str] | None]:
    """v1 controller → (mount point, mount root), and the cgroup2 (mount point, mount root)."""
    ctrl: dict[str, tuple[str, str]] = {}
    unified: tuple[str, str] | None = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            fields, sfields = pre.split(), post.split()
            if len(sfields) < 3:
                continue
            if sfields[0] == "cgroup2" and unified is None:
                unified = (fields[4], fields[3])
            elif sfields[0] == "cgroup":
                for opt in sfields[2].split(","):
                    if opt in ctrl:
                        continue
                    # named hierarchies (name=systemd) are joined too, as runc does: otherwise the
                    # container's /sys/fs/cgroup would show the host's root cgroup there
                    if opt in v1.CONTROLLERS or opt.startswith("name="):
                        ctrl[opt] = (fields[4], fields[3])
    return ctrl, unified


def _own_paths() -> dict[str, str]:
    """controller ("" for cgroup2) → this process's cgroup path, from /proc/self/cgroup."""
    out: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            for name in names.split(",") if names else [""]:
                out[name] = path
    return out


def mode() -> str:
    """ "v1", "v2" or "hybrid", as this host mounts its cgroups."""
    ctrl, unified = _hierarchies()
    if not ctrl:
        return "v2"
    return "hybrid" if unified else "v1"


def _resolve(cgroups_path: str | None, cid: str) -> tuple[str, bool]:
    """The spec's cgroupsPath → a clean path, and whether it is relative to our own cgroup."""
    if not cgroups_path:
        return f"{DEFAULT_PARENT}/{cid}", False
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        raise InvalidArgument(
            f"config.json: linux.cgroupsPath: {cgroups_path!r} is a systemd slice path; "
            "wharf-runtime drives cgroupfs only (--systemd-cgroup is not supported)"
        )
    relative = not cgroups_path.startswith("/")
    clean = os.path.normpath("/" + cgroups_path)
    if clean == "/":
        raise InvalidArgument(f"config.json: linux.cgroupsPath: {cgroups_path!r} names the root cgroup")
    return clean, relative


def _join(point: str, root: str, own: str, path: str, relative: bool) -> str:
    """Directory of ``path`` in the hierarchy mounted at ``point`` (showing its subtree ``root``).

    An absolute cgroupsPath is taken from the top of what this process sees; a relative one from
    this process's own cgroup (its /proc/self/cgroup path, which counts from the hierarchy root).
    """
    inner = path
    if relative:
        inner = os.path.normpath(own + "/" + path.lstrip("/"))
        if root != "/" and (inner == root or inner.startswith(root.rstrip("/") + "/")):
            inner = inner[len(root.rstrip("/")) :] or "/"
    full = os.path.normpath(point + "/" + inner)
    if not is_under(full, point) or full == point:
        raise InvalidArgument(f"config.json: linux.cgroupsPath: {path!r} leaves the cgroup hierarchy")
    return full


def remove_empty(path: str) -> list[str]:
    """rmdir ``path`` (absolute, as a cgroupsPath) in every hierarchy where it is empty: a
    parent cgroup the containers under it no longer need. Returns what was removed."""
    ctrl, unified = _hierarchies()
    points = {point for point, _ in ctrl.values()} | ({unified[0]} if unified else set())
    removed = []
    for point in sorted(points):
        d = os.path.normpath(point + "/" + path)
        if d == point or not is_under(d, point):
            continue
        try:
            os.rmdir(d)
            removed.append(d)
        except OSError:
            pass  # absent, or containers (of another daemon, say) still under it
    return removed


class Manager:
    __slots__ = ("created", "host_mode", "v1_paths", "v2_path")

    def __init__(
        self, v1_paths: dict[str, str], v2_path: str | None, created: list[str], host_mode: str
    ) -> None:
        self.v1_paths = v1_paths
        self.v2_path = v2_path
        self.created = created
        self.host_mode = host_mode

    # ---- life cycle -------------------------------------------------------------------------

    def dirs(self) -> list[str]:
        out = sorted(set(self.v1_paths.values()))
        if self.v2_path:
            out.append(self.v2_path)
        return out

    def create(self) -> None:
        """mkdir every directory (parents too), recording which ones did not exist before."""
        for d in self.dirs():
            missing: list[str] = []
            p = d
            while not os.path.isdir(p):
                missing.append(p)
                p = os.path.dirname(p)
            for m in reversed(missing):
                try:
                    os.mkdir(m, 0o755)
                except FileExistsError:
                    if not os.path.isdir(m):
                        raise FailedPrecondition(f"cgroup path {m}: exists and is not a directory") from None
                    # made by a create running beside this one, which may not have given it
                    # its cpus and mems yet: a child copying them empty takes no task (ENOSPC)
                    if d == self.v1_paths.get("cpuset"):
                        v1.init_cpuset(m)
                    continue
                except OSError as exc:
                    raise FailedPrecondition(f"cannot create cgroup {m}: {exc.strerror}") from None
                self.created.append(m)
                if d == self.v1_paths.get("cpuset"):
                    v1.init_cpuset(m)
        if self.v2_path:
            v2.enable_controllers(self.v2_path, self.created, self.host_mode == "v2")

    def apply(self, resources: dict[str, Any]) -> None:
        v1.apply(self.v1_paths, resources)
        if self.v2_path:
            v2.apply(self.v2_path, resources, skip=set(self.v1_paths))
        elif resources.get("unified"):
            raise InvalidArgument("linux.resources.unified: this host has no cgroup v2 hierarchy")

    def add_pid(self, pid: int) -> None:
        for d in self.dirs():
            write(d, "cgroup.procs", str(pid))

    def join_self(self) -> None:
        """Move the calling (single-threaded) process into every directory.

        On v1 it writes "0" to ``tasks``: moving only the current thread skips the kernel's
        global threadgroup lock, whose write side waits for an RCU grace period (~10 ms here)
        that a ``cgroup.procs`` write pays. cgroup v2 has no such path (``cgroup.threads``
        only works inside threaded subtrees), so there it is ``cgroup.procs``.
        """
        for d in sorted(set(self.v1_paths.values())):
            write(d, "tasks", "0")
        if self.v2_path:
            write(self.v2_path, "cgroup.procs", "0")

    def pids(self) -> list[int]:
        d = self._any_v1() if self.v1_paths else self.v2_path
        if d is None:
            return []
        try:
            text = read(d, "cgroup.procs")
        except OSError:  # not created (yet), or a path through a file
            return []
        return [int(x) for x in text.split()]

    def _any_v1(self) -> str:
        for key in ("pids", "freezer", "memory", "cpu"):
            if key in self.v1_paths:
                return self.v1_paths[key]
        return next(iter(self.v1_paths.values()))

    # ---- freezer ----------------------------------------------------------------------------

    def freeze(self) -> None:
        if "freezer" in self.v1_paths:
            v1.freeze(self.v1_paths["freezer"], True)
        elif self.v2_path:
            v2.freeze(self.v2_path, True)
        else:
            raise FailedPrecondition("cannot pause: no freezer cgroup on this host")

    def thaw(self) -> None:
        if "freezer" in self.v1_paths:
            v1.freeze(self.v1_paths["freezer"], False)
        elif self.v2_path:
            v2.freeze(self.v2_path, False)

    def frozen(self) -> bool:
        try:
            if "freezer" in self.v1_paths:
                return read(self.v1_paths["freezer"], "freezer.state").strip() != "THAWED"
            if self.v2_path:
                return read(self.v2_path, "cgroup.freeze").strip() == "1"
        except OSError:
            pass
        return False

    # ---- teardown ---------------------------------------------------------------------------

    def kill_all(self, sig: int) -> None:
        """Signal every process; frozen first so none can fork past the signal (runc does too)."""
        if not self.pids():
            return  # the usual case at delete: nothing left, no freeze round trip
        can_freeze = "freezer" in self.v1_paths or self.v2_path is not None
        was_frozen = self.frozen()
        if can_freeze and not was_frozen:
            try:
                self.freeze()
            except (OSError, FailedPrecondition):
                can_freeze = False
        for pid in self.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if can_freeze and (not was_frozen or sig == 9):
            self.thaw()

    def destroy(self) -> None:
        """Remove the container's directories, retrying while the last processes exit."""
        import time

        for d in self.dirs():
            for attempt in range(200):
                try:
                    os.rmdir(d)
                    break
                except (FileNotFoundError, NotADirectoryError):
                    break
                except OSError as exc:
                    if exc.errno != 16 or attempt == 199:  # EBUSY: tasks still leaving
                        raise FailedPrecondition(f"cannot remove cgroup {d}: {exc.strerror}") from None
                    if attempt % 20 == 19:
                        for pid in self._pids_in(d):
                            try:
                                os.kill(pid, 9)
                            except ProcessLookupError:
                                pass
                    time.sleep(0.005)
        for d in sorted(self.created, key=len, reverse=True):
            try:
                os.rmdir(d)
            except OSError:
                pass  # a shared parent (e.g. /wharf) still in use by other containers

    @staticmethod
    def _pids_in(d: str) -> list[int]:
        try:
            return [int(x) for x in read(d, "cgroup.procs").split()]
        except OSError:
            return []

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "memory" in self.v1_paths:
            out["memory"] = v1.memory_stats(self.v1_paths["memory"])
        elif self.v2_path:
            out["memory"] = v2.memory_stats(self.v2_path)
        if "pids" in self.v1_paths:
            out["pids"] = {"current": int(read(self.v1_paths["pids"], "pids.current"))}
        elif self.v2_path and os.path.exists(self.v2_path + "/pids.current"):
            out["pids"] = {"current": int(read(self.v2_path, "pids.current"))}
        if "cpuacct" in self.v1_paths:
            out["cpu"] = {"usage": {"total": int(read(self.v1_paths["cpuacct"], "cpuacct.usage"))}}
        elif self.v2_path:
            out["cpu"] = {"usage": {"total": v2.cpu_usage_ns(self.v2_path)}}
        return out

    def paths(self) -> dict[str, str]:
        out = dict(self.v1_paths)
        if self.v2_path:
            out[""] = self.v2_path
        return out

    def to_state(self) -> dict[str, Any]:
        return {"mode": self.host_mode, "v1": self.v1_paths, "v2": self.v2_path, "created": self.created}


def open_manager(cgroups_path: str | None, cid: str, resources: dict[str, Any] | None = None) -> Manager:
    """The manager for a new container; nothing is created until ``create()``.

    On a hybrid host the container joins the cgroup2 hierarchy only when its resources need a
    controller that lives there: joining costs an RCU grace period per container start (see
    ``join_self``) and the empty hierarchy limits nothing.
    """
    path, relative = _resolve(cgroups_path, cid)
    ctrl, unified = _hierarchies()
    if ctrl and unified and resources is not None:
        res = resources or {}
        if not res.get("unified") and not v2.needed_controllers(res, set(ctrl)):
            unified = None
    own = _own_paths() if relative else {}
    v1_paths = {
        name: _join(point, root, own.get(name, "/"), path, relative) for name, (point, root) in ctrl.items()
    }
    v2_path = _join(unified[0], unified[1], own.get("", "/"), path, relative) if unified else None
    host_mode = "v2" if not ctrl else ("hybrid" if unified else "v1")
    return Manager(v1_paths, v2_path, [], host_mode)


def manager_from_state(st: dict[str, Any]) -> Manager:
    return Manager(dict(st.get("v1") or {}), st.get("v2"), list(st.get("created") or []), st["mode"])
