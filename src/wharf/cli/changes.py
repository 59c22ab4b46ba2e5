"""What a container changed, and what becomes of it: diff, export, commit, container prune."""

from __future__ import annotations

import os
import sys

from wharf.cli.common import confirm, copy_to_output, filters_arg, print_deleted, print_reclaimed
from wharf.cli.main import die, parser
from wharf.client import Client


def cmd_diff(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} CONTAINER")
    p.add_argument("container")
    o = p.parse_args(args)
    for ch in client.call("GET", f"/containers/{o.container}/changes") or []:
        print(f"{'CAD'[ch['Kind']]} {ch['Path']}")
    return 0


def cmd_export(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER")
    p.add_argument("-o", "--output", default="")
    p.add_argument("container")
    o = p.parse_args(args)
    if not o.output and os.isatty(sys.stdout.fileno()):
        die("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    copy_to_output(client.stream("GET", f"/containers/{o.container}/export"), o.output, "container")
    return 0


def split_repo_tag(reference: str) -> tuple[str, str]:
    """``commit``'s REPOSITORY[:TAG] → (repository, tag); a port's colon is not a tag's."""
    if "@" in reference:
        die("Error parsing reference: refusing to create a tag with a digest reference")
    head, sep, last = reference.rpartition(":")
    if sep and "/" not in last:
        return head, last
    return reference, ""


def cmd_commit(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] CONTAINER [REPOSITORY[:TAG]]")
    p.add_argument("-a", "--author", default="")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-m", "--message", default="")
    p.add_argument("-p", "--pause", nargs="?", const="true", default="true")
    p.add_argument("container")
    p.add_argument("reference", nargs="?", default="")
    o = p.parse_args(args)
    repo, tag = split_repo_tag(o.reference)
    pause = "false" if o.pause.lower() in ("false", "0") else "true"
    query = {"container": o.container, "repo": repo, "tag": tag, "author": o.author, "comment": o.message,
             "pause": pause, "changes": o.change or None}  # fmt: skip
    resp = client.call("POST", "/commit", {k: v for k, v in query.items() if v}, {})
    print(resp["Id"])
    return 0


def cmd_container_prune(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("-f", "--force", action="store_true")
    o = p.parse_args(args)
    if not confirm("WARNING! This will remove all stopped containers.", o.force):
        return 0
    res = client.call("POST", "/containers/prune", {"filters": filters_arg(o.filter)})
    print_deleted("Containers", res.get("ContainersDeleted") or [])
    print_reclaimed(res.get("SpaceReclaimed") or 0)
    return 0
