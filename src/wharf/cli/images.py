"""Image commands: images, pull (with a per-layer progress display), push, tag, rmi, save, load,
import, history, login, logout, image prune/inspect."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import IO, Any

from wharf.cli import format as fmt
from wharf.cli.common import confirm, copy_to_output, filters_arg, print_objects, print_reclaimed
from wharf.cli.main import UsageError, die, parser, report
from wharf.client import APIError, Client

# ---------------------------------------------------------------- progress


class Progress:
    """Docker's JSON message stream shown as Docker shows it: on a terminal one line per layer,
    redrawn in place with a progress bar; elsewhere each status line once, without the bars."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.tty = out.isatty()
        self.lines: dict[str, int] = {}  # layer id -> line index (from the top of our block)
        self.count = 0

    def show(self, msg: dict[str, Any]) -> None:
        if msg.get("error"):
            raise APIError(500, str(msg["error"]))
        status = msg.get("status") or msg.get("stream") or ""
        if "aux" in msg and not status:
            return
        ident = msg.get("id") or ""
        line = f"{ident}: {status}" if ident else status
        detail = msg.get("progressDetail") or {}
        if not self.tty:
            if detail.get("current") is not None or msg.get("progress"):
                return  # progress bars are for terminals
            self.out.write(line.rstrip("\n") + "\n")
            self.out.flush()
            return
        if detail.get("total"):
            line += " " + _bar(detail.get("current") or 0, detail["total"])
        if not ident:  # a line of its own ends the block of layer lines
            self.out.write(line.rstrip("\n") + "\n")
            self.lines.clear()
            self.count = 0
            self.out.flush()
            return
        if ident not in self.lines:
            self.lines[ident] = self.count
            self.count += 1
            self.out.write(line + "\n")
        else:
            up = self.count - self.lines[ident]
            self.out.write(f"\033[{up}A\r\033[2K{line}\033[{up}B\r")
        self.out.flush()


def _bar(current: int, total: int) -> str:
    width = 50
    filled = min(width, int(width * current / total)) if total else 0
    arrow = "=" * max(filled - 1, 0) + (">" if filled else "")
    return f"[{arrow.ljust(width)}] {fmt.human_size(current)}/{fmt.human_size(total)}"


def show_stream(resp: Any, out: IO[str], quiet: bool = False) -> list[dict[str, Any]]:
    """Read a JSON-lines progress stream to its end; raise on an ``error`` message."""
    progress = Progress(out)
    seen: list[dict[str, Any]] = []
    for line in resp.lines():
        if not line.strip():
            continue
        msg = json.loads(line)
        seen.append(msg)
        if quiet:
            if msg.get("error"):
                raise APIError(500, str(msg["error"]))
            continue
        progress.show(msg)
    return seen


def _auth_for(image: str) -> dict[str, str]:
    from wharf.dockerconfig import registry_auth_header
    from wharf.errors import WharfError
    from wharf.oci.reference import parse_reference

    try:
        ref = parse_reference(image)
    except WharfError as exc:
        raise APIError(400, str(exc)) from None
    header = registry_auth_header(ref.domain)
    return {"X-Registry-Auth": header} if header else {}


def pull_image(client: Client, image: str, platform: str, out: IO[str], quiet: bool = False) -> None:
    from wharf.oci.reference import parse_reference

    try:
        ref = parse_reference(image, default_tag=False)
    except Exception as exc:
        raise APIError(400, str(exc)) from None
    tag = ref.digest or ref.tag or ("" if ref.digest else "latest")
    query = {"fromImage": ref.familiar_name(), "tag": tag, "platform": platform or None}
    resp = client.stream("POST", "/images/create", query, headers=_auth_for(image))
    show_stream(resp, out, quiet)


