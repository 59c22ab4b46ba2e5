"""What waits on containers: one lock per container (every change of a container holds it, so
a stop and a start of one container never interleave), the futures of ``wait`` (next exit,
removal), and the attach clients that join between a start's create and its process release."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

PreStart = tuple[Callable[[], Awaitable[None]], Callable[[], None]]


class Waiters:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._exit: dict[str, list[asyncio.Future[None]]] = {}
        self._removed: dict[str, list[asyncio.Future[None]]] = {}
        self._pre_start: dict[str, list[PreStart]] = {}

    def lock(self, cid: str) -> asyncio.Lock:
        lk = self._locks.get(cid)
        if lk is None:
            lk = self._locks[cid] = asyncio.Lock()
        return lk

    def exit_future(self, cid: str) -> asyncio.Future[None]:
        """Resolves at the container's next exit (or failed start, or removal)."""
        return _add(self._exit, cid)

    def removed_future(self, cid: str) -> asyncio.Future[None]:
        return _add(self._removed, cid)

    def wake_exit(self, cid: str) -> None:
        _wake(self._exit, cid)

    def removed(self, cid: str) -> None:
        """The container is gone: everything waiting on it is released, its lock forgotten."""
        _wake(self._exit, cid)
        _wake(self._removed, cid)
        self._locks.pop(cid, None)

    def add_pre_start(self, cid: str, cb: Callable[[], Awaitable[None]], failed: Callable[[], None]) -> None:
        """Run ``cb`` once the next start has created the container, before its process runs
        (attach clients connect there, so they miss no output); ``failed`` if that start fails."""
        self._pre_start.setdefault(cid, []).append((cb, failed))

    def take_pre_start(self, cid: str) -> list[PreStart]:
        return self._pre_start.pop(cid, [])


def _add(table: dict[str, list[asyncio.Future[None]]], cid: str) -> asyncio.Future[None]:
    fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    table.setdefault(cid, []).append(fut)
    return fut


def _wake(table: dict[str, list[asyncio.Future[None]]], cid: str) -> None:
    for fut in table.pop(cid, []):
        if not fut.done():
            fut.set_result(None)
