"""A timeline of one operation across processes, off unless asked for.

``WHARF_TRACE=/path/to/file`` in wharfd's environment turns it on: the daemon, the shims it
spawns (C, shim/wharf-shim.c) and the runtime they run inherit it, and each appends one line
per event to that file::

    <CLOCK_MONOTONIC ns> <pid> <who> <event> [detail]

One clock for every process (CLOCK_MONOTONIC is system-wide), one ``write`` of a line opened
``O_APPEND`` per event (lines of concurrent writers do not interleave), so the lines sorted by
their first field are the run's timeline. ``bench/trace_run.py`` starts a daemon with it, runs
``docker run --rm``, and prints the phases (docs/performance.md). Off, ``mark`` is one global
read and a return.
"""

from __future__ import annotations

import os
import time

_PATH = os.environ.get("WHARF_TRACE", "")
_fd = -1


def enabled() -> bool:
    return bool(_PATH)


def mark(who: str, event: str, detail: str = "") -> None:
    """One line of the timeline (nothing when tracing is off)."""
    global _fd
    if not _PATH:
        return
    if _fd < 0:
        _fd = os.open(_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    line = f"{time.monotonic_ns()} {os.getpid()} {who} {event}"
    os.write(_fd, (f"{line} {detail}" if detail else line).encode() + b"\n")
