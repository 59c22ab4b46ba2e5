"""Images' filesystems for the build steps: a container of the image that is never started.

``scratch_container`` is what COPY/ADD write into (their changes are the container's layer);
``image_fs`` lends a read-only-by-convention view of an image's files (``COPY --from``, ``RUN
--mount=type=bind,from=``) for the ``async with`` and removes its container afterwards.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wharf.archive.scoped import ScopedFS
    from wharf.engine.engine import Engine


async def scratch_container(engine: Engine, image_id: str) -> str:
    """A container of ``image_id`` that is never started: the step's changes land in its layer."""
    from wharf.engine.request import CreateRequest

    body: dict[str, Any] = {"Image": image_id, "Cmd": ["#(nop)"], "Entrypoint": None, "Labels": {}}
    cid, _ = await engine.create(CreateRequest.from_body(None, body))
    return cid


@asynccontextmanager
async def image_fs(engine: Engine, image_id: str) -> AsyncIterator[ScopedFS]:
    """The files of ``image_id`` (its rootfs mounted, no volumes) while the ``async with`` lasts."""
    cid = await scratch_container(engine, image_id)
    try:
        async with engine.container_fs(engine.get(cid), volumes=False) as fs:
            yield fs
    finally:
        await engine.remove(cid, force=True)
