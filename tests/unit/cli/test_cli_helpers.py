"""The CLI's shared parsing and formatting helpers and the small flag → body functions."""

from __future__ import annotations

import time
from datetime import datetime
from types import SimpleNamespace

import pytest

from wharf.cli import format as fmt
from wharf.cli.changes import split_repo_tag
from wharf.cli.common import filters_arg, get_timestamp, key_values
from wharf.cli.lifecycle import update_body
from wharf.cli.main import Exit, UsageError
from wharf.cli.system import _status


def test_filters_arg() -> None:
    assert filters_arg([]) is None
    assert filters_arg(["Status=exited", "status=dead", "label=a=b"]) == {
        "status": ["exited", "dead"],
        "label": ["a=b"],
    }
    with pytest.raises(UsageError, match="bad format of filter"):
        filters_arg(["dangling"])


def test_key_values() -> None:
    assert key_values(["a=1", "b", "c="], "label") == {"a": "1", "b": "", "c": ""}
    with pytest.raises(UsageError, match="invalid option: '=x'"):
        key_values(["=x"], "option")


def test_timestamps_for_since_and_until() -> None:
    assert get_timestamp("") == ""
    assert get_timestamp("1700000000") == "1700000000"
    assert get_timestamp("1700000000.5") == "1700000000.5"
    assert get_timestamp("2024-01-01T00:00:00Z") == "1704067200.000000000"
    assert get_timestamp("2024-01-01T02:00:00.25+02:00") == "1704067200.250000000"
    assert get_timestamp("2024-01-01T00:00:00.123456789Z").startswith("1704067200.123456")
    local = datetime(2024, 1, 1, 12, 30).astimezone().timestamp()
    assert float(get_timestamp("2024-01-01T12:30")) == pytest.approx(local)
    assert float(get_timestamp("2024-01-01")) == pytest.approx(datetime(2024, 1, 1).astimezone().timestamp())
    ago = float(get_timestamp("1m30s"))
    assert time.time() - 90 - 2 < ago <= time.time() - 90
    with pytest.raises(UsageError, match='failed to parse value as time or duration: "yesterday"'):
        get_timestamp("yesterday")


def test_bytes_size_is_binary() -> None:
    assert fmt.bytes_size(512) == "512B"
    assert fmt.bytes_size(1536) == "1.5KiB"
    assert fmt.bytes_size(8 << 30) == "8GiB"
    assert fmt.human_size(1536) == "1.536kB"


def test_commit_reference() -> None:
    assert split_repo_tag("") == ("", "")
    assert split_repo_tag("me/app:v2") == ("me/app", "v2")
    assert split_repo_tag("localhost:5000/app") == ("localhost:5000/app", "")
    with pytest.raises(Exit):
        split_repo_tag("app@sha256:abc")


def test_update_body_takes_only_given_flags() -> None:
    unset = dict(cpus="", cpu_shares=None, cpu_period=None, cpu_quota=None, cpuset_cpus=None,
                 cpuset_mems=None, memory="", memory_reservation="", memory_swap="", pids_limit=None,
                 restart="")  # fmt: skip
    o = SimpleNamespace(**{**unset, "cpus": "0.5", "cpu_quota": 1000, "cpuset_mems": "0", "memory": "64m",
                           "memory_swap": "-1", "restart": "on-failure:2"})  # fmt: skip
    assert update_body(o) == {
        "NanoCpus": 500_000_000,
        "CpuQuota": 1000,
        "CpusetMems": "0",
        "Memory": 64 << 20,
        "MemorySwap": -1,
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
    }
    with pytest.raises(UsageError, match="you must provide one or more flags"):
        update_body(SimpleNamespace(**unset))


@pytest.mark.parametrize(
    "state,alive,has_process",
    [
        ("running", True, True),
        ("paused", True, True),
        ("restarting", True, False),
        ("exited", False, False),
        ("created", False, False),
        ("", False, False),
        (None, False, False),
        ("no-such-state", False, False),
    ],
)
def test_system_df_reads_states_through_status(state: str | None, alive: bool, has_process: bool) -> None:
    status = _status({"State": state})
    assert (status.alive, status.has_process) == (alive, has_process)
