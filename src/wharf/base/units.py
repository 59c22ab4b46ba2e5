"""Sizes and durations as Docker's tools write them (go-units and Go's time.ParseDuration).

Every parser raises ValueError with the text it could not read; callers say it in their own
words (the CLI as a usage error, the daemon as Docker's 400)."""

from __future__ import annotations

_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DUR_NS = {"ns": 1, "us": 1000, "µs": 1000, "μs": 1000, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
           "h": 3600 * 10**9}  # fmt: skip


def ram_in_bytes(value: str) -> int:
    """go-units RAMInBytes: ``512m``, ``1.5g``, ``64MiB``, ``1024`` (bytes); binary multiples."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)*)\s*([kmgtp]?)i?b?\s*", value.lower())
    if not m:
        raise ValueError(value)
    try:
        number = float(m.group(1))
    except ValueError:
        raise ValueError(value) from None
    return int(number * _BINARY[m.group(2)])


def human_size(n: float) -> str:
    """go-units HumanSize: decimal units, 4 significant digits (``1.234MB``)."""
    return _scaled(n, 1000, ("B", "kB", "MB", "GB", "TB", "PB"))


def bytes_size(n: float) -> str:
    """go-units BytesSize: binary units, 4 significant digits (``1.5MiB``)."""
    return _scaled(n, 1024, ("B", "KiB", "MiB", "GiB", "TiB", "PiB"))


def _scaled(n: float, step: int, units: tuple[str, ...]) -> str:
    i = 0
    while n >= step and i < len(units) - 1:
        n /= step
        i += 1
    return f"{n:.4g}{units[i]}"


def parse_duration(value: str) -> int:
    """A Go duration (``1m30s``, ``500ms``, ``-1s``, ``0``) in nanoseconds."""
    import re

    v = value.strip()
    sign = -1 if v.startswith("-") else 1
    v = v[1:] if v[:1] in "+-" else v
    if v in ("0", ""):
        return 0
    pos = 0
    total = 0.0
    for m in re.finditer(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)", v):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DUR_NS[m.group(2)]
        pos = m.end()
    if pos != len(v) or pos == 0:
        raise ValueError(value)
    return sign * int(total)


def parse_bool(value: str) -> bool | None:
    """Go's strconv.ParseBool (the words dockerd takes for a boolean); None for any other."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None
