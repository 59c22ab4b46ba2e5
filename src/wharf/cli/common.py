"""What several command modules share: ``--filter`` and ``k=v`` flags, ``--since``/``--until``
times, prune confirmations and reports, inspect output, and streaming an archive to ``-o``."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from wharf.cli import format as fmt
from wharf.cli.main import UsageError, die, report
from wharf.client import APIError, Client


def filters_arg(values: list[str]) -> dict[str, list[str]] | None:
    """``--filter name=value`` (repeatable) as the API's ``filters`` map; None when there are none."""
    out: dict[str, list[str]] = {}
    for v in values:
        k, eq, val = v.partition("=")
        if not eq:
            raise UsageError(f"bad format of filter (expected name=value): {v}")
        out.setdefault(k.strip().lower(), []).append(val)
    return out or None


def key_values(values: list[str], what: str) -> dict[str, str]:
    """``--label``/``--opt`` style ``k=v`` (or a bare ``k``) flags as a map."""
    out: dict[str, str] = {}
    for v in values:
        k, eq, val = v.partition("=")
        if not k:
            raise UsageError(f"invalid {what}: {v!r}")
        out[k] = val if eq else ""
    return out


def get_timestamp(value: str) -> str:
    """Docker's --since/--until: a Go duration before now, RFC 3339 (with a zone, or without one
    in local time, or just a date), or Unix seconds; -> Unix seconds as the API takes them."""
    if not value:
        return value
    from wharf.base import times, units

    try:
        return f"{time.time() - units.parse_duration(value) / 1e9:.9f}"
    except ValueError:
        pass
    if value.replace(".", "", 1).isdigit():
        return value
    try:
        return f"{times.parse_rfc3339(value):.9f}"
    except ValueError:
        pass
    return _local_timestamp(value)


def _local_timestamp(value: str) -> str:
    """The shorter forms Docker also takes: no seconds, no zone (local time), a date alone."""
    from datetime import UTC, datetime

    v = value.replace("Z", "+00:00")
    forms = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
             "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M", "%Y-%m-%d")  # fmt: skip
    for form in forms:
        try:
            dt = datetime.strptime(v, form)
        except ValueError:
            continue
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=datetime.now().astimezone().tzinfo or UTC)
        return f"{dt.timestamp():.9f}"
    raise UsageError(f'failed to parse value as time or duration: "{value}"')


# ---------------------------------------------------------------- prune


def confirm(message: str, force: bool) -> bool:
    """The prune commands' question (skipped with ``--force``): only y/yes goes ahead."""
    if force:
        return True
    sys.stdout.write(f"{message}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def print_deleted(title: str, names: list[str], end: str = "\n") -> None:
    """Docker's prune report for one kind of object: "Deleted Containers:", the names, and
    (``end``) a blank line."""
    if names:
        print(f"Deleted {title}:")
        print("\n".join(names), end="\n" + end)


def print_reclaimed(space: int) -> None:
    print(f"Total reclaimed space: {fmt.human_size(space)}")


# ---------------------------------------------------------------- inspect


def print_objects(objs: list[Any], template: str) -> None:
    """``inspect`` output: each object through ``--format``, or all of them as a JSON array."""
    if template:
        for obj in objs:
            print(fmt.render(template, obj))
    else:
        print(json.dumps(objs, indent=4, ensure_ascii=False))


def inspect_each(client: Client, names: list[str], path: str, template: str,
                 query: dict[str, Any] | None = None) -> int:  # fmt: skip
    """``network inspect``/``volume inspect``: each object by name (``path`` with ``{}``), the
    daemon's words for the missing ones, exit 1 if any was missing."""
    objs: list[Any] = []
    failed = False
    for name in names:
        try:
            objs.append(client.call("GET", path.format(name), query))
        except APIError as exc:
            if exc.status != 404:
                raise
            failed = True
            report(exc)
    print_objects(objs, template)
    return 1 if failed else 0


# ---------------------------------------------------------------- archives


def copy_to_output(resp: Any, output: str, what: str) -> None:
    """An archive (``export``, ``save``) to the file ``-o`` names (written whole, then renamed
    into place) or to stdout, which must not be a terminal."""
    if output and output != "-":
        tmp = output + ".wharf-tmp"
        with open(tmp, "wb") as f:
            while chunk := resp.read1(1 << 20):
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, output)
        return
    if os.isatty(sys.stdout.fileno()):
        die("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    out = sys.stdout.buffer
    while chunk := resp.read1(1 << 20):
        out.write(chunk)
    out.flush()
