"""``wharf``: Docker's command line, speaking the Engine API to wharfd.

Startup cost matters (every ``wharf ps`` pays it), so this module imports only argparse and the
stdlib client; each command group lives in its own module, imported when its command runs.
Exit codes are Docker's: 125 when wharf itself fails (bad flags, daemon errors on run/create),
126/127 when the container command cannot be invoked / found, else the container's own status.
Errors become words and exit codes in one place, ``report`` (``error_text`` + ``exit_code_for``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from wharf.client import APIError, Client, DaemonUnreachable

VERSION = "0.1.0"
API_VERSION = "1.47"

WHARF_FAILED = 125  # wharf itself failed: a bad command line, the daemon refusing run/create
CANNOT_INVOKE = 126  # the container's command exists but cannot be executed
NOT_FOUND = 127  # the container's command does not exist


class UsageError(Exception):
    """A command line the command cannot take: Docker prints it and exits 125."""


class Exit(Exception):
    """End the command with this code; whatever there was to say has been said."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class RunFailed(Exception):
    """The daemon refused to create (or start) the container ``run``/``create`` asked for."""

    def __init__(self, message: str, starting: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.starting = starting


HANDLED = (Exit, UsageError, RunFailed, APIError, DaemonUnreachable, KeyboardInterrupt, BrokenPipeError)


def _start_failure_code(message: str) -> int:
    """The docker CLI's reading of a failed start: 127 (not found), 126 (cannot invoke), else 125."""
    if any(s in message for s in ("executable file not found", "no such file or directory")):
        return NOT_FOUND
    if "permission denied" in message or "is a directory" in message:
        return CANNOT_INVOKE
    return WHARF_FAILED


def exit_code_for(exc: BaseException, creates: bool = False) -> int:
    """Docker's exit code for the error that ended a command. ``creates``: the command makes a
    container (run, create), so the daemon failing it is wharf's failure (125), not the usual 1."""
    if isinstance(exc, Exit):
        return exc.code
    if isinstance(exc, UsageError):
        return WHARF_FAILED
    if isinstance(exc, RunFailed):
        return _start_failure_code(exc.message) if exc.starting else WHARF_FAILED
    if isinstance(exc, APIError | DaemonUnreachable):
        return WHARF_FAILED if creates else 1
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, BrokenPipeError):
        return 0
    return 1


def error_text(exc: BaseException, prog: str | None = None) -> str:
    """Docker's words for an error (empty when there is nothing to say). ``prog``: the command
    whose ``--help`` a usage error points to; None before a command is known (the message then
    carries its own hint)."""
    if isinstance(exc, UsageError):
        return f"wharf: {exc}.\n" if prog is None else f"wharf: {exc}\nSee '{prog} --help'.\n"
    if isinstance(exc, RunFailed):
        return f"wharf: Error response from daemon: {exc.message}\n"
    if isinstance(exc, APIError):
        return f"Error response from daemon: {exc.message}\n"
    if isinstance(exc, DaemonUnreachable):
        return f"{exc}\n"
    return ""


def report(exc: BaseException, prog: str | None = None, creates: bool = False) -> int:
    """Say ``exc`` as Docker does, on stderr; -> the exit code it ends the command with."""
    text = error_text(exc, prog)
    if text:
        sys.stderr.write(text)
    return exit_code_for(exc, creates)


class Parser(argparse.ArgumentParser):
    """argparse with Docker's reaction to a bad command line: message, a hint, exit 125."""

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments: "):
            message = "unknown flag: " + message.split(": ", 1)[1].split()[0]
        raise Exit(report(UsageError(message), self.prog))


