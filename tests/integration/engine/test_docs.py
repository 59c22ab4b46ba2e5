"""Every ```console session of docs/*.md, run against a test daemon: the docs say what wharf does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tests.daemon import Daemon
from tests.docs import Session, matches, run, sessions

SESSIONS = sessions()


@pytest.mark.parametrize("session", SESSIONS, ids=[s.name for s in SESSIONS])
def test_docs_session(session: Session, wharfd: Daemon) -> None:
    env = dict(
        wharfd.env(), SOCK=wharfd.sock, PATH=f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"
    )
    try:
        failures = run(session, env)
    finally:  # what a session made goes, whatever it printed
        ids = subprocess.run(["docker", "ps", "-aq"], env=env, capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], env=env, capture_output=True)
    assert not failures, f"{session.name}:\n" + "\n\n".join(failures)


def test_the_matcher() -> None:
    assert matches(("a", "...", "c"), ["a", "x", "y", "c"])
    assert matches(("a...",), ["abc"])
    assert not matches(("a",), ["a", "b"])
    assert matches(("...",), [])
    assert not matches(("b",), ["a"])
