"""`wharf-runtime`: runc's command line over wharf's OCI runtime.

Flags follow runc (urfave/cli): global flags before the command, command flags before the
container id, ``-flag`` and ``--flag`` alike, ``--flag=value`` or ``--flag value``. Exit status
is 0 on success and 1 on any error, whose message goes to stderr and, with ``--log``, to the log
file in the chosen ``--log-format``. `run` and foreground `exec` exit with the container process's
own status (128+signal when it was killed).

This module is the process entry point, so it imports only what every command needs;
commands import the rest when they run.
"""

from __future__ import annotations

import os
import sys

from wharf.base import trace
from wharf.errors import InvalidArgument, WharfError
from wharf.runtime import log, sealed
from wharf.runtime.state import DEFAULT_ROOT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# flag spec: "name|alias" -> kind: "bool", "str", "int", "list"
GLOBAL_FLAGS = {
    "root": "str",
    "log": "str",
    "log-format": "str",
    "debug": "bool",
    "systemd-cgroup": "bool",
    "criu": "str",
    "rootless": "str",
    "help|h": "bool",
    "version|v": "bool",
}
_CREATE = {
    "bundle|b": "str",
    "console-socket": "str",
    "pid-file": "str",
    "no-pivot": "bool",
    "no-new-keyring": "bool",
    "preserve-fds": "int",
    "help|h": "bool",
}
COMMANDS: dict[str, dict[str, str]] = {
    "create": _CREATE,
    "run": _CREATE | {"detach|d": "bool", "keep": "bool"},
    "start": {"help|h": "bool"},
    "state": {"help|h": "bool"},
    "kill": {"all|a": "bool", "help|h": "bool"},
    "delete": {"force|f": "bool", "help|h": "bool"},
    "pause": {"help|h": "bool"},
    "resume": {"help|h": "bool"},
    "ps": {"format|f": "str", "help|h": "bool"},
    "list": {"format|f": "str", "quiet|q": "bool", "help|h": "bool"},
    "spec": {"bundle|b": "str", "rootless": "bool", "help|h": "bool"},
    "features": {"help|h": "bool"},
    "exec": {
        "console-socket": "str",
        "pidfd-socket": "str",
        "cwd": "str",
        "env|e": "list",
        "tty|t": "bool",
        "user|u": "str",
        "additional-gids|g": "list",
        "process|p": "str",
        "detach|d": "bool",
        "pid-file": "str",
        "process-label": "str",
        "apparmor": "str",
        "no-new-privs": "bool",
        "cap|c": "list",
        "preserve-fds": "int",
        "ignore-paused": "bool",
        "cgroup": "list",
        "help|h": "bool",
    },
    "spawner": {"socket-fd": "int", "help|h": "bool"},
    "update": {
        "resources|r": "str",
        "memory": "str",
        "memory-swap": "str",
        "memory-reservation": "str",
        "cpu-shares": "str",
        "cpu-quota": "str",
        "cpu-period": "str",
        "cpuset-cpus": "str",
        "cpuset-mems": "str",
        "pids-limit": "str",
        "blkio-weight": "str",
        "help|h": "bool",
    },
}
USAGE = f"""usage: wharf-runtime [global options] command [command options] [arguments...]

An OCI runtime with runc's command line.

commands:
  create    create a container          start     start a created container
  run       create and start            exec      run a new process in a container
  state     print a container's state   kill      send a signal to a container's init
  delete    delete a container          pause     freeze all processes of a container
  resume    thaw a paused container     ps        list processes in a container
  list      list containers             update    change a container's cgroup resources
  spec      write a default config.json features  print the features of this runtime
  spawner   create containers for wharfd from a warm process (--socket-fd N; see spawner.py)

global options: --root DIR (default {DEFAULT_ROOT}), --log FILE, --log-format text|json, --debug
"""


class Args:
    __slots__ = ("flags", "pos")

    def __init__(self, flags: dict[str, Any], pos: list[str]) -> None:
        self.flags = flags
        self.pos = pos

    def get(self, name: str, default: Any = None) -> Any:
        return self.flags.get(name, default)


