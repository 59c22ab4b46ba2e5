"""Foreground `run` and `exec`: wait for the container's process, forwarding signals to it.

The runtime is a child subreaper while it waits (set before forking), so the process, whose
real parent (the intermediate) has exited, is reparented to the runtime and can be waited for.
Orphans of the container that are reparented to us as well are reaped along the way.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
else:  # the C module: `signal` wraps it in enums, and `import enum` costs ~10 ms at start-up
    import _signal as signal

FORWARDED = (
    signal.SIGHUP,
    signal.SIGINT,
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGWINCH,
    signal.SIGCONT,
    signal.SIGALRM,
)


def wait_and_forward(pid: int) -> int:
    """Wait for ``pid``; return its exit status, 128+N if signal N killed it."""

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    try:
        while True:
            try:
                got, status = os.wait()
            except ChildProcessError:
                return 255
            if got == pid:
                code = os.waitstatus_to_exitcode(status)
                return 128 - code if code < 0 else code
    finally:
        for sig in FORWARDED:
            signal.signal(sig, signal.SIG_DFL)
