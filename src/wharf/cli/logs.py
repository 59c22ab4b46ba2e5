"""``wharf logs``: a container's output from the daemon's log, stdcopy-framed unless a TTY."""

from __future__ import annotations

from wharf.cli import streams
from wharf.cli.common import get_timestamp
from wharf.cli.main import parser
from wharf.client import Client


def cmd_logs(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER")
    p.add_argument("--details", action="store_true")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("--since", default="")
    p.add_argument("-n", "--tail", default="all")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--until", default="")
    p.add_argument("container")
    o = p.parse_args(args)
    query = {
        "stdout": "1",
        "stderr": "1",
        "follow": "1" if o.follow else None,
        "since": get_timestamp(o.since) or None,
        "until": get_timestamp(o.until) or None,
        "timestamps": "1" if o.timestamps else None,
        "tail": o.tail,
        "details": "1" if o.details else None,
    }
    resp = client.stream("GET", f"/containers/{o.container}/logs", query)
    multiplexed = "multiplexed" in (resp.getheader("Content-Type") or "")
    streams.demux(resp.read1, multiplexed)
    return 0
