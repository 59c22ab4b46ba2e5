"""The runtime's log: runc's ``--log`` / ``--log-format text|json`` without the logging module.

containerd and the wharf engine read the last ``error`` line of this file (JSON:
``{"level":"error","msg":"...","time":"..."}``) to tell users why a runtime call failed.
"""

from __future__ import annotations

import os
import sys

from wharf.base.times import now_rfc3339
from wharf.oci import fastjson

_path: str | None = None
_json = False
_debug = False


def configure(path: str | None, fmt: str, debug: bool) -> None:
    global _path, _json, _debug
    _path, _json, _debug = path, fmt == "json", debug


def write(level: str, msg: str) -> None:
    if level == "debug" and not _debug:
        return
    if _json:
        line = fastjson.dumps({"level": level, "msg": msg, "time": now_rfc3339()})
    else:
        line = f'time="{now_rfc3339()}" level={level} msg={fastjson.dumps(msg)}'
    if _path:
        fd = os.open(_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line.encode() + b"\n")
        finally:
            os.close(fd)
    elif level != "error":  # errors reach stderr once, from the CLI's main
        sys.stderr.write(line + "\n")


def debug(msg: str) -> None:
    write("debug", msg)


def warning(msg: str) -> None:
    write("warning", msg)


def error(msg: str) -> None:
    write("error", msg)
