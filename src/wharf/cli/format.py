"""Output as the docker CLI prints it: Go-template ``--format`` (the common subset), tables laid
out like Go's tabwriter (min width 10, padding 3), and human durations and sizes."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from wharf.base.times import human_duration as human_duration
from wharf.base.units import bytes_size as bytes_size
from wharf.base.units import human_size as human_size

_ACTION = re.compile(r"{{\s*(.*?)\s*}}")


def _path(obj: Any, path: str) -> Any:
    if path in (".", ""):
        return obj
    cur = obj
    for part in path.lstrip(".").split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        else:
            cur = getattr(cur, part, None)
        if cur is None:
            return None
    return cur


def _go_str(v: Any) -> str:
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + " ".join(_go_str(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_go_str(x)}" for k, x in sorted(v.items())) + "]"
    return str(v)


def _eval(action: str, obj: Any) -> str:
    words = action.split()
    if not words:
        return ""
    if words[0] == "json":
        return json.dumps(_path(obj, words[1] if len(words) > 1 else "."), separators=(",", ":"))
    if words[0] in ("upper", "lower") and len(words) > 1:
        s = _go_str(_path(obj, words[1]))
        return s.upper() if words[0] == "upper" else s.lower()
    if words[0] == "index" and len(words) > 2:
        base = _path(obj, words[1])
        key = words[2].strip('"')
        if isinstance(base, dict):
            return _go_str(base.get(key))
        if isinstance(base, list) and key.isdigit() and int(key) < len(base):
            return _go_str(base[int(key)])
        return "<no value>"
    if words[0] == "join" and len(words) > 2:
        base = _path(obj, words[1]) or []
        return words[2].strip('"').join(str(x) for x in base)
    return _go_str(_path(obj, words[0]))


def render(template: str, obj: Any) -> str:
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    return _ACTION.sub(lambda m: _eval(m.group(1), obj), template)


def table(rows: list[list[str]], min_width: int = 10, padding: int = 3) -> str:
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for r in rows:
        for i, cell in enumerate(r[:-1] if len(r) == ncols else r):
            widths[i] = max(widths[i], len(cell))
    out = []
    for r in rows:
        cells = []
        for i, cell in enumerate(r):
            if i == len(r) - 1:
                cells.append(cell)
            else:
                cells.append(cell.ljust(max(widths[i] + padding, min_width)))
        out.append("".join(cells).rstrip())
    return "\n".join(out)


def format_rows(fmt: str, objs: list[Any], headers: dict[str, str]) -> str:
    """``table ...`` templates get a header row and tabwriter layout; others one line each."""
    if fmt.startswith("table"):
        tmpl = fmt[len("table") :].strip() or "{{.ID}}"
        tmpl = tmpl.replace("\\t", "\t")
        header = _ACTION.sub(
            lambda m: headers.get(m.group(1).strip().lstrip("."), m.group(1).strip().lstrip(".").upper()),
            tmpl,
        )
        rows = [header.split("\t")] + [render(tmpl, o).split("\t") for o in objs]
        return table(rows)
    return "\n".join(render(fmt, o) for o in objs)


def ago(ts: float) -> str:
    return human_duration(time.time() - ts) + " ago"


def truncate(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"
