"""A container's lifecycle: the statuses Docker names, the moves between them, and the guards.

Rule: every decision that depends on a container's status is made here. Callers ask a guard
(``check_start(state)``) or a predicate (``state.status.alive``); no other module compares a
status with a string. The statuses and their moves::

                 start               pause
    created ──────────────▶ running ◀──────▶ paused
       ▲                     │  ▲   unpause     │
       │                exit │  │ restart        │ exit (kill resumes it first)
       │                     ▼  │ policy          ▼
       │                   exited ◀──────── restarting ◀─ exit with a restart policy
       │                     │       stop (no start comes)
       └── (none: a container never goes back to created)
    any not alive ──remove──▶ removing ──▶ (gone)
    removing at daemon start (the removal was cut short) ──▶ dead
    removing ──a step of the removal failed──▶ dead (rm can be tried again)

``alive`` (running, paused, restarting) is what Docker calls "running" for ``ps`` without
``-a``, for refusing ``rm`` without force, and for restarting at daemon start. The Engine API
shows a state through ``State.to_docker``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from wharf.base.times import ZERO_TIME
from wharf.errors import Conflict, NotModified


class Status(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"

    @property
    def alive(self) -> bool:
        """A process exists or is about to (Docker's State.Running || Restarting, and paused)."""
        return self in (Status.RUNNING, Status.PAUSED, Status.RESTARTING)

    @property
    def has_process(self) -> bool:
        """The container's process exists now (Docker's State.Running: running or paused)."""
        return self in (Status.RUNNING, Status.PAUSED)

    @property
    def going(self) -> bool:
        """Being removed, or a removal that was cut short."""
        return self in (Status.REMOVING, Status.DEAD)


STATUS_NAMES = tuple(s.value for s in Status)


@dataclass
class State:
    status: Status = Status.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    shim_pid: int = 0
    health: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.status = Status(self.status)  # a record read back from JSON holds the string

    @property
    def running(self) -> bool:
        return self.status.alive

    def to_docker(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "Status": self.status.value,
            "Running": self.status.has_process,
            "Paused": self.status is Status.PAUSED,
            "Restarting": self.status is Status.RESTARTING,
            "OOMKilled": self.oom_killed,
            "Dead": self.status is Status.DEAD,
            "Pid": self.pid if self.status.has_process else 0,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
        }
        if self.health is not None:
            d["Health"] = self.health
        return d

    # --- moves (each is one edge of the drawing above)

    def started(self, now: str, first: bool) -> None:
        self.status = Status.RUNNING
        self.error = ""
        self.exit_code = 0
        self.oom_killed = False
        self.started_at = now
        if first:
            self.finished_at = ZERO_TIME

    def exited(self, exit_code: int, finished_at: str, oom_killed: bool, error: str = "") -> None:
        self.status = Status.EXITED
        self.exit_code = exit_code
        self.finished_at = finished_at
        self.oom_killed = oom_killed
        if error:
            self.error = error
        self.pid = 0
        self.shim_pid = 0

    def paused(self) -> None:
        self.status = Status.PAUSED

    def unpaused(self) -> None:
        self.status = Status.RUNNING

    def restarting(self) -> None:
        self.status = Status.RESTARTING

    def restart_abandoned(self, error: str = "") -> None:
        """A scheduled restart will not come (stopped meanwhile, or its start failed)."""
        self.status = Status.EXITED
        if error:
            self.error = error

    def removing(self) -> None:
        self.status = Status.REMOVING

    def removal_failed(self, error: str) -> None:
        """A step of rm failed: the container is dead, no longer being removed (Docker's
        SetRemovalError), so another rm can finish the job."""
        self.status = Status.DEAD
        self.error = error

    def found_cut_short(self) -> bool:
        """At daemon start: a removal the previous daemon did not finish leaves the container
        dead (Docker's rule); True if that happened."""
        if self.status is Status.REMOVING:
            self.status = Status.DEAD
            return True
        return False


# --- guards: Docker's refusals, with its words


def check_start(st: State) -> None:
    if st.status is Status.PAUSED:
        raise Conflict("cannot start a paused container, try unpause instead")
    if st.status in (Status.RUNNING, Status.RESTARTING):
        raise NotModified("container already started")
    if st.status.going:
        raise Conflict("container is marked for removal and cannot be started")


def check_kill(st: State, ref: str, cid: str) -> None:
    if not st.status.has_process:
        raise Conflict(f"Cannot kill container: {ref}: Container {cid} is not running")


def check_pause(st: State, cid: str) -> None:
    if st.status is Status.PAUSED:
        raise Conflict(f"Container {cid} is already paused")
    if st.status is not Status.RUNNING:
        raise Conflict(f"Container {cid} is not running")


def check_unpause(st: State, cid: str) -> None:
    if st.status is not Status.PAUSED:
        raise Conflict(f"Container {cid} is not paused")


def check_remove(st: State, name: str, cid: str, force: bool) -> None:
    if st.status.alive and not force:
        if st.status is Status.PAUSED:
            raise Conflict(
                f'cannot remove container "/{name}": container is paused and must be unpaused first'
            )
        raise Conflict(
            f'cannot remove container "/{name}": container is running: stop the container before'
            " removing or force remove"
        )
    if st.status is Status.REMOVING:
        raise Conflict(f"removal of container {cid} is already in progress")


def check_exec(st: State, cid: str) -> None:
    if st.status is Status.PAUSED:
        raise Conflict(f"Container {cid} is paused, unpause the container before exec")
    if st.status is not Status.RUNNING:
        raise Conflict(f"Container {cid} is not running")


def check_attach(st: State, stream: bool) -> None:
    if st.status is Status.PAUSED and stream:
        raise Conflict("You cannot attach to a paused container, unpause it first")


def prunable(st: State) -> bool:
    """``container prune`` takes stopped containers only (not one being removed)."""
    return not st.status.alive and st.status is not Status.REMOVING


def can_run_probe(st: State) -> bool:
    """Health checks run in a running container only (not paused, not between restarts)."""
    return st.status is Status.RUNNING