def parse_flags(argv: list[str], spec: dict[str, str], where: str) -> tuple[dict[str, Any], list[str]]:
    """Flags up to the first positional argument (or ``--``); the rest are positional."""
    names: dict[str, tuple[str, str]] = {}
    for key, kind in spec.items():
        canonical = key.split("|")[0]
        for alias in key.split("|"):
            names[alias] = (canonical, kind)
    flags: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return flags, argv[i + 1 :]
        if not arg.startswith("-") or arg == "-":
            return flags, argv[i:]
        name, eq, value = arg.lstrip("-").partition("=")
        if name not in names:
            raise InvalidArgument(f"flag provided but not defined: -{name} ({where})")
        canonical, kind = names[name]
        if kind == "bool":
            flags[canonical] = value.lower() not in ("false", "0") if eq else True
        else:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise InvalidArgument(f"flag needs an argument: -{name}")
                value = argv[i]
            if kind == "int":
                if not value.lstrip("-").isdigit():
                    raise InvalidArgument(f"invalid value {value!r} for flag -{name}: parse error")
                flags[canonical] = int(value)
            elif kind == "list":
                flags.setdefault(canonical, []).append(value)
            else:
                flags[canonical] = value
        i += 1
    return flags, []


def _need_id(args: Args, cmd: str) -> str:
    if not args.pos:
        raise InvalidArgument(f'"{cmd}" requires a container id')
    return args.pos[0]


def _print_json(obj: Any, indent: bool = True) -> None:
    import json

    sys.stdout.write(json.dumps(obj, indent=2 if indent else None) + "\n")


def cmd_create(g: Args, a: Args) -> int:
    from wharf.runtime.process.parent import create

    sealed.ensure()

    create(_create_opts(g, a, "create"))
    return 0


def _create_opts(g: Args, a: Args, cmd: str) -> Any:
    from wharf.runtime.process.parent import CreateOptions

    opts = CreateOptions(g.get("root", DEFAULT_ROOT), _need_id(a, cmd), a.get("bundle") or os.getcwd())
    opts.console_socket = a.get("console-socket")
    opts.pid_file = a.get("pid-file")
    opts.no_pivot = bool(a.get("no-pivot"))
    opts.preserve_fds = a.get("preserve-fds", 0)
    return opts


def cmd_run(g: Args, a: Args) -> int:
    from wharf.runtime import container
    from wharf.runtime import syscalls as s
    from wharf.runtime.process.parent import create
    from wharf.runtime.process.supervise import wait_and_forward

    sealed.ensure()
    opts = _create_opts(g, a, "run")
    if not a.get("detach"):
        s.prctl(s.PR_SET_CHILD_SUBREAPER, 1)
    st = create(opts)
    container.start(opts.root, opts.cid)
    if a.get("detach"):
        return 0
    code = wait_and_forward(st["pid"])
    if not a.get("keep"):
        container.delete(opts.root, opts.cid, force=True)
    return code


def cmd_start(g: Args, a: Args) -> int:
    from wharf.runtime import container

    container.start(g.get("root", DEFAULT_ROOT), _need_id(a, "start"))
    return 0


def cmd_state(g: Args, a: Args) -> int:
    from wharf.runtime import container

    _print_json(container.runc_state(g.get("root", DEFAULT_ROOT), _need_id(a, "state")))
    return 0


def cmd_kill(g: Args, a: Args) -> int:
    from wharf.runtime import container

    sig = container.parse_signal(a.pos[1]) if len(a.pos) > 1 else 15
    container.kill(g.get("root", DEFAULT_ROOT), _need_id(a, "kill"), sig, bool(a.get("all")))
    return 0


def cmd_delete(g: Args, a: Args) -> int:
    from wharf.errors import NotFound
    from wharf.runtime import container

    root = g.get("root", DEFAULT_ROOT)
    for cid in a.pos or [_need_id(a, "delete")]:
        try:
            container.delete(root, cid, bool(a.get("force")))
        except NotFound:
            if not a.get("force"):
                raise
    return 0


def cmd_pause(g: Args, a: Args) -> int:
    from wharf.runtime import container

    container.pause(g.get("root", DEFAULT_ROOT), _need_id(a, "pause"))
    return 0


def cmd_resume(g: Args, a: Args) -> int:
    from wharf.runtime import container

    container.resume(g.get("root", DEFAULT_ROOT), _need_id(a, "resume"))
    return 0