def _transfer_args(prog: str, name: str, args: list[str]) -> argparse.Namespace:
    """The flags pull and push share."""
    p = parser(prog, f"{prog} [OPTIONS] {name}")
    p.add_argument("-a", "--all-tags", action="store_true")
    p.add_argument("--platform", default="")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--disable-content-trust", action="store_true")
    p.add_argument("image")
    return p.parse_args(args)


def cmd_pull(client: Client, prog: str, args: list[str]) -> int:
    o = _transfer_args(prog, "NAME[:TAG|@DIGEST]", args)
    if o.all_tags:
        raise UsageError("--all-tags is not supported by wharf")
    pull_image(client, o.image, o.platform, sys.stdout, o.quiet)
    from wharf.oci.reference import parse_reference

    print(str(parse_reference(o.image)))
    return 0


def cmd_push(client: Client, prog: str, args: list[str]) -> int:
    o = _transfer_args(prog, "NAME[:TAG]", args)
    from wharf.oci.reference import parse_reference

    try:
        ref = parse_reference(o.image, default_tag=not o.all_tags)
    except Exception as exc:
        die(f"invalid reference format: {exc}")
    query = {"tag": ref.tag or None, "platform": o.platform or None}
    resp = client.stream(
        "POST",
        f"/images/{ref.familiar_name()}/push",
        query,
        headers=_auth_for(o.image) or {"X-Registry-Auth": "e30="},
    )
    show_stream(resp, sys.stdout, o.quiet)
    if o.quiet:
        print(o.image)
    return 0


def cmd_tag(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]")
    p.add_argument("source")
    p.add_argument("target")
    o = p.parse_args(args)
    from wharf.oci.reference import parse_reference

    try:
        ref = parse_reference(o.target)
    except Exception as exc:
        raise UsageError(f'invalid argument "{o.target}": invalid reference format ({exc})') from None
    client.call("POST", f"/images/{o.source}/tag", {"repo": ref.familiar_name(), "tag": ref.tag})
    return 0


def cmd_rmi(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] IMAGE [IMAGE...]")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--no-prune", action="store_true")
    p.add_argument("images", nargs="+")
    o = p.parse_args(args)
    failed = False
    for image in o.images:
        try:
            res = client.call(
                "DELETE",
                f"/images/{image}",
                {"force": "1" if o.force else None, "noprune": "1" if o.no_prune else None},
            )
        except APIError as exc:
            failed = True
            report(exc)
            continue
        for item in res or []:
            if item.get("Untagged"):
                print(f"Untagged: {item['Untagged']}")
            if item.get("Deleted"):
                print(f"Deleted: {item['Deleted']}")
    return 1 if failed else 0


# ---------------------------------------------------------------- images / history / inspect

IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedAt": "CREATED AT",
    "Size": "SIZE",
    "Containers": "CONTAINERS",
}


def _image_rows(images: list[dict[str, Any]], trunc: bool, digests: bool) -> list[dict[str, Any]]:
    rows = []
    for im in images:
        iid = im["Id"]
        short = iid.removeprefix("sha256:")[:12] if trunc else iid
        created = float(im.get("Created") or 0)
        base = {
            "ID": short,
            "CreatedSince": fmt.ago(created),
            "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(created)),
            "Size": fmt.human_size(im.get("Size") or 0),
            "Containers": str(im.get("Containers", "N/A")) if im.get("Containers", -1) >= 0 else "N/A",
        }
        digests_by_repo: dict[str, str] = {}
        for d in im.get("RepoDigests") or []:
            repo, _, dg = d.partition("@")
            digests_by_repo.setdefault(repo, dg)
        tags = [t for t in im.get("RepoTags") or [] if t != "<none>:<none>"]
        if not tags:
            if digests_by_repo:
                for repo, dg in digests_by_repo.items():
                    rows.append({**base, "Repository": repo, "Tag": "<none>", "Digest": dg})
            else:
                rows.append({**base, "Repository": "<none>", "Tag": "<none>", "Digest": "<none>"})
            continue
        for t in tags:
            repo, _, tag = t.rpartition(":")
            rows.append(
                {**base, "Repository": repo, "Tag": tag, "Digest": digests_by_repo.get(repo, "<none>")}
            )
    return rows


