"""The neutral helpers in wharf.base: parsers, signals, atomic writes, the SQLite migrations."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from wharf.base import sqlite, units
from wharf.base.files import atomic_write
from wharf.base.signals import signal_number
from wharf.base.times import now_rfc3339, parse_rfc3339
from wharf.errors import FailedPrecondition


@pytest.mark.parametrize(
    "raw,value",
    [
        ("1024", 1024),
        ("512m", 512 << 20),
        ("1.5g", 3 << 29),
        ("64MiB", 64 << 20),
        ("10kb", 10240),
        ("1 g", 1 << 30),
    ],
)
def test_ram_in_bytes(raw: str, value: int) -> None:
    assert units.ram_in_bytes(raw) == value


@pytest.mark.parametrize("raw", ["", "lots", "-1", "1x", "1..5m"])
def test_ram_in_bytes_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        units.ram_in_bytes(raw)


@pytest.mark.parametrize(
    "raw,ns",
    [("0", 0), ("1m30s", 90 * 10**9), ("500ms", 5 * 10**8), ("1.5h", 5400 * 10**9), ("-1s", -(10**9))],
)
def test_parse_duration(raw: str, ns: int) -> None:
    assert units.parse_duration(raw) == ns


@pytest.mark.parametrize("raw", ["5", "1x", "s", "1m 2s", "--1s"])
def test_parse_duration_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        units.parse_duration(raw)


@pytest.mark.parametrize(
    "raw,num", [("9", 9), (15, 15), ("KILL", 9), ("sigterm", 15), ("SIGRTMIN+3", 37), ("RTMAX", 64)]
)
def test_signal_number(raw: str | int, num: int) -> None:
    assert signal_number(raw) == num


@pytest.mark.parametrize("raw", ["0", "65", 0, "FOO", "SIGRTMIN+x", ""])
def test_signal_number_unknown(raw: str | int) -> None:
    assert signal_number(raw) is None


def test_rfc3339_round_trip() -> None:
    s = now_rfc3339(1700000000.5)
    assert s == "2023-11-14T22:13:20.5Z"
    assert parse_rfc3339(s) == 1700000000.5
    assert parse_rfc3339("2023-11-14T23:13:20+01:00") == 1700000000
    assert parse_rfc3339("1970-01-01T00:00:00Z") == 0
    assert parse_rfc3339("2023-11-14T21:13:20.25-01:00") == 1700000000.25
    assert parse_rfc3339("0001-01-01T00:00:00Z") == -62135596800  # Go's zero time
    for bad in ("yesterday", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20", "2023-11-14T22:13:20Zx"):
        with pytest.raises(ValueError):
            parse_rfc3339(bad)


def test_atomic_write_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    atomic_write(str(target), "new", 0o640)
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["f"]


def test_migrations_apply_once_each(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    steps: list[sqlite.Migration] = ["CREATE TABLE a (x); CREATE TABLE b (y)"]
    db = sqlite.open_db(path, steps)
    assert sqlite.schema_version(db) == 1
    db.close()

    def second(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO a VALUES (1)")

    db = sqlite.open_db(path, [*steps, second])
    db.close()
    db = sqlite.open_db(path, [*steps, second])  # nothing applied twice
    assert db.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 1
    assert sqlite.schema_version(db) == 2
    db.close()


def test_failed_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    sqlite.open_db(path, ["CREATE TABLE a (x)"]).close()
    with pytest.raises(sqlite3.OperationalError):
        sqlite.open_db(path, ["CREATE TABLE a (x)", "INSERT INTO a VALUES (1); INSERT INTO nope VALUES (2)"])
    db = sqlite.open_db(path, ["CREATE TABLE a (x)"])
    assert sqlite.schema_version(db) == 1
    assert db.execute("SELECT COUNT(*) FROM a").fetchone()[0] == 0
    db.close()


def test_user_version_database_is_adopted(tmp_path: Path) -> None:
    """engine.db recorded its version in PRAGMA user_version before the stores shared one helper."""
    path = str(tmp_path / "engine.db")
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE containers (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, doc TEXT NOT NULL)"
    )
    old.execute("INSERT INTO containers VALUES ('a', 'b', '{}')")
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    from wharf.engine.containers import SCHEMA

    db = sqlite.open_db(path, SCHEMA)
    assert sqlite.schema_version(db) == 1
    assert db.execute("SELECT name FROM containers").fetchall() == [("b",)]
    db.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    sqlite.open_db(path, ["CREATE TABLE a (x)", "CREATE TABLE b (x)"]).close()
    with pytest.raises(FailedPrecondition, match="newer than this wharf's"):
        sqlite.open_db(path, ["CREATE TABLE a (x)"])


def test_owner_token_tells_a_live_process_from_a_gone_one() -> None:
    import subprocess
    import sys

    from wharf.base import owner

    assert owner.alive(owner.me())
    child = subprocess.run(
        [sys.executable, "-c", "from wharf.base import owner; print(owner.me())"],
        capture_output=True,
        text=True,
    )
    gone = child.stdout.strip()
    assert gone.split(".")[0].isdigit() and not owner.alive(gone)
    pid, _, start = owner.me().partition(".")
    assert not owner.alive(f"{pid}.{int(start) + 1}")  # the same pid, another process
    assert owner.alive("not-a-token")  # what it cannot tell it leaves alone
