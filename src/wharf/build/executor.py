"""A Dockerfile's stages executed on the engine, step by step, as dockerd's classic builder does.

Each step turns the stage's current image into the next one:

- a configuration instruction (``steps.py``) writes a new image config with no layer (its
  history entry ``empty_layer``);
- ``RUN`` creates a container of the current image whose command is the step's (the SHELL and
  the command string, or the exec form's argv; the build arguments in its environment only),
  starts it with `run`'s security defaults, streams its output, waits, and commits its
  changes as one layer (``engine.commit.write_image``); a non-zero exit ends the build with
  dockerd's ``The command '...' returned a non-zero code: N``;
- ``COPY``/``ADD`` create a container of the current image (never started), unpack the
  selected sources into its filesystem (``copying.py``) and commit that.

Every container the build made is removed as the step ends, failed or not (``rm``/
``forcerm``); intermediate images are kept dangling, as the classic builder keeps them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wharf.build import instructions as ins
from wharf.build import steps
from wharf.build.parser import parse
from wharf.build.steps import BuildFailed, StageState
from wharf.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from wharf.engine.engine import Engine

Emit = Callable[[dict[str, Any]], None]


@dataclass
class BuildOptions:
    dockerfile: str
    context_dir: str
    tags: list[tuple[str, str]] = field(default_factory=list)  # (as given, normalized)
    build_args: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    quiet: bool = False
    network_mode: str = ""
    extra_hosts: list[str] = field(default_factory=list)
    host_config: dict[str, Any] = field(default_factory=dict)  # memory, cpu*, shm size


class Builder:
    """One build: its options, the stream it reports on, the images of its finished stages."""

    def __init__(self, engine: Engine, opts: BuildOptions, emit: Emit) -> None:
        self.engine, self.opts, self._emit = engine, opts, emit
        self.stage_images: dict[str, str] = {}  # stage name or index → image ID

    @property
    def work_dir(self) -> str:
        """The build's own directory (the context is ``context/`` in it): scratch files go here,
        and are removed with it when the build ends."""
        import os

        return os.path.dirname(self.opts.context_dir)

    async def stage_image(self, ref: str) -> str:
        """The image ID ``COPY --from=ref`` / ``RUN --mount=from=ref`` names: an earlier stage
        (by name or index) or an image of the store."""
        from wharf.engine.runner import blocking

        built = self.stage_images.get(ref.lower())
        if built is not None:
            return built
        try:
            return (await blocking(self.engine.images.resolve, ref)).id
        except NotFound:
            raise BuildFailed(f"failed to resolve source image {ref}: no such image or stage") from None

    def say(self, text: str) -> None:
        if not self.opts.quiet:
            self._emit({"stream": text})

    async def build(self) -> str:
        """Run the build; returns the final image's ID (tags set by the caller)."""
        df = parse(self.opts.dockerfile)
        parsed = ins.parse_file(df)
        stages = _up_to_target(parsed.stages, self.opts.target)
        # the ARGs before the first FROM: they expand FROM, and a stage sees one by declaring it
        meta = StageState(config={}, escape=df.escape, build_args=self.opts.build_args)
        for a in parsed.meta_args:
            steps.apply(meta, a)
        total = sum(1 + len(s.commands) for s in stages)
        number, image_id = 0, ""
        for index, stage in enumerate(stages):
            number += 1
            self.say(f"Step {number}/{total} : {stage.original}\n")
            st, image_id = await self._from(stage, meta, df.escape)
            for cmd in stage.commands:
                number += 1
                self.say(f"Step {number}/{total} : {cmd.original}\n")
                image_id = await self._step(st, cmd, image_id)
                self.say(f" ---> {_short(image_id)}\n")
            if self.opts.labels and index == len(stages) - 1:
                image_id = await self._labels(st, image_id)
            self.stage_images[str(index)] = image_id
            if stage.name:
                self.stage_images[stage.name] = image_id
        return image_id

    async def _from(self, stage: ins.Stage, meta: StageState, escape: str) -> tuple[StageState, str]:
        from wharf.engine.runner import blocking

        images = self.engine.images
        base = meta.expand(stage.base)
        st = StageState(config={}, escape=escape, build_args=self.opts.build_args, meta=meta.arg_values())
        if base == "scratch" and base not in self.stage_images:
            st.config = _scratch_config()
            self.say(" ---> \n")
            return st, ""
        try:
            record = await blocking(images.resolve, self.stage_images.get(base.lower(), base))
        except NotFound:
            raise BuildFailed(
                f"pull access denied for {base}, repository does not exist or may require "
                "'docker login': the image is not in wharf's store and this builder does not pull"
            ) from None
        config = await blocking(images.config, record)
        st.config = {k: v for k, v in config.items() if k not in ("container", "container_config")}
        self.say(f" ---> {_short(record.id)}\n")
        return st, record.id

    async def _step(self, st: StageState, cmd: ins.Command, image_id: str) -> str:
        if type(cmd) in steps.HANDLERS:
            return await self.write(st, image_id, steps.history_entry(st, steps.apply(st, cmd)), None)
        if isinstance(cmd, ins.Run):
            from wharf.build.running import run_step

            return await run_step(self, st, cmd, image_id)
        if isinstance(cmd, (ins.Copy, ins.Add)):
            from wharf.build.copying import copy_step

            return await copy_step(self, st, cmd, image_id)
        raise InvalidArgument(f"{cmd.original.split()[0].upper()} is not supported by this builder yet")

    async def _labels(self, st: StageState, image_id: str) -> str:
        labels = dict(st.section.get("Labels") or {})
        labels.update(self.opts.labels)
        st.section["Labels"] = labels
        text = "LABEL " + " ".join(f"{k}={v}" for k, v in sorted(self.opts.labels.items()))
        return await self.write(st, image_id, steps.history_entry(st, text), None)

    async def write(self, st: StageState, parent: str, history: dict[str, Any], upper: str | None) -> str:
        """The stage's next image: its config with ``history`` appended (and ``upper``'s layer,
        whose DiffID ``write_image`` adds to the config's rootfs); the stage's config is then
        that image's."""
        from wharf.engine.commit import write_image
        from wharf.engine.runner import blocking

        images = self.engine.images
        record = await blocking(images.resolve, parent) if parent else None
        config = dict(st.config)
        config["created"] = history["created"]
        config["history"] = [*(config.get("history") or []), history]
        config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        new_id: str = await blocking(write_image, images, record, config, upper)
        st.config = config
        return new_id


def _up_to_target(stages: list[ins.Stage], target: str) -> list[ins.Stage]:
    if not target:
        return stages
    for i, s in enumerate(stages):
        if s.name == target.lower():
            return stages[: i + 1]
    raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")


def _scratch_config() -> dict[str, Any]:
    import platform

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {"architecture": arch, "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]
