"""A small Engine API client over the daemon's unix socket (or tcp, with TLS when
``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH`` say so). Stdlib sockets only: the CLI's import path.

``http.client`` would cost the CLI ~15 ms of imports (it pulls in the email package) on every
command, so this speaks the small part of HTTP/1.1 the API needs: one request per connection,
bodies by Content-Length, chunked or until close. ``hijack`` speaks Docker's upgrade for
attach/exec and hands back the raw socket.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

DEFAULT_HOST = "unix:///run/wharf/wharf.sock"
API = "/v1.47"


class DaemonUnreachable(Exception):
    pass


class APIError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def host_from_env() -> str:
    return os.environ.get("WHARF_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def _quote(s: str) -> str:
    from urllib.parse import quote

    return quote(s, safe="")


def encode_query(query: dict[str, Any] | None) -> str:
    if not query:
        return ""
    parts = []
    for k, v in query.items():
        if v is None:
            continue
        if isinstance(v, dict):
            v = json.dumps(v)
        values = v if isinstance(v, list) else [v]
        for item in values:
            parts.append(f"{_quote(str(k))}={_quote(str(item))}")
    return ("?" + "&".join(parts)) if parts else ""


class Response:
    """An HTTP response read off the socket: status, headers, and the body through ``read1``
    (whatever is available, de-chunked) or ``read`` (all of it)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")
        line = self.file.readline(65537)
        if not line:
            raise APIError(500, "the daemon closed the connection")
        parts = line.decode("latin-1").split(None, 2)
        self.status = int(parts[1])
        self.headers: dict[str, str] = {}
        while True:
            h = self.file.readline(65537)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        cl = self.headers.get("content-length")
        self.left: int | None = int(cl) if cl is not None and not self.chunked else None
        self.chunk_left = 0
        self.done = self.status in (204, 304) or self.left == 0

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def read1(self, n: int = 65536) -> bytes:
        if self.done:
            return b""
        if self.chunked:
            if self.chunk_left == 0:
                size_line = self.file.readline(1024)
                if not size_line:
                    self.done = True
                    return b""
                self.chunk_left = int(size_line.split(b";")[0].strip() or b"0", 16)
                if self.chunk_left == 0:  # trailers, then the end
                    while self.file.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    self.done = True
                    return b""
            data = self.file.read1(min(n, self.chunk_left))
            if not data:
                self.done = True
                return b""
            self.chunk_left -= len(data)
            if self.chunk_left == 0:
                self.file.readline(16)  # the CRLF after the chunk
            return data
        want = n if self.left is None else min(n, self.left)
        data = self.file.read1(want)
        if not data:
            self.done = True
        elif self.left is not None:
            self.left -= len(data)
            self.done = self.left == 0
        return data

    def read(self) -> bytes:
        out = bytearray()
        while chunk := self.read1(1 << 20):
            out += chunk
        self.close()
        return bytes(out)

    def lines(self) -> Iterator[bytes]:
        buf = b""
        while chunk := self.read1():
            buf += chunk
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                yield line
        if buf:
            yield buf

    def close(self) -> None:
        try:
            self.file.close()
        finally:
            self.sock.close()


