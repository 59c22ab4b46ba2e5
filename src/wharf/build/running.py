"""``RUN``: the step's command in a container of the stage's image, its changes committed.

The container is an ordinary one of the engine (`run`'s security defaults: capabilities,
seccomp, masked paths, its own cgroup), created with the stage's config and the step's command:
the SHELL plus the command string for the shell form, the argv for the exec form, no
entrypoint. The build arguments in scope are in its environment, not in the image's. Its
output is streamed to the client as it is logged; the step's exit code decides; the container
is removed whatever happened.

Heredocs are BuildKit's (its dispatchRun): a RUN that is one heredoc (``RUN <<EOF``) runs the
body as the shell's command string, or, when the body starts with ``#!``, as a script file
(``/dev/pipes/<name>``, mounted read-only, mode 0755) the shell runs; any other RUN with
heredocs (``RUN python3 <<EOF``, ``RUN <<EOF bash``, several) gives the shell the line and each
body with its terminator, so the shell reads them as its own heredocs (``<<-`` tabs and quoted
names then mean what they mean to the shell). ``--network`` is the container's network mode
(``default``: the build's), ``--mount`` its mounts (``mounts.py``): none of it is committed.
"""

from __future__ import annotations

import asyncio
import posixpath
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wharf.build import instructions as ins
from wharf.build import mounts
from wharf.build.parser import chomp_heredoc, parse_heredoc
from wharf.build.shell import ShellError, go_quote
from wharf.build.steps import BuildFailed, StageState

if TYPE_CHECKING:
    from wharf.build.executor import Builder

PIPES = "/dev/pipes"  # where BuildKit mounts a #! heredoc run as a file


@dataclass
class Command:
    """The argv a RUN runs, and the script file it needs (a ``#!`` heredoc's name and body)."""

    argv: list[str]
    script: tuple[str, str] | None = None


def _one_heredoc(word: str) -> bool:
    """Whether the command line is a single heredoc word (BuildKit's MustParseHeredoc)."""
    try:
        return parse_heredoc(word) is not None
    except ShellError:
        return False


def plan_command(st: StageState, cmd: ins.Run) -> Command:
    """The argv of the step, heredocs applied as BuildKit applies them."""
    args, script = list(cmd.cmd), None
    if cmd.heredocs:
        if len(args) != 1 or not cmd.shell_form:
            raise BuildFailed(f"parsing produced an invalid run command: [{' '.join(args)}]")
        if _one_heredoc(args[0]):
            doc = cmd.heredocs[0]
            data = chomp_heredoc(doc.content) if doc.chomp else doc.content
            if data.startswith("#!"):
                script = (doc.name, data)
                args = [posixpath.join(PIPES, doc.name)]
            else:
                args = [data]
        else:
            args = [args[0] + "".join(f"\n{doc.content}{doc.name}" for doc in cmd.heredocs)]
    if cmd.shell_form:
        return Command([*st.shell(), " ".join(args)], script)
    return Command(args, script)


def command_of(st: StageState, cmd: ins.Run) -> list[str]:
    return plan_command(st, cmd).argv


def network_of(b: Builder, cmd: ins.Run) -> str:
    """The container's network mode: ``--network=none|host``, else the build's (bridge)."""
    if cmd.network in ("none", "host"):
        return cmd.network
    if cmd.network != "default":
        raise BuildFailed(f"unsupported network mode {go_quote(cmd.network)}")
    return b.opts.network_mode


def cache_key_parts(st: StageState, cmd: ins.Run) -> list[str]:
    """What makes the step what it is, for its cache key: the argv as run (heredoc bodies in
    it, or the ``#!`` script's), each mount normalised after expansion, the network mode."""
    c = plan_command(st, cmd)
    parts = list(c.argv)
    if c.script is not None:
        parts.append(f"script:{c.script[0]}\n{c.script[1]}")
    parts += [f"mount:{mounts.normalised(st, m)}" for m in mounts.expanded(st, cmd)]
    parts += [f"network={cmd.network}", f"security={cmd.security}"]
    return parts


def created_by(st: StageState, argv: list[str]) -> str:
    """The classic builder's history text: the command, after ``|N k=v ...`` when build
    arguments were in scope (they change what a RUN does, so they are part of the step)."""
    args = st.arg_values()
    text = " ".join(argv)
    if args:
        text = f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in sorted(args.items())) + " " + text
    return text


