"""``/_ping`` answered before aiohttp, for the requests that open a connection.

Every docker CLI command and most SDK calls start with a ping on a fresh connection, and load
balancers and health checks send nothing else. Through aiohttp a ping costs its whole request
machinery (parser, request and response objects, router, middleware, a task): about 90 µs of
this 2-core VM's CPU, ~11,000 pings/s on the daemon's one thread, where a protocol that only
writes the answer reaches ~30,000 (docs/performance.md, "The API edge").

``PingFirst`` is the unix socket's protocol. As long as everything a connection has sent is
whole ping requests (``GET``/``HEAD /_ping`` or ``/v1.NN/_ping`` for a version served, HTTP/1.1,
no body, no ``Connection``, ``Expect`` or ``Upgrade`` header), it writes the answer itself: the
same bytes the route (``api/routes/system.py`` ``ping``) and the middleware give, the Date header
made once a second. The first bytes that are anything else (another request, a ping split
across reads, a header it does not handle) hand the connection to aiohttp's protocol for good,
those bytes first: from then on it is aiohttp's connection, as if it had been from the start.
Answers are in request order either way: pings are answered as they arrive, and nothing is
answered here once aiohttp holds the connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

from wharf.base import trace

_REFUSED = (b"content-length:", b"transfer-encoding:", b"connection:", b"expect:", b"upgrade:")


def targets(min_version: str, max_version: str) -> frozenset[bytes]:
    """/_ping and /v1.NN/_ping for every version served (the others are aiohttp's to refuse)."""
    lo, hi = (int(v.split(".")[1]) for v in (min_version, max_version))
    return frozenset([b"/_ping", *(f"/v1.{n}/_ping".encode() for n in range(lo, hi + 1))])


class Answers:
    """The bytes of a ping's answer, as the route writes them."""

    def __init__(self, headers: dict[str, str], server: str, served: frozenset[bytes]) -> None:
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = (
            f"HTTP/1.1 200 OK\r\n{lines}Content-Type: text/plain; charset=utf-8\r\nServer: {server}\r\n"
        ).encode()
        self.served = served
        self._second = -1
        self._get = self._head = b""

    def _fresh(self) -> None:
        now = int(time.time())
        if now != self._second:
            date = f"Date: {formatdate(now, usegmt=True)}\r\n\r\n".encode()
            self._get = self.head + b"Content-Length: 2\r\n" + date + b"OK"
            self._head = self.head + date
            self._second = now

    def of(self, data: bytes) -> bytes | None:
        """The answers to ``data`` if it is nothing but whole pings this path serves, else None."""
        if not data.endswith(b"\r\n\r\n"):
            return None
        out = []
        self._fresh()
        for request in data[:-4].split(b"\r\n\r\n"):
            line, _, headers = request.partition(b"\r\n")
            method, _, rest = line.partition(b" ")
            target, _, proto = rest.partition(b" ")
            if proto != b"HTTP/1.1" or target not in self.served or method not in (b"GET", b"HEAD"):
                return None
            low = headers.lower()
            if any(h in low for h in _REFUSED):
                return None
            out.append(self._get if method == b"GET" else self._head)
        return b"".join(out)


class PingFirst(asyncio.Protocol):
    """Pings answered here until the connection says anything else; then aiohttp's protocol
    (made by ``factory``, aiohttp's ``Server``) gets the connection and everything after."""

    __slots__ = ("_answers", "_factory", "_inner", "_transport")

    def __init__(self, factory: Callable[[], Any], answers: Answers) -> None:
        self._factory = factory
        self._answers = answers
        self._inner: Any = None
        self._transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            answer = self._answers.of(data)
            if answer is not None:
                if trace.enabled():
                    trace.mark("wharfd", "ping answered", f"{data.count(b'/_ping ')}")
                self._transport.write(answer)
                return
            self._inner = self._factory()
            self._inner.connection_made(self._transport)
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()
        else:  # a client that sends pings and reads no answer: stop reading it
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()
        else:
            self._transport.resume_reading()