def cmd_images(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] [REPOSITORY[:TAG]]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--digests", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[])
    p.add_argument("--format", default="")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("repository", nargs="?")
    o = p.parse_args(args)
    filters = filters_arg(o.filter) or {}
    if o.repository:
        filters.setdefault("reference", []).append(o.repository)
    res = client.call("GET", "/images/json", {"all": "1" if o.all else None, "filters": filters or None})
    rows = _image_rows(res or [], not o.no_trunc, o.digests)
    if o.quiet:
        seen = set()
        for r in rows:
            if r["ID"] not in seen:
                seen.add(r["ID"])
                print(r["ID"])
        return 0
    template = o.format or (
        "table {{.Repository}}\t{{.Tag}}\t"
        + ("{{.Digest}}\t" if o.digests else "")
        + "{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    )
    out = fmt.format_rows(template, rows, IMAGE_HEADERS)
    if out:
        print(out)
    return 0


def cmd_history(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] IMAGE")
    p.add_argument("--format", default="")
    p.add_argument("-H", "--human", default="true")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--platform", default="")
    p.add_argument("image")
    o = p.parse_args(args)
    human = o.human.lower() not in ("false", "0")
    res = client.call("GET", f"/images/{o.image}/history") or []
    rows = []
    for h in res:
        hid = h.get("Id") or "<missing>"
        if hid != "<missing>" and not o.no_trunc:
            hid = hid.removeprefix("sha256:")[:12]
        created = float(h.get("Created") or 0)
        by = (h.get("CreatedBy") or "").replace("\t", " ")
        rows.append(
            {
                "ID": hid,
                "CreatedSince": fmt.ago(created)
                if human
                else time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(created)),
                "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(created)),
                "CreatedBy": by if o.no_trunc else fmt.truncate(by, 45),
                "Size": fmt.human_size(h.get("Size") or 0) if human else str(h.get("Size") or 0),
                "Comment": h.get("Comment") or "",
            }
        )
    if o.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    template = o.format or "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    headers = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
               "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}  # fmt: skip
    print(fmt.format_rows(template, rows, headers))
    return 0


def cmd_image_inspect(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] IMAGE [IMAGE...]")
    p.add_argument("-f", "--format", default="")
    p.add_argument("images", nargs="+")
    o = p.parse_args(args)
    objs = []
    failed = False
    for name in o.images:
        try:
            objs.append(client.call("GET", f"/images/{name}/json"))
        except APIError as exc:
            if exc.status != 404:
                raise
            failed = True
            sys.stderr.write(f"Error: No such image: {name}\n")
    print_objects(objs, o.format)
    return 1 if failed else 0


def cmd_image_prune(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--filter", action="append", default=[])
    p.add_argument("-f", "--force", action="store_true")
    o = p.parse_args(args)
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if o.all
        else "WARNING! This will remove all dangling images."
    )
    if not confirm(warning, o.force):
        return 0
    filters = filters_arg(o.filter) or {}
    filters["dangling"] = ["false" if o.all else "true"]
    res = client.call("POST", "/images/prune", {"filters": filters})
    print_deleted_images(res.get("ImagesDeleted") or [])
    print_reclaimed(res.get("SpaceReclaimed") or 0)
    return 0


def print_deleted_images(items: list[dict[str, Any]]) -> None:
    if not items:
        return
    print("Deleted Images:")
    for item in items:
        if item.get("Untagged"):
            print(f"untagged: {item['Untagged']}")
        if item.get("Deleted"):
            print(f"deleted: {item['Deleted']}")
    print()


# ---------------------------------------------------------------- save / load / import


