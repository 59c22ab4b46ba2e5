"""The compat suite's list of expected failures: every entry has a reason, and the judge tells
unexpected failures and stale entries apart."""

from __future__ import annotations

from tests.compat.dockerpy import Expected, Outcome, expected_entries, judge


def test_every_entry_has_a_reason_and_a_known_kind() -> None:
    entries = expected_entries()
    assert entries
    for e in entries:
        assert e.reason.split(":")[0] in ("swarm mode", "builder", "client", "client race"), e


def test_judge() -> None:
    entries = [
        Expected("api_swarm_test.", "swarm mode"),
        Expected("a.T::test_x", "client"),
        Expected("a.T::test_y", "client race", may_pass=True),
        Expected("a.T::test_z", "builder", version="1.41"),
    ]
    outcome = Outcome(
        passed={"a.T::test_x", "a.T::test_y", "a.T::test_ok"},
        failed={"api_swarm_test.S::test_init": "503", "a.T::test_z": "404", "a.T::test_new": "boom"},
        skipped=set(),
    )
    unexpected, stale = judge(outcome, "1.41", entries)
    assert unexpected == ["a.T::test_new: boom"]
    assert stale == ["a.T::test_x"]
    unexpected, _ = judge(outcome, "1.47", entries)
    assert unexpected == ["a.T::test_new: boom", "a.T::test_z: 404"]
