"""Docker's hijacked connections (attach, exec start): after the HTTP response head, the socket
carries raw bytes both ways.

The client asks with ``Connection: Upgrade`` / ``Upgrade: tcp``; we answer ``101 UPGRADED`` and
take the transport over from aiohttp: its protocol is replaced by ``RawProtocol``, so that a
client's half-close (``CloseWrite``: end of stdin) does not close the connection while output
still flows back. Clients that do not ask for the upgrade get ``200 OK`` and the same stream.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from wharf.api.server import API_VERSION

RAW = "application/vnd.docker.raw-stream"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"


class RawProtocol(asyncio.Protocol):
    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.reader = asyncio.StreamReader()
        self.closed = asyncio.get_running_loop().create_future()
        self._paused = False
        self._drain: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        self.reader.feed_data(data)

    def eof_received(self) -> bool:
        self.reader.feed_eof()
        return True  # keep the write side open: output still goes to the client

    def connection_lost(self, exc: Exception | None) -> None:
        self.reader.feed_eof()
        if not self.closed.done():
            self.closed.set_result(None)
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    async def write(self, data: bytes) -> bool:
        """False once the client has gone."""
        if self.transport.is_closing():
            return False
        self.transport.write(data)
        if self._paused:
            self._drain = asyncio.get_running_loop().create_future()
            await self._drain
        return not self.transport.is_closing()

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


async def hijack(request: web.Request, content_type: str) -> RawProtocol:
    transport = request.transport
    assert transport is not None
    upgrade = "upgrade" in request.headers.get("Connection", "").lower()
    if upgrade:
        head = (
            "HTTP/1.1 101 UPGRADED\r\n"
            f"Content-Type: {content_type}\r\n"
            "Connection: Upgrade\r\n"
            "Upgrade: tcp\r\n"
            f"Api-Version: {API_VERSION}\r\n"
            "\r\n"
        )
    else:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
    # bytes the client sent after the request head went to aiohttp's parser: take them back
    tail = _take_tail(request)
    proto = RawProtocol(transport)
    transport.set_protocol(proto)
    if tail:
        proto.data_received(tail)
    transport.write(head.encode())
    return proto


def _take_tail(request: web.Request) -> bytes:
    handler: Any = request.protocol
    tail: bytes = getattr(handler, "_message_tail", b"") or b""
    if tail:
        handler._message_tail = b""
    payload = request.content
    buffered = b""
    while not payload.at_eof() and payload._buffer:
        buffered += payload.read_nowait(-1)
    return buffered + tail


class Hijacked(web.StreamResponse):
    """Returned by a handler that took the connection over: aiohttp must write nothing more."""

    def __init__(self) -> None:
        super().__init__(status=101)

    async def prepare(self, request: web.BaseRequest) -> Any:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None
