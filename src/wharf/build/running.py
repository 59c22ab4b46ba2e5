"""``RUN``: the step's command in a container of the stage's image, its changes committed.

The container is an ordinary one of the engine (`run`'s security defaults: capabilities,
seccomp, masked paths, its own cgroup), created with the stage's config and the step's command:
the SHELL plus the command string for the shell form, the argv for the exec form, no
entrypoint. The build arguments in scope are in its environment, not in the image's. Its
output is streamed to the client as it is logged; the step's exit code decides; the container
is removed whatever happened.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from wharf.build import instructions as ins
from wharf.build.steps import StageState

if TYPE_CHECKING:
    from wharf.build.executor import Builder


def command_of(st: StageState, cmd: ins.Run) -> list[str]:
    return [*st.shell(), cmd.cmd[0]] if cmd.shell_form else list(cmd.cmd)


def created_by(st: StageState, argv: list[str]) -> str:
    """The classic builder's history text: the command, after ``|N k=v ...`` when build
    arguments were in scope (they change what a RUN does, so they are part of the step)."""
    args = st.arg_values()
    text = " ".join(argv)
    if args:
        text = f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in sorted(args.items())) + " " + text
    return text


def _container_body(b: Builder, st: StageState, argv: list[str], image_id: str) -> dict[str, Any]:
    section = st.section
    env = list(section.get("Env") or [])
    known = {e.partition("=")[0] for e in env}
    env += [f"{k}={v}" for k, v in st.arg_values().items() if k not in known]
    host: dict[str, Any] = dict(b.opts.host_config)
    if b.opts.network_mode:
        host["NetworkMode"] = b.opts.network_mode
    if b.opts.extra_hosts:
        host["ExtraHosts"] = list(b.opts.extra_hosts)
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


async def run_step(b: Builder, st: StageState, cmd: ins.Run, image_id: str) -> str:
    from wharf.base.times import now_rfc3339
    from wharf.build.steps import BuildFailed
    from wharf.engine.request import CreateRequest

    if not image_id:
        raise BuildFailed("RUN needs an image with a shell: the stage is FROM scratch with no files")
    argv = command_of(st, cmd)
    engine = b.engine
    cid, _ = await engine.create(CreateRequest.from_body(None, _container_body(b, st, argv, image_id)))
    try:
        b.say(f" ---> Running in {cid[:12]}\n")
        exited = asyncio.ensure_future(engine.wait(cid, "next-exit"))
        await engine.start(cid)
        await _stream_output(b, cid, exited)
        status = (await exited)["StatusCode"]
        if status != 0:
            raise BuildFailed(f"The command '{' '.join(argv)}' returned a non-zero code: {status}", status)
        c = engine.get(cid)
        history = {"created": now_rfc3339(), "created_by": created_by(st, argv)}
        upper = engine.images.snapshots.fs_dir(c.snapshot_key)
        new_id = await b.write(st, image_id, history, upper)
    finally:
        await engine.remove(cid, force=True)
    b.say(f"Removing intermediate container {cid[:12]}\n")
    return new_id


async def _stream_output(b: Builder, cid: str, exited: asyncio.Future[Any]) -> None:
    from wharf.engine import logs

    path = b.engine.core.paths.log_path(cid)
    async for stream, _time, data in logs.read(
        path, streams={"stdout", "stderr"}, follow=True, stopped=exited.done
    ):
        text = data.decode(errors="replace")
        b.say(f"\x1b[91m{text}\x1b[0m" if stream == "stderr" else text)  # dockerd's red stderr