# command name -> (module, function name, one-line help); modules are imported on use
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("run", "cmd_run", "Create and run a new container from an image"),
    "create": ("run", "cmd_create", "Create a new container"),
    "start": ("run", "cmd_start", "Start one or more stopped containers"),
    "stop": ("lifecycle", "cmd_stop", "Stop one or more running containers"),
    "restart": ("lifecycle", "cmd_restart", "Restart one or more containers"),
    "kill": ("lifecycle", "cmd_kill", "Kill one or more running containers"),
    "rm": ("lifecycle", "cmd_rm", "Remove one or more containers"),
    "ps": ("containers", "cmd_ps", "List containers"),
    "logs": ("logs", "cmd_logs", "Fetch the logs of a container"),
    "exec": ("execs", "cmd_exec", "Execute a command in a running container"),
    "attach": ("run", "cmd_attach", "Attach to a running container"),
    "inspect": ("containers", "cmd_inspect", "Return low-level information on wharf objects"),
    "top": ("containers", "cmd_top", "Display the running processes of a container"),
    "stats": ("containers", "cmd_stats", "Display a live stream of container resource usage"),
    "wait": ("lifecycle", "cmd_wait", "Block until containers stop, then print their exit codes"),
    "rename": ("lifecycle", "cmd_rename", "Rename a container"),
    "pause": ("lifecycle", "cmd_pause", "Pause all processes within one or more containers"),
    "unpause": ("lifecycle", "cmd_unpause", "Unpause all processes within one or more containers"),
    "update": ("lifecycle", "cmd_update", "Update configuration of one or more containers"),
    "port": ("containers", "cmd_port", "List port mappings of a container"),
    "diff": ("changes", "cmd_diff", "Inspect changes to files on a container's filesystem"),
    "export": ("changes", "cmd_export", "Export a container's filesystem as a tar archive"),
    "cp": ("copy", "cmd_cp", "Copy files/folders between a container and the local filesystem"),
    "commit": ("changes", "cmd_commit", "Create a new image from a container's changes"),
    "build": ("build", "cmd_build", "Build an image from a Dockerfile"),
    "images": ("images", "cmd_images", "List images"),
    "pull": ("images", "cmd_pull", "Download an image from a registry"),
    "push": ("images", "cmd_push", "Upload an image to a registry"),
    "tag": ("images", "cmd_tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "rmi": ("images", "cmd_rmi", "Remove one or more images"),
    "save": ("images", "cmd_save", "Save one or more images to a tar archive"),
    "load": ("images", "cmd_load", "Load an image from a tar archive or STDIN"),
    "import": ("images", "cmd_import", "Import the contents from a tarball to create an image"),
    "history": ("images", "cmd_history", "Show the history of an image"),
    "login": ("images", "cmd_login", "Log in to a registry"),
    "logout": ("images", "cmd_logout", "Log out from a registry"),
    "info": ("system", "cmd_info", "Display system-wide information"),
    "version": ("system", "cmd_version", "Show the wharf version information"),
    "events": ("system", "cmd_events", "Get real time events from the server"),
}

# management commands: `wharf container ls` == `wharf ps`, and so on
GROUPS: dict[str, dict[str, str]] = {
    "container": {
        "ls": "ps", "list": "ps", "run": "run", "create": "create", "start": "start", "stop": "stop",
        "restart": "restart", "kill": "kill", "rm": "rm", "remove": "rm", "logs": "logs", "exec": "exec",
        "attach": "attach", "inspect": "inspect", "top": "top", "stats": "stats", "wait": "wait",
        "rename": "rename", "pause": "pause", "unpause": "unpause", "update": "update", "port": "port",
        "diff": "diff", "export": "export", "prune": "container-prune", "cp": "cp", "commit": "commit",
    },
    "image": {
        "ls": "images", "list": "images", "pull": "pull", "push": "push", "tag": "tag", "rm": "rmi",
        "remove": "rmi", "save": "save", "load": "load", "import": "import", "history": "history",
        "inspect": "image-inspect", "prune": "image-prune", "build": "build",
    },
    "builder": {"build": "build", "prune": "builder-prune"},
    "network": {
        "create": "network-create", "ls": "network-ls", "list": "network-ls", "inspect": "network-inspect",
        "rm": "network-rm", "remove": "network-rm", "connect": "network-connect",
        "disconnect": "network-disconnect", "prune": "network-prune",
    },
    "volume": {
        "create": "volume-create", "ls": "volume-ls", "list": "volume-ls", "inspect": "volume-inspect",
        "rm": "volume-rm", "remove": "volume-rm", "prune": "volume-prune",
    },
    "system": {"df": "system-df", "prune": "system-prune", "info": "info", "events": "events"},
}  # fmt: skip

HIDDEN: dict[str, tuple[str, str]] = {
    "container-prune": ("changes", "cmd_container_prune"),
    "image-prune": ("images", "cmd_image_prune"),
    "builder-prune": ("build", "cmd_builder_prune"),
    "image-inspect": ("images", "cmd_image_inspect"),
    "system-df": ("system", "cmd_df"),
    "network-create": ("networks", "cmd_network_create"),
    "network-ls": ("networks", "cmd_network_ls"),
    "network-inspect": ("networks", "cmd_network_inspect"),
    "network-rm": ("networks", "cmd_network_rm"),
    "network-connect": ("networks", "cmd_network_connect"),
    "network-disconnect": ("networks", "cmd_network_disconnect"),
    "network-prune": ("networks", "cmd_network_prune"),
    "volume-create": ("volumes", "cmd_volume_create"),
    "volume-ls": ("volumes", "cmd_volume_ls"),
    "volume-inspect": ("volumes", "cmd_volume_inspect"),
    "volume-rm": ("volumes", "cmd_volume_rm"),
    "volume-prune": ("volumes", "cmd_volume_prune"),
    "system-prune": ("system", "cmd_system_prune"),
}


