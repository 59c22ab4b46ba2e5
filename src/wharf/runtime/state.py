"""Per-container state on disk: ``<root>/<id>/state.json`` and the exec fifo.

Layout of a state directory (``--root``, default ``/run/wharf-runtime``)::

    <root>/<id>/
        state.json    what `create` learned: init pid and its start time, bundle, cgroup dirs,
                      the spec the container was created from (written tmp + rename: readers
                      never see a torn file; no fsync, as the processes it describes do not
                      outlive a power loss either, and it costs ~1.5 ms per container on disk)
        exec.fifo     exists from `create` until `start`: init blocks reading it

The OCI status is derived, never stored: a dead (or recycled) init pid means ``stopped``; a
frozen cgroup ``paused``; a present exec.fifo ``created``; otherwise ``running``.
"""

from __future__ import annotations

import os

from wharf.base.files import atomic_write
from wharf.base.owner import start_time
from wharf.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from wharf.oci import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_ROOT = "/run/wharf-runtime"
OCI_VERSION = "1.1.0"


def _valid_id(cid: str) -> None:
    if not cid or cid in (".", "..") or "/" in cid or len(cid) > 1024 or "\0" in cid:
        raise InvalidArgument(f"invalid container id {cid!r}")


def state_dir(root: str, cid: str) -> str:
    _valid_id(cid)
    return f"{root}/{cid}"


def make_state_dir(root: str, cid: str) -> str:
    """Create the directory for a new container; ``AlreadyExists`` if the id is taken."""
    path = state_dir(root, cid)
    os.makedirs(root, mode=0o711, exist_ok=True)
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        raise AlreadyExists(f"container with id exists: {cid}") from None
    return path


def save(path: str, state: dict[str, Any]) -> None:
    atomic_write(f"{path}/state.json", fastjson.dumps(state).encode(), 0o600, durable=False)


def load(root: str, cid: str) -> dict[str, Any]:
    path = state_dir(root, cid)
    try:
        with open(f"{path}/state.json", "rb") as f:
            data: dict[str, Any] = fastjson.loads(f.read())
    except FileNotFoundError:
        raise NotFound(f"container does not exist: {cid}") from None
    data["_dir"] = path
    return data


def list_ids(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.exists(f"{root}/{n}/state.json"))


def init_alive(state: dict[str, Any]) -> bool:
    pid = state.get("pid") or 0
    return pid > 0 and start_time(pid) == state.get("pid_start")


def status(state: dict[str, Any], frozen: bool = False) -> str:
    if not init_alive(state):
        return "stopped"
    if frozen:
        return "paused"
    if os.path.exists(f"{state['_dir']}/exec.fifo"):
        return "created"
    return "running"


# --- the OCI lifecycle's guards (runc's refusals, in its words): every decision on a status
# is made here


def check_start(status_: str) -> None:
    if status_ == "stopped":
        raise Conflict(f"cannot start a container that has {status_}")
    if status_ != "created":
        raise Conflict(f"cannot start an already {status_} container")


def check_signal(status_: str) -> None:
    if status_ == "stopped":
        raise Conflict("container not running")


def check_pause(status_: str) -> None:
    if status_ == "paused":
        raise Conflict("container already paused")
    if status_ != "running":
        raise Conflict(f"container not running: {status_}")


def check_resume(status_: str) -> None:
    if status_ != "paused":
        raise Conflict("container not paused")


def check_delete(cid: str, status_: str, force: bool) -> None:
    if status_ in ("running", "paused") and not force:
        raise Conflict(f"cannot delete container {cid} that is not stopped: {status_}")


def check_exec(status_: str, ignore_paused: bool) -> None:
    if status_ == "stopped":
        raise Conflict("cannot exec in a stopped container")
    if status_ == "paused" and not ignore_paused:
        raise Conflict("cannot exec in a paused container (use --ignore-paused to override)")


def is_stopped(status_: str) -> bool:
    return status_ == "stopped"


def is_paused(status_: str) -> bool:
    return status_ == "paused"


def oci_state(state: dict[str, Any], status_: str) -> dict[str, Any]:
    """The state the OCI spec defines: what `state` prints and hooks read on stdin."""
    out: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "id": state["id"],
        "status": status_,
        "pid": state["pid"] if status_ != "stopped" else 0,
        "bundle": state["bundle"],
    }
    if state.get("annotations"):
        out["annotations"] = state["annotations"]
    return out
