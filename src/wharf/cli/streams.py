"""Moving bytes between the terminal and a hijacked connection: stdcopy demultiplexing, raw
mode for ``-t``, stdin forwarding, SIGWINCH → resize, signals forwarded to the container; and
``attached``, the session run, start -a, attach and exec hold over such a connection."""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from wharf.client import APIError, Client, Hijacked


def demux(
    recv: Callable[[int], bytes], multiplexed: bool, want_out: bool = True, want_err: bool = True
) -> None:
    """Copy the container's output (a socket's recv, or an HTTP body's read1) to our stdout and
    stderr until the stream ends; multiplexed streams carry Docker's 8-byte stdcopy headers."""
    out = sys.stdout.buffer
    err = sys.stderr.buffer
    buf = b""
    while True:
        try:
            chunk = recv(65536)
        except (OSError, ValueError):
            return
        if not chunk:
            return
        if not multiplexed:
            out.write(chunk)
            out.flush()
            continue
        buf += chunk
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + size:
                break
            kind, payload, buf = buf[0], buf[8 : 8 + size], buf[8 + size :]
            target = err if kind == 2 else out
            if (kind == 2 and want_err) or (kind != 2 and want_out):
                target.write(payload)
                target.flush()


def pump_stdin(sock: Hijacked, stop: threading.Event) -> None:
    """Forward our stdin to the connection; half-close it at EOF (the container sees EOF)."""
    fd = sys.stdin.fileno()
    while not stop.is_set():
        try:
            r, _, _ = select.select([fd], [], [], 0.2)
        except (OSError, ValueError):
            return
        if not r:
            continue
        try:
            data = os.read(fd, 32768)
        except OSError:
            data = b""
        if not data:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return
        try:
            sock.sendall(data)
        except OSError:
            return


class RawTerminal:
    """Put the terminal in raw mode for the duration (as `docker run -t` does)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> RawTerminal:
        import termios
        import tty

        if os.isatty(self.fd):
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd)
        return self

    def __exit__(self, *exc: object) -> None:
        import termios

        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def terminal_size() -> tuple[int, int]:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
        return size.lines, size.columns
    except OSError:
        return 0, 0


def on_resize(resize: Callable[[int, int], None]) -> None:
    def handler(signum: int, frame: object) -> None:
        h, w = terminal_size()
        if h and w:
            try:
                resize(h, w)
            except Exception:
                pass

    signal.signal(signal.SIGWINCH, handler)


class SigProxy:
    """Forward SIGINT/SIGTERM etc. to the container (docker run/attach --sig-proxy)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)

    def __init__(self, client: Client, cid: str) -> None:
        self.client = client
        self.cid = cid

    def __enter__(self) -> SigProxy:
        for s in self.SIGNALS:
            signal.signal(s, self._forward)
        return self

    def _forward(self, signum: int, frame: object) -> None:
        def send() -> None:
            try:
                self.client.call("POST", f"/containers/{self.cid}/kill", {"signal": str(signum)})
            except Exception:
                pass

        threading.Thread(target=send, daemon=True).start()

    def __exit__(self, *exc: object) -> None:
        for s in self.SIGNALS:
            signal.signal(s, signal.SIG_DFL)


def attached(
    client: Client,
    cid: str,
    sock: Any,
    multiplexed: bool,
    stdin: bool,
    tty: bool,
    proxy: bool,
    resize_path: str,
) -> None:
    """Pump the hijacked connection until the container's output ends."""
    stop = threading.Event()
    raw_ctx = RawTerminal(sys.stdin.fileno()) if (tty and stdin and os.isatty(0)) else None
    if tty and os.isatty(1):

        def resize(h: int, w: int) -> None:
            client.call("POST", resize_path, {"h": h, "w": w})

        h, w = terminal_size()
        if h and w:
            try:
                resize(h, w)
            except APIError:
                pass
        on_resize(resize)
    if stdin:
        threading.Thread(target=pump_stdin, args=(sock, stop), daemon=True).start()
    try:
        if raw_ctx is not None:
            with raw_ctx:
                demux(sock.recv, multiplexed)
        elif proxy and not tty:
            with SigProxy(client, cid):
                demux(sock.recv, multiplexed)
        else:
            demux(sock.recv, multiplexed)
    finally:
        stop.set()
        sock.close()