def cmd_ps(g: Args, a: Args) -> int:
    from wharf.runtime import container

    pids = container.pids(g.get("root", DEFAULT_ROOT), _need_id(a, "ps"))
    fmt = a.get("format", "table")
    if fmt == "json":
        _print_json(pids, indent=False)
        return 0
    if fmt != "table":
        raise InvalidArgument(f"invalid format option {fmt!r}")
    import subprocess

    ps_args = a.pos[1:] or ["-ef"]
    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=True).stdout.splitlines()
    header = out[0].split()
    if "PID" not in header:
        raise InvalidArgument("couldn't find PID field in ps output")
    col = header.index("PID")
    wanted = set(pids)
    print(out[0])
    for line in out[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            print(line)
    return 0


def cmd_list(g: Args, a: Args) -> int:
    from wharf.runtime import container, state

    root = g.get("root", DEFAULT_ROOT)
    rows = []
    for cid in state.list_ids(root):
        try:
            rows.append(container.runc_state(root, cid))
        except WharfError:
            continue
    if a.get("quiet"):
        for r in rows:
            print(r["id"])
        return 0
    fmt = a.get("format", "table")
    if fmt == "json":
        _print_json(rows, indent=False)
        return 0
    if fmt != "table":
        raise InvalidArgument(f"invalid format option {fmt!r}")
    table = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    table += [
        [r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"], r["owner"] or "root"] for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(6)]
    for row in table:
        print("   ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_spec(g: Args, a: Args) -> int:
    import json

    from wharf.runtime.defaults import default_spec

    bundle = a.get("bundle") or "."
    path = f"{bundle}/config.json"
    if os.path.exists(path):
        raise InvalidArgument(f"File {path} exists. Remove it first")
    with open(path, "w") as f:
        json.dump(default_spec(rootless=bool(a.get("rootless"))), f, indent="\t")
        f.write("\n")
    return 0


def cmd_features(g: Args, a: Args) -> int:
    from wharf.runtime.defaults import features

    _print_json(features())
    return 0


def cmd_exec(g: Args, a: Args) -> int:
    from wharf.runtime.process.exec import exec_command

    sealed.ensure()
    return exec_command(g.get("root", DEFAULT_ROOT), _need_id(a, "exec"), a.flags, a.pos[1:])


def cmd_spawner(g: Args, a: Args) -> int:
    sealed.ensure()
    from wharf.runtime.spawner import serve

    fd = a.get("socket-fd")
    if fd is None:
        raise InvalidArgument("spawner: --socket-fd is required")
    return serve(int(fd))


def cmd_update(g: Args, a: Args) -> int:
    from wharf.runtime.update import update

    update(g.get("root", DEFAULT_ROOT), _need_id(a, "update"), a.flags)
    return 0


HANDLERS: dict[str, Callable[[Args, Args], int]] = {
    "create": cmd_create,
    "run": cmd_run,
    "start": cmd_start,
    "state": cmd_state,
    "kill": cmd_kill,
    "delete": cmd_delete,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "ps": cmd_ps,
    "list": cmd_list,
    "spec": cmd_spec,
    "features": cmd_features,
    "exec": cmd_exec,
    "update": cmd_update,
    "spawner": cmd_spawner,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    trace.mark("runtime", "main", " ".join(a for a in argv if a in HANDLERS))
    try:
        gflags, rest = parse_flags(argv, GLOBAL_FLAGS, "global")
        log.configure(gflags.get("log"), gflags.get("log-format", "text"), bool(gflags.get("debug")))
        if gflags.get("version"):
            from wharf import __version__

            print(f"wharf-runtime version {__version__}\nspec: 1.1.0")
            return 0
        if gflags.get("log-format", "text") not in ("text", "json"):
            raise InvalidArgument(f"invalid log-format: {gflags['log-format']}")
        if gflags.get("systemd-cgroup"):
            raise InvalidArgument(
                "--systemd-cgroup is not supported: wharf-runtime manages cgroups through cgroupfs"
            )
        if not rest or gflags.get("help"):
            sys.stdout.write(USAGE)
            return 0 if gflags.get("help") else 1
        cmd = rest[0]
        if cmd not in HANDLERS:
            raise InvalidArgument(f"no such command: {cmd}")
        cflags, pos = parse_flags(rest[1:], COMMANDS[cmd], cmd)
        if cflags.get("help"):
            sys.stdout.write(f"usage: wharf-runtime {cmd} [options] <container-id>\n")
            return 0
        return HANDLERS[cmd](Args(gflags, rest), Args(cflags, pos))
    except WharfError as exc:
        log.error(str(exc))
        sys.stderr.write(f"wharf-runtime: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130


def exit_now(code: int) -> None:
    """End the process with ``code`` once what stdout and stderr buffer is written, without the
    interpreter's teardown (freeing every module and object: ~2 ms of a `create`, for a process
    that holds nothing else to flush: the runtime's log lines are written unbuffered)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run() -> None:
    """The console script's and the launcher's entry point."""
    exit_now(main())


if __name__ == "__main__":
    run()
