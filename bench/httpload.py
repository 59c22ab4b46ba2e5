"""Requests per second on a unix socket, from client processes that are not the limit.

One Python process of http.client threads tops out near 3,000 requests/s here (the GIL and
http.client's own work per request), below what either engine answers for /_ping: it measured
itself. This client splits the clients over processes (``processes``, each with its threads),
keeps every connection alive, and reads answers with a minimal HTTP/1.1 reader (Content-Length
or chunked bodies), about 30 µs of client CPU per request. On a 2-core machine the client and
the daemon still share the CPU: the figure is what the engine answers beside the client.
"""

from __future__ import annotations

import multiprocessing
import socket
import threading
import time


def _read_answer(s: socket.socket, buf: bytearray) -> None:
    """Read one whole response off ``s`` (what follows it stays in ``buf``)."""
    while (end := buf.find(b"\r\n\r\n")) < 0:
        _more(s, buf)
    head = bytes(buf[:end]).lower()
    del buf[: end + 4]
    if b"transfer-encoding: chunked" in head:
        while True:
            while (eol := buf.find(b"\r\n")) < 0:
                _more(s, buf)
            size = int(bytes(buf[:eol]).split(b";")[0], 16)
            while len(buf) < eol + 2 + size + 2:
                _more(s, buf)
            del buf[: eol + 2 + size + 2]
            if size == 0:
                return
    length = 0
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(buf) < length:
        _more(s, buf)
    del buf[:length]


def _more(s: socket.socket, buf: bytearray) -> None:
    data = s.recv(1 << 16)
    if not data:
        raise ConnectionError("the server closed the connection")
    buf += data


def _client(sock: str, request: bytes, span: tuple[float, float], counts: list[int], i: int) -> None:
    start, until = span
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    buf = bytearray()
    time.sleep(max(0.0, start - time.monotonic()))
    try:
        while time.monotonic() < until:
            s.sendall(request)
            _read_answer(s, buf)
            counts[i] += 1
    finally:
        s.close()


def _process(
    sock: str, request: bytes, threads: int, span: tuple[float, float], out: multiprocessing.Queue[int]
) -> None:
    counts = [0] * threads
    ts = [threading.Thread(target=_client, args=(sock, request, span, counts, i)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(sum(counts))


def rps(sock: str, path: str, clients: int, seconds: float = 3.0, processes: int = 2) -> float:
    """GET ``path`` from ``clients`` keep-alive connections for ``seconds``: answers per second."""
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[int] = ctx.Queue()
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    start = time.monotonic() + 0.3  # every client connected, then all go at once
    procs = min(processes, clients)
    per = [clients // procs + (1 if k < clients % procs else 0) for k in range(procs)]
    ps = [ctx.Process(target=_process, args=(sock, request, n, (start, start + seconds), out)) for n in per]
    for p in ps:
        p.start()
    total = sum(out.get() for _ in ps)
    for p in ps:
        p.join()
    return total / seconds