def usage() -> str:
    lines = [
        "Usage:  wharf [OPTIONS] COMMAND",
        "",
        "A Docker-compatible container engine",
        "",
        "Options:",
        "  -H, --host string   Daemon socket to connect to (default $WHARF_HOST, $DOCKER_HOST,",
        "                      unix:///run/wharf/wharf.sock)",
        "  -v, --version       Print version information and quit",
        "",
        "Management Commands:",
        "  container   Manage containers",
        "  builder     Manage builds",
        "  image       Manage images",
        "  network     Manage networks",
        "  volume      Manage volumes",
        "  system      Manage wharf",
        "",
        "Commands:",
    ]
    for name, (_, _, text) in COMMANDS.items():
        lines.append(f"  {name:<10}{text}")
    lines.append("\nRun 'wharf COMMAND --help' for more information on a command.")
    return "\n".join(lines) + "\n"


def resolve(argv: list[str]) -> tuple[str, str, str, list[str]]:
    """-> (module, function, program name for messages, remaining args)."""
    name, rest = argv[0], argv[1:]
    if name in GROUPS:
        if not rest or rest[0] in ("-h", "--help"):
            subs = ", ".join(sorted(GROUPS[name]))
            raise UsageError(f"Usage:  wharf {name} COMMAND\n\nCommands: {subs}")
        sub = rest[0]
        target = GROUPS[name].get(sub)
        if target is None:
            raise UsageError(f"unknown command: wharf {name} {sub}\nSee 'wharf {name} --help'")
        prog = f"wharf {name} {sub}"
        if target in HIDDEN:
            mod, fn = HIDDEN[target]
        else:
            mod, fn, _ = COMMANDS[target]
        return mod, fn, prog, rest[1:]
    if name not in COMMANDS:
        raise UsageError(f"unknown command: wharf {name}\nSee 'wharf --help'")
    mod, fn, _ = COMMANDS[name]
    return mod, fn, f"wharf {name}", rest


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    host: str | None = None
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-H", "--host") and args:
            host = args.pop(0)
        elif opt.startswith("--host="):
            host = opt.split("=", 1)[1]
        elif opt in ("-v", "--version"):
            print(f"wharf version {VERSION}")
            return 0
        elif opt in ("-h", "--help"):
            sys.stdout.write(usage())
            return 0
        elif opt in ("-D", "--debug"):
            continue
        else:
            sys.stderr.write(f"unknown flag: {opt}\nSee 'wharf --help'.\n")
            return WHARF_FAILED
    if not args:
        sys.stdout.write(usage())
        return 0
    try:
        mod_name, fn_name, prog, rest = resolve(args)
    except UsageError as exc:
        return report(exc)
    module = __import__(f"wharf.cli.{mod_name}", fromlist=[fn_name])
    fn: Callable[[Client, str, list[str]], int] = getattr(module, fn_name)
    client = Client(host)
    try:
        return fn(client, prog, rest)
    except HANDLED as exc:
        return report(exc, prog, creates=fn_name in ("cmd_run", "cmd_create"))


def parser(prog: str, usage_line: str, description: str = "") -> Parser:
    # -h is a flag of its own in some commands (run -h HOSTNAME): help is --help, as in Docker
    p = Parser(prog=prog, usage=usage_line, description=description, allow_abbrev=False, add_help=False)
    p.add_argument("--help", action="help", help="Print usage")
    return p


def entry() -> None:  # console script
    sys.exit(main())


def die(message: str, code: int = 1) -> NoReturn:
    sys.stderr.write(message.rstrip("\n") + "\n")
    raise Exit(code)


def each(items: list[str], action: Callable[[str], Any], echo: bool = True) -> int:
    """Docker's pattern for multi-target commands: act on each, print the name on success, the
    daemon's error for failures, exit 1 if any failed."""
    failed = False
    for item in items:
        try:
            action(item)
        except APIError as exc:
            failed = True
            report(exc)
            continue
        if echo:
            print(item, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    entry()
