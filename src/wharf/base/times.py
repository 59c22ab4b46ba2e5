"""Times as Docker prints and parses them: RFC 3339 with nanoseconds, and go-units' human durations."""

from __future__ import annotations

import time

from wharf.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing imports re: kept off the runtime's start (see _rfc3339)
    from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time.Time, as the Engine API shows an unset time


def now_rfc3339(ts: float | None = None) -> str:
    """RFC 3339 with nanoseconds in UTC, as Go's time.RFC3339Nano prints it (trailing zeros cut)."""
    ns = time.time_ns() if ts is None else int(ts * 1e9)
    secs, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac == 0:
        return base + "Z"
    return f"{base}.{frac:09d}".rstrip("0") + "Z"


def parse_rfc3339(s: str) -> float:
    """Seconds since the epoch for an RFC 3339 time (Z or ±hh:mm), nanoseconds kept as far as
    floats go; ValueError for anything else. (Every `ps` row parses two of these: no strptime.)"""
    import datetime

    m = _rfc3339().match(s)
    if not m:
        raise ValueError(f"invalid time {s!r}")
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
    secs = datetime.datetime(y, mo, d, h, mi, sec, tzinfo=datetime.UTC).timestamp()
    frac = float(m.group(7) or 0)
    tz = m.group(8)
    offset = 0 if tz == "Z" else (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60) * (1 if tz[0] == "+" else -1)
    return secs + frac - offset


def _rfc3339() -> Any:
    """The pattern, compiled at first use: ``re`` (with enum, functools...) is ~5 ms of every
    runtime command's start, which only formats times."""
    global _PATTERN
    if _PATTERN is None:
        import re

        _PATTERN = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")
    return _PATTERN


_PATTERN: Any = None


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "Less than a second", "About a minute", "3 hours", "2 weeks"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(seconds / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def parse_time_arg(s: str | None) -> float | None:
    """since/until: Unix seconds with optional fraction (what the CLI sends), or RFC 3339."""
    if s is None or s == "" or s == "0":
        return None
    try:
        return float(s)
    except ValueError:
        pass
    try:
        return parse_rfc3339(s)
    except ValueError:
        raise InvalidArgument(f'invalid value for "since"/"until": {s}') from None
