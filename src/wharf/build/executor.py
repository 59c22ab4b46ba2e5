"""A Dockerfile's stages executed on the engine, step by step, as dockerd's classic builder does.

The plan (``plan.py``): only the stages the target needs run, each as its own task that starts
when the stages it uses are built; their output reaches the client in stage order.

Each step turns the stage's current image into the next one, unless the build cache
(``cache.py``) has the step's key, which is its parent's key and what the step does (for
COPY/ADD: the files' checksum): then the cached image is the step's result (`` ---> Using
cache``). Otherwise:

- a configuration instruction (``steps.py``) writes a new image config with no layer (its
  history entry ``empty_layer``);
- ``RUN`` (``running.py``) runs the step's command in a container of the current image with
  `run`'s security defaults, streams its output and commits its changes as one layer
  (``engine.commit.write_image``); a non-zero exit ends the build with dockerd's ``The command
  '...' returned a non-zero code: N``;
- ``COPY``/``ADD`` (``copying.py``) unpack the selected sources into a never-started container
  of the current image and commit that.

A FROM whose image holds ONBUILD triggers runs them first (``# Executing N build triggers``),
and the new image keeps none. Every container the build made is removed as the step ends,
failed or not. A step's image is named ``wharf-build@<manifest digest>``: found by ID and by
the cache, listed by ``images -a`` only, removed by ``builder prune``.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wharf.build import cache, plan, steps
from wharf.build import instructions as ins
from wharf.build.parser import parse
from wharf.build.steps import BuildFailed, StageState
from wharf.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from wharf.engine.engine import Engine

Emit = Callable[[dict[str, Any]], None]
_POSITION: contextvars.ContextVar[int] = contextvars.ContextVar("build_stage_position", default=0)
_INDEX: contextvars.ContextVar[int] = contextvars.ContextVar("build_stage_index", default=0)


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
    no_cache: bool = False
    pull: bool = False
    cache_from: list[str] | None = None  # None: the local cache; a list: only these images'
    work_dir: str = ""  # the build's scratch directory (default: the context's parent)


@dataclass
class _Stage:
    """A stage as the build runs it: its place in the output and its chain of cache keys."""

    index: int
    stage: ins.Stage
    position: int
    first_step: int
    key: str = ""


class Builder:
    """One build: its options, the stream it reports on, the images of its finished stages."""

    def __init__(self, engine: Engine, opts: BuildOptions, emit: Emit) -> None:
        self.engine, self.opts, self._emit = engine, opts, emit
        self._stages: list[ins.Stage] = []
        self._index: dict[str, int] = {}  # stage name → its index
        self._done: dict[int, asyncio.Future[str]] = {}  # stage index → its image ID
        self._out = plan.Ordered(self._say_now, 1)
        self._sources: list[dict[str, Any]] | None = None  # --cache-from images' configs
        self._total = 0

    @property
    def work_dir(self) -> str:
        """The build's own directory (the context is ``context/`` in it): scratch files go here,
        and are removed with it when the build ends."""
        import os

        return self.opts.work_dir or os.path.dirname(self.opts.context_dir)

    async def stage_image(self, ref: str) -> str:
        """The image ID ``COPY --from=ref`` / ``RUN --mount=from=ref`` names: an earlier stage
        (by name or index; waits until it is built) or an image of the store."""
        from wharf.engine.runner import blocking

        current = _INDEX.get()
        later = self._index.get(ref.lower(), int(ref) if ref.isdigit() else -1)
        if later >= current:
            name = self._stages[current].name or str(current)
            raise BuildFailed(
                f'cannot copy from stage "{ref}", it needs to be defined before current stage "{name}"'
            )
        j = plan.stage_index(ref, self._index, current)
        if j is not None:
            if j not in self._done:
                raise BuildFailed(f"stage {ref} is not part of this build's plan")
            return await asyncio.shield(self._done[j])
        try:
            return (await blocking(self.engine.images.resolve, ref)).id
        except NotFound:
            raise BuildFailed(f"failed to resolve source image {ref}: no such image or stage") from None

    def say(self, text: str) -> None:
        if not self.opts.quiet:
            self._out.say(_POSITION.get(), text)

    def _say_now(self, text: str) -> None:
        self._emit({"stream": text})

    async def build(self) -> str:
        """Run the build; returns the final image's ID (tags set by the caller)."""
        df = parse(self.opts.dockerfile)
        parsed = ins.parse_file(df)
        self._stages = parsed.stages
        self._index = {s.name: i for i, s in enumerate(parsed.stages) if s.name}
        # the ARGs before the first FROM: they expand FROM, and a stage sees one by declaring it
        meta = StageState(config={}, escape=df.escape, build_args=self.opts.build_args)
        for a in parsed.meta_args:
            steps.apply(meta, a)
        order = plan.needed(parsed.stages, self.opts.target, meta.expand)
        runs, first = [], 1
        for position, i in enumerate(order):
            runs.append(_Stage(i, parsed.stages[i], position, first))
            first += 1 + len(parsed.stages[i].commands)
        self._total = first - 1
        self._out = plan.Ordered(self._say_now, len(runs))
        await self._load_cache_sources()
        loop = asyncio.get_running_loop()
        self._done = {r.index: loop.create_future() for r in runs}
        tasks = [asyncio.ensure_future(self._run_stage(r, meta, df.escape)) for r in runs]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                if not t.done() and not t.cancelling():  # cancelled once only: its clean-up runs
                    t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for f in self._done.values():
                if f.done() and not f.cancelled():
                    f.exception()  # retrieved: a failed stage's error is raised once, by gather
        return self._done[runs[-1].index].result()

    async def _run_stage(self, run: _Stage, meta: StageState, escape: str) -> None:
        _POSITION.set(run.position)
        _INDEX.set(run.index)
        done = self._done[run.index]
        try:
            image_id = await self._stage_steps(run, meta, escape, run.position == len(self._done) - 1)
        except BaseException as exc:
            self._out.flush(run.position)
            if not done.done():
                done.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            raise
        done.set_result(image_id)
        self._out.finished(run.position)

    async def _stage_steps(self, run: _Stage, meta: StageState, escape: str, last: bool) -> str:
        number = run.first_step
        self.say(f"Step {number}/{self._total} : {run.stage.original}\n")
        st, image_id = await self._from(run, meta, escape)
        image_id = await self._triggers(run, st, image_id, escape)
        for cmd in run.stage.commands:
            number += 1
            self.say(f"Step {number}/{self._total} : {cmd.original}\n")
            image_id = await self._step(run, st, cmd, image_id)
            self.say(f" ---> {_short(image_id)}\n")
        if self.opts.labels and last:
            image_id = await self._labels(run, st, image_id)
        return image_id

    async def _from(self, run: _Stage, meta: StageState, escape: str) -> tuple[StageState, str]:
        from wharf.engine.runner import blocking

        base = meta.expand(run.stage.base)
        st = StageState(config={}, escape=escape, build_args=self.opts.build_args, meta=meta.arg_values())
        if base == "scratch" and "scratch" not in self._index:
            st.config = _scratch_config()
            run.key = cache.step_key("", ["FROM", "scratch"])
            self.say(" ---> \n")
            return st, ""
        if plan.stage_index(base, self._index, run.index) is not None:
            image_id = await self.stage_image(base)
        else:
            image_id = await self._base_image(base)
        record = await blocking(self.engine.images.resolve, image_id)
        st.config = _own(await blocking(self.engine.images.config, record))
        run.key = cache.step_key("", ["FROM", record.id])
        self.say(f" ---> {_short(record.id)}\n")
        return st, record.id

    async def _base_image(self, name: str) -> str:
        """A FROM's image: the store's, pulled when it is missing (or always with ``--pull``)."""
        from wharf.engine.runner import blocking

        images = self.engine.images
        if not self.opts.pull:
            try:
                return (await blocking(images.resolve, name)).id
            except NotFound:
                pass
        from wharf.distribution import pull_image
        from wharf.errors import WharfError

        loop = asyncio.get_running_loop()
        position = _POSITION.get()

        def shown(msg: dict[str, Any]) -> None:  # a worker thread's progress, to the stream
            text = " ".join(str(msg[k]) for k in ("id", "status") if msg.get(k))
            if text and "progress" not in msg:
                loop.call_soon_threadsafe(self._out.say, position, text + "\n")

        try:
            record = await blocking(pull_image, images, name, shown, None, self.engine.cfg)
        except WharfError as exc:
            raise BuildFailed(str(exc)) from None
        self.engine.events.emit("image", "pull", name, {"name": name})
        return record.id

    async def _triggers(self, run: _Stage, st: StageState, image_id: str, escape: str) -> str:
        """The base image's ONBUILD instructions, run as this stage's first steps."""
        triggers = list(st.section.get("OnBuild") or [])
        if not triggers:
            return image_id
        self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
        st.section["OnBuild"] = None
        escape_line = f"# escape={escape}\n" if escape != "\\" else ""
        for text in triggers:
            try:
                parsed = ins.parse_file(parse(f"{escape_line}FROM scratch\n{text}\n"))
            except InvalidArgument as exc:
                raise BuildFailed(f"failed to process ONBUILD trigger {text}: {exc}") from None
            for cmd in parsed.stages[0].commands:
                if isinstance(cmd, (ins.From, ins.Onbuild, ins.Maintainer)):
                    raise BuildFailed(f"{type(cmd).__name__.upper()} isn't allowed as an ONBUILD trigger")
                image_id = await self._step(run, st, cmd, image_id)
        return image_id

    async def _step(self, run: _Stage, st: StageState, cmd: ins.Command, image_id: str) -> str:
        args = sorted(st.arg_values().items()) if not isinstance(cmd, ins.Arg) else []
        if type(cmd) in steps.HANDLERS:
            text = steps.apply(st, cmd)
            return await self._config_step(
                run, st, image_id, text, ["config", text, repr(args)], cmd.original
            )
        if isinstance(cmd, ins.Run):
            from wharf.build import running

            parts = ["RUN", *running.cache_key_parts(st, cmd), repr(args)]
            if any(m.type in ("bind", "cache") for m in cmd.mounts) or cmd.mount_specs:
                from wharf.build.mounts import source_key_parts

                parts += await source_key_parts(self, st, cmd)
            key = cache.step_key(run.key, parts)
            hit = await self._cached(run, st, key)
            if hit:
                return hit
            new = await running.run_step(self, st, cmd, image_id)
            return await self._remember(run, key, new, cmd.original)
        if isinstance(cmd, (ins.Copy, ins.Add)):
            from wharf.build import copying

            async with copying.prepared(self, st, cmd) as prep:
                key = cache.step_key(run.key, [type(cmd).__name__, cmd.original, prep.checksum, repr(args)])
                hit = await self._cached(run, st, key)
                if hit:
                    return hit
                new = await copying.apply(self, st, cmd, prep, image_id)
            return await self._remember(run, key, new, cmd.original)
        raise InvalidArgument(f"{cmd.original.split()[0].upper()} is not supported by this builder yet")

    async def _config_step(
        self, run: _Stage, st: StageState, image_id: str, text: str, parts: list[str], description: str
    ) -> str:
        """A step that changes the config only (``text`` its history), from the cache or written."""
        key = cache.step_key(run.key, parts)
        hit = await self._cached(run, st, key)
        if hit:
            return hit
        new = await self.write(st, image_id, steps.history_entry(st, text), None)
        return await self._remember(run, key, new, description)

    async def _cached(self, run: _Stage, st: StageState, key: str) -> str:
        """The image cached under the step's ``key`` ("" on a miss); on a hit the stage's config
        becomes that image's and its key moves on."""
        from wharf.engine.runner import blocking

        if self.opts.no_cache:
            return ""
        images = self.engine.images
        image_id = await blocking(cache.lookup, images, key)
        if image_id is None:
            return ""
        config = await blocking(images.config, await blocking(images.resolve, image_id))
        if self._sources is not None and not any(_prefix_of(config, c) for c in self._sources):
            return ""
        st.config = _own(config)
        run.key = key
        self.say(" ---> Using cache\n")
        return image_id

    async def _remember(self, run: _Stage, key: str, image_id: str, text: str) -> str:
        from wharf.engine.runner import blocking

        await blocking(cache.record, self.engine.images, key, run.key, image_id, text)
        run.key = key
        return image_id

    async def _load_cache_sources(self) -> None:
        """``--cache-from``: the configs of the images named that exist (none: no cache hit)."""
        from wharf.engine.runner import blocking

        if self.opts.cache_from is None:
            return
        images = self.engine.images
        self._sources = []
        for name in self.opts.cache_from:
            try:
                self._sources.append(await blocking(images.config, await blocking(images.resolve, name)))
            except (NotFound, InvalidArgument):
                continue

    async def _labels(self, run: _Stage, st: StageState, image_id: str) -> str:
        labels = dict(st.section.get("Labels") or {})
        labels.update(self.opts.labels)
        st.section["Labels"] = labels
        text = "LABEL " + " ".join(f"{k}={v}" for k, v in sorted(self.opts.labels.items()))
        return await self._config_step(run, st, image_id, text, ["config", text], text)

    async def write(
        self, st: StageState, parent: str, history: dict[str, Any], upper: str | None, adopt: str = ""
    ) -> str:
        """The stage's next image: its config with ``history`` appended (and ``upper``'s layer,
        whose DiffID ``write_image`` adds to the config's rootfs), named as a build step; the
        stage's config is then that image's. ``adopt``: the snapshot ``upper`` belongs to (a
        container that never ran), taken as the layer's snapshot."""
        from wharf.engine.commit import write_image
        from wharf.engine.runner import blocking
        from wharf.images.ops import PARENT_LABEL
        from wharf.images.store import BUILD_PREFIX

        images = self.engine.images
        record = await blocking(images.resolve, parent) if parent else None
        config = dict(st.config)
        config["created"] = history["created"]
        config["history"] = [*(config.get("history") or []), history]
        config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
        labels = {PARENT_LABEL: parent} if parent else None
        new_id: str = await blocking(
            write_image, images, record, config, upper, "", labels, BUILD_PREFIX, adopt
        )
        st.config = config
        return new_id


def _own(config: dict[str, Any]) -> dict[str, Any]:
    """An image's config as a stage continues it (dockerd's container fields dropped)."""
    return {k: v for k, v in config.items() if k not in ("container", "container_config")}


def _prefix_of(config: dict[str, Any], source: dict[str, Any]) -> bool:
    """Whether the image of ``config`` is ``source`` or one of the steps that made it."""
    history, theirs = config.get("history") or [], source.get("history") or []
    layers = (config.get("rootfs") or {}).get("diff_ids") or []
    their_layers = (source.get("rootfs") or {}).get("diff_ids") or []
    return theirs[: len(history)] == history and their_layers[: len(layers)] == layers


def _scratch_config() -> dict[str, Any]:
    import platform

    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {"architecture": arch, "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]
