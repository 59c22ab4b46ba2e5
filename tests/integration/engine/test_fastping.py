"""Pings that open a connection are answered before aiohttp (api/fastping.py): the same bytes as
the route's, in order, and the connection is aiohttp's as soon as it says anything else."""

from __future__ import annotations

import socket

import pytest
from tests.daemon import Daemon

pytestmark = pytest.mark.root

PING = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"


def _connect(d: Daemon) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(d.sock)
    return s


def _answers(s: socket.socket, n: int) -> list[bytes]:
    """``n`` whole responses (Content-Length bodies; a HEAD's has none)."""
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            data = s.recv(65536)
            assert data, f"closed after {len(out)} answers"
            buf += data
        head, buf = buf.split(b"\r\n\r\n", 1)
        length = next(
            (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")),
            0,
        )
        while len(buf) < length:
            buf += s.recv(65536)
        out.append(head + b"\r\n\r\n" + buf[:length])
        buf = buf[length:]
    return out


def _no_date(answer: bytes) -> bytes:
    return b"\r\n".join(h for h in answer.split(b"\r\n") if not h.startswith(b"Date: "))


def test_pings_then_other_requests_on_one_connection(wharfd: Daemon) -> None:
    with _connect(wharfd) as s:
        # pipelined pings, answered before aiohttp, in order
        s.sendall(PING + b"HEAD /v1.41/_ping HTTP/1.1\r\nHost: x\r\n\r\n" + PING)
        fast = _answers(s, 3)
        # anything else: aiohttp's from now on, pings included (the same bytes, Date aside)
        s.sendall(b"GET /v1.41/version HTTP/1.1\r\nHost: x\r\n\r\n")
        (version,) = _answers(s, 1)
        s.sendall(PING)
        (slow,) = _answers(s, 1)
    assert [a.split(b"\r\n")[0] for a in fast] == [b"HTTP/1.1 200 OK"] * 3
    assert fast[0].endswith(b"\r\n\r\nOK") and fast[2].endswith(b"\r\n\r\nOK")
    assert fast[1].endswith(b"\r\n\r\n")  # HEAD: no body
    assert b'"ApiVersion": "1.47"' in version
    assert _no_date(fast[0]) == _no_date(slow)


def test_what_the_fast_path_does_not_take_gets_aiohttps_answer(wharfd: Daemon) -> None:
    with _connect(wharfd) as s:
        s.sendall(b"GET /v1.12/_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        (old,) = _answers(s, 1)
    assert old.startswith(b"HTTP/1.1 400 ") and b"client version 1.12 is too old" in old
    with _connect(wharfd) as s:  # a ping in two pieces
        s.sendall(PING[:10])
        s.sendall(PING[10:])
        (split,) = _answers(s, 1)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        (last,) = _answers(s, 1)
        assert s.recv(1) == b""  # closed, as asked
    assert split.endswith(b"\r\n\r\nOK") and last.endswith(b"\r\n\r\nOK")