def _container_body(
    b: Builder, st: StageState, cmd: ins.Run, argv: list[str], image_id: str, planned: mounts.Planned
) -> dict[str, Any]:
    section = st.section
    env = list(section.get("Env") or [])
    known = {e.partition("=")[0] for e in env}
    env += [f"{k}={v}" for k, v in st.arg_values().items() if k not in known]
    host: dict[str, Any] = dict(b.opts.host_config)
    network = network_of(b, cmd)
    if network:
        host["NetworkMode"] = network
    if b.opts.extra_hosts:
        host["ExtraHosts"] = list(b.opts.extra_hosts)
    planned.host_config(host)
    return {
        "Image": image_id,
        "Cmd": argv,
        "Entrypoint": None,
        "Env": env,
        "User": section.get("User") or "",
        "WorkingDir": section.get("WorkingDir") or "",
        "Labels": {},
        "AttachStdout": True,
        "AttachStderr": True,
        "HostConfig": host,
    }


async def _script_mount(b: Builder, script: tuple[str, str], stack: AsyncExitStack) -> str:
    """A directory holding the ``#!`` heredoc as an executable file, removed with ``stack``."""
    import os

    from wharf.base import trees
    from wharf.engine.runner import blocking

    name, data = script
    if "/" in name or name in (".", ".."):
        raise BuildFailed(f"failed to create inline document {name}: not a file name")
    d = tempfile.mkdtemp(prefix="heredoc-", dir=b.work_dir)
    stack.callback(trees.remove_tree, d, ignore_errors=True)

    def write() -> None:
        os.chmod(d, 0o755)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(f"{d}/{name}", flags, 0o755)
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8", "surrogateescape"))
        os.chmod(f"{d}/{name}", 0o755)

    await blocking(write)
    return d


async def run_step(b: Builder, st: StageState, cmd: ins.Run, image_id: str) -> str:
    from wharf.engine.request import CreateRequest

    if not image_id:
        raise BuildFailed("RUN needs an image with a shell: the stage is FROM scratch with no files")
    command = plan_command(st, cmd)
    engine = b.engine
    async with AsyncExitStack() as stack:
        planned = await mounts.prepare(b, st, mounts.expanded(st, cmd), stack)
        if command.script is not None:
            planned.bind(PIPES, await _script_mount(b, command.script, stack), True)
        body = _container_body(b, st, cmd, command.argv, image_id, planned)
        cid, _ = await engine.create(CreateRequest.from_body(None, body))
        try:
            new_id = await _run_and_commit(b, st, cid, command.argv, image_id, planned)
        finally:
            await engine.remove(cid, force=True)
    b.say(f"Removing intermediate container {cid[:12]}\n")
    return new_id


async def _run_and_commit(
    b: Builder, st: StageState, cid: str, argv: list[str], image_id: str, planned: mounts.Planned
) -> str:
    from wharf.base.times import now_rfc3339
    from wharf.engine.runner import blocking

    engine = b.engine
    b.say(f" ---> Running in {cid[:12]}\n")
    exited = asyncio.ensure_future(engine.wait(cid, "next-exit"))
    try:
        await engine.start(cid)
        await _stream_output(b, cid, exited)
        status = (await exited)["StatusCode"]
    finally:
        exited.cancel()
    if status != 0:
        raise BuildFailed(f"The command '{' '.join(argv)}' returned a non-zero code: {status}", status)
    c = engine.get(cid)
    snapshots = engine.images.snapshots
    upper = snapshots.fs_dir(c.snapshot_key)
    if planned.targets and snapshots.overlay_whiteouts:
        lowers = snapshots.lower_dirs(c.snapshot_key)
        await blocking(mounts.remove_stubs, upper, lowers, planned.targets)
    history = {"created": now_rfc3339(), "created_by": created_by(st, argv)}
    return await b.write(st, image_id, history, upper)


async def _stream_output(b: Builder, cid: str, exited: asyncio.Future[Any]) -> None:
    from wharf.engine import logs

    path = b.engine.core.paths.log_path(cid)
    async for stream, _time, data in logs.read(
        path, streams={"stdout", "stderr"}, follow=True, stopped=exited.done
    ):
        text = data.decode(errors="replace")
        b.say(f"\x1b[91m{text}\x1b[0m" if stream == "stderr" else text)  # dockerd's red stderr