class Client:
    def __init__(self, host: str | None = None) -> None:
        self.host = host or host_from_env()

    def connect(self, timeout: float | None = None) -> socket.socket:
        try:
            if self.host.startswith("unix://"):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(timeout)
                s.connect(self.host[len("unix://") :])
                return s
            hostport = self.host.split("://", 1)[-1].rstrip("/")
            h, _, p = hostport.rpartition(":")
            tls = os.environ.get("DOCKER_TLS_VERIFY") or self.host.startswith("https://")
            s = socket.create_connection(
                (h.strip("[]") or "localhost", int(p or (2376 if tls else 2375))), timeout
            )
            if tls:
                s = _wrap_tls(s, h.strip("[]"))
            return s
        except (FileNotFoundError, ConnectionRefusedError, PermissionError, socket.gaierror) as exc:
            raise DaemonUnreachable(
                f"Cannot connect to the wharf daemon at {self.host}. Is the daemon running?"
                f" Start it with: wharfd & ({exc.strerror or exc})"
            ) from None

    def send(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        upgrade: bool = False,
    ) -> Response:
        url = API + path + encode_query(query)
        h = {"Host": "localhost", "User-Agent": "wharf-cli/0.1"}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h["Content-Length"] = str(len(data or b""))
        if upgrade:
            h["Connection"] = "Upgrade"
            h["Upgrade"] = "tcp"
        else:
            h["Connection"] = "close"
        h.update(headers or {})
        head = f"{method} {url} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
        sock = self.connect()
        try:
            sock.sendall(head.encode("latin-1") + (data or b""))
            return Response(sock)
        except BaseException:
            sock.close()
            raise

    def call(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Any:  # fmt: skip
        resp = self.send(method, path, query, body, headers, raw)
        data = resp.read()
        if resp.status >= 400:
            raise APIError(resp.status, message_of(data))
        if not data:
            return None
        if (resp.getheader("Content-Type") or "").startswith("application/json"):
            return json.loads(data)
        return data

    def stream(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None,
               headers: dict[str, str] | None = None, raw: bytes | None = None) -> Response:  # fmt: skip
        resp = self.send(method, path, query, body, headers, raw)
        if resp.status >= 400:
            raise APIError(resp.status, message_of(resp.read()))
        return resp

    def upload(
        self,
        path: str,
        query: dict[str, Any] | None,
        src: Any,
        content_type: str,
        method: str = "POST",
        sent: Callable[[int, bool], None] | None = None,
    ) -> Response:
        """Send a stream (a file or stdin, or an iterable of byte chunks) as a chunked body;
        returns the response. A daemon that answers before the body's end (an error: a bad
        archive) stops reading: its answer is what is returned, not the broken pipe.
        ``sent(total, done)`` hears the bytes sent so far."""
        url = API + path + encode_query(query)
        head = (
            f"{method} {url} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: wharf-cli/0.1\r\n"
            f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        chunks = iter(lambda: src.read(1 << 20), b"") if hasattr(src, "read") else src
        sock = self.connect()
        try:
            total = 0
            try:
                sock.sendall(head.encode("latin-1"))
                for chunk in chunks:
                    if not chunk:
                        continue
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    total += len(chunk)
                    if sent is not None:
                        sent(total, False)
                sock.sendall(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the daemon stopped reading: its answer says why
            if sent is not None:
                sent(total, True)
            resp = Response(sock)
        except OSError as exc:
            sock.close()
            raise APIError(500, f"the daemon closed the connection while the body was sent: {exc}") from None
        except BaseException:
            sock.close()
            raise
        if resp.status >= 400:
            raise APIError(resp.status, message_of(resp.read()))
        return resp

    def hijack(
        self, path: str, query: dict[str, Any] | None = None, body: Any = None
    ) -> tuple[Hijacked, bool]:
        """POST with the upgrade headers; returns the raw connection (after the response head)
        and whether the stream is multiplexed (stdcopy frames) or raw. The head is read with
        plain recv calls, so no byte of the stream is left behind in a buffer."""
        url = API + path + encode_query(query)
        data = json.dumps(body).encode() if body is not None else b""
        head = (
            f"POST {url} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        sock = self.connect()
        sock.sendall(head.encode() + data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(4096)
            if not chunk:
                sock.close()
                raise APIError(500, "the daemon closed the connection")
            buf += chunk
        head_b, _, rest = buf.partition(b"\r\n\r\n")
        lines = head_b.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        if status >= 400:
            length = int(hdrs.get("content-length", "0") or 0)
            while len(rest) < length:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                rest += chunk
            sock.close()
            raise APIError(status, message_of(rest))
        return Hijacked(sock, rest), "multiplexed" in hdrs.get("content-type", "")


def _wrap_tls(sock: socket.socket, server: str) -> socket.socket:
    import ssl

    certs = os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    cert, key = os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem")
    if os.path.exists(cert) and os.path.exists(key):
        ctx.load_cert_chain(cert, key)
    return ctx.wrap_socket(sock, server_hostname=server or "localhost")


class Hijacked:
    """The hijacked connection, with the bytes that came along with the response head put back."""

    def __init__(self, sock: socket.socket, prefix: bytes) -> None:
        self.sock = sock
        self._prefix = prefix

    def recv(self, n: int) -> bytes:
        if self._prefix:
            out, self._prefix = self._prefix[:n], self._prefix[n:]
            return out
        return self.sock.recv(n)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown(self, how: int) -> None:
        self.sock.shutdown(how)

    def close(self) -> None:
        self.sock.close()


def message_of(data: bytes) -> str:
    try:
        obj = json.loads(data)
        if isinstance(obj, dict) and "message" in obj:
            return str(obj["message"])
    except ValueError:
        pass
    return data.decode("utf-8", "replace").strip()