def cmd_save(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] IMAGE [IMAGE...]")
    p.add_argument("-o", "--output", default="")
    p.add_argument("--platform", default="")
    p.add_argument("images", nargs="+")
    o = p.parse_args(args)
    if not o.output and os.isatty(sys.stdout.fileno()):
        die("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    resp = client.stream("GET", "/images/get", {"names": o.images})
    copy_to_output(resp, o.output, "image")
    return 0


def _body_source(path: str) -> Any:
    if path and path != "-":
        try:
            return open(path, "rb")
        except OSError as exc:
            die(f"open {path}: {(exc.strerror or str(exc)).lower()}")
    if os.isatty(sys.stdin.fileno()):
        die("requested load from stdin, but stdin is empty")
    return sys.stdin.buffer


def _post_file(client: Client, path: str, query: dict[str, Any], src: Any) -> Any:
    return client.upload(path, query, src, "application/x-tar")


def cmd_load(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS]")
    p.add_argument("-i", "--input", default="")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--platform", default="")
    o = p.parse_args(args)
    src = _body_source(o.input)
    resp = _post_file(client, "/images/load", {"quiet": "1" if o.quiet else "0"}, src)
    for msg in show_stream(resp, open(os.devnull, "w"), quiet=True):
        text = msg.get("stream") or msg.get("status") or ""
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_import(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] file|URL|- [REPOSITORY[:TAG]]")
    p.add_argument("-c", "--change", action="append", default=[])
    p.add_argument("-m", "--message", default="")
    p.add_argument("--platform", default="")
    p.add_argument("source")
    p.add_argument("reference", nargs="?")
    o = p.parse_args(args)
    repo = tag = None
    if o.reference:
        from wharf.oci.reference import parse_reference

        try:
            ref = parse_reference(o.reference)
        except Exception as exc:
            raise UsageError(f"invalid reference format: {exc}") from None
        repo, tag = ref.familiar_name(), ref.tag
    query: dict[str, Any] = {"fromSrc": "-", "repo": repo, "tag": tag, "message": o.message or None,
                             "changes": o.change or None, "platform": o.platform or None}  # fmt: skip
    src = _body_source(o.source)
    resp = _post_file(client, "/images/create", query, src)
    for msg in show_stream(resp, open(os.devnull, "w"), quiet=True):
        if msg.get("status"):
            print(msg["status"])
    return 0


# ---------------------------------------------------------------- login / logout


def cmd_login(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [OPTIONS] [SERVER]")
    p.add_argument("-u", "--username", default="")
    p.add_argument("-p", "--password", default="")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("server", nargs="?", default="")
    o = p.parse_args(args)
    from wharf.dockerconfig import server_key, store_credentials

    if o.password and o.password_stdin:
        raise UsageError("--password and --password-stdin are mutually exclusive")
    password = o.password
    if o.password_stdin:
        if not o.username:
            raise UsageError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif o.password:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    username = o.username
    if not username:
        if not os.isatty(0):
            die("Error: Cannot perform an interactive login from a non TTY device")
        username = input("Username: ").strip()
    if not password:
        import getpass

        if not os.isatty(0):
            die("Error: Cannot perform an interactive login from a non TTY device")
        password = getpass.getpass("Password: ")
    server = server_key(o.server)
    res = client.call(
        "POST",
        "/auth",
        None,
        {"username": username, "password": password, "serveraddress": o.server or server},
    )
    store_credentials(server, username, password)
    print((res or {}).get("Status") or "Login Succeeded")
    return 0


def cmd_logout(client: Client, prog: str, args: list[str]) -> int:
    p = parser(prog, f"{prog} [SERVER]")
    p.add_argument("server", nargs="?", default="")
    o = p.parse_args(args)
    from wharf.dockerconfig import remove_credentials, server_key

    server = server_key(o.server)
    if remove_credentials(server):
        print(f"Removing login credentials for {server}")
    else:
        print(f"Not logged in to {server}")
    return 0


__all__ = ["pull_image"]
