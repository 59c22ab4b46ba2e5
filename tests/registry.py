"""Debian's docker-registry (CNCF distribution) on 127.0.0.1, started by a test and removed after.

``Registry(tmp, users={"alice": "secret"})`` adds htpasswd (Basic) auth;
``Registry(tmp, auth=TokenServer(...).registry_auth())`` the Bearer token flow. The access log goes to
``<dir>/registry.log``: tests read it to see which requests reached the registry.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


class Registry:
    """``tls=pki_dir`` (see tests/pki.py) serves https with its server certificate; with
    ``client_ca=True`` the registry also requires a client certificate signed by that CA."""

    def __init__(
        self,
        root: Path,
        users: dict[str, str] | None = None,
        auth: str = "",
        ip: str = "127.0.0.1",
        tls: Path | None = None,
        client_ca: bool = False,
    ) -> None:
        self.root = root
        self.port = free_port(ip)
        self.host = f"[{ip}]:{self.port}" if ":" in ip else f"{ip}:{self.port}"
        self.scheme = "https" if tls else "http"
        self.log = root / "registry.log"
        root.mkdir(parents=True, exist_ok=True)
        if users:
            htpasswd = root / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{_bcrypt(p)}\n" for u, p in users.items()))
            auth = f"auth:\n  htpasswd:\n    realm: wharf-test\n    path: {htpasswd}\n"
        (root / "config.yml").write_text(
            "version: 0.1\n"
            "log:\n  level: info\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
            f'http:\n  addr: "{self.host}"\n'
            + _tls_config(tls, client_ca)
            + "health:\n  storagedriver:\n    enabled: false\n"
            + auth
        )
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(
                [BINARY, "serve", str(root / "config.yml")],
                stdout=logf,
                stderr=logf,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.time() + 20
        unverified = ssl._create_unverified_context()
        while True:
            try:
                if client_ca:  # no request gets through without the client certificate: it listens
                    socket.create_connection((ip, self.port), timeout=1).close()
                else:
                    urllib.request.urlopen(f"{self.scheme}://{self.host}/v2/", timeout=1, context=unverified)
                break
            except urllib.error.HTTPError:
                break  # 401 with auth: it answers
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"docker-registry did not start: {self.log.read_text()}") from None
                time.sleep(0.05)

    def requests(self, method: str, fragment: str) -> int:
        """How many requests of ``method`` whose path contains ``fragment`` the registry logged."""
        n = 0
        for line in self.log.read_text(errors="replace").splitlines():
            if f'"{method} ' in line and fragment in line:
                n += 1
        return n

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _tls_config(pki: Path | None, client_ca: bool) -> str:
    if pki is None:
        return ""
    out = f"  tls:\n    certificate: {pki / 'server.pem'}\n    key: {pki / 'server-key.pem'}\n"
    if client_ca:
        out += f"    clientcas:\n      - {pki / 'ca.pem'}\n"
    return out


def docker_config(path: Path, host: str, user: str, password: str) -> None:
    import base64
    import json

    path.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (path / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    os.chmod(path / "config.json", 0o600)


class TokenServer:
    """A Docker token-auth server (the Bearer flow of the distribution spec) on 127.0.0.1, in a
    thread of the test: Basic credentials in, an ES256 JWT granting the asked scope out. Its
    certificate goes into the registry's ``rootcertbundle``; tokens carry it in ``x5c``."""

    SERVICE = "wharf-test-registry"
    ISSUER = "wharf-test-issuer"

    def __init__(self, root: Path, users: dict[str, str]) -> None:
        import datetime
        import http.server
        import threading

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.users = users
        self.issued: list[str] = []  # the scopes of the tokens handed out
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wharf test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_der = cert.public_bytes(serialization.Encoding.DER)
        self.bundle = root / "token-ca.pem"
        root.mkdir(parents=True, exist_ok=True)
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return None

            def do_GET(self) -> None:
                server._answer(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def registry_auth(self) -> str:
        return (
            f"auth:\n  token:\n    realm: {self.realm}\n    service: {self.SERVICE}\n"
            f"    issuer: {self.ISSUER}\n    rootcertbundle: {self.bundle}\n"
        )

    def _answer(self, h: object) -> None:
        import base64
        import json
        import urllib.parse

        handler: Any = h
        query = urllib.parse.parse_qs(urllib.parse.urlparse(handler.path).query)
        auth = handler.headers.get("Authorization") or ""
        user = ""
        if auth.startswith("Basic "):
            u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
            if self.users.get(u) == p:
                user = u
        if not user or query.get("service") != [self.SERVICE]:
            handler.send_response(401)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        access = []
        for scope in query.get("scope", []):
            kind, name, actions = scope.split(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
            self.issued.append(scope)
        token = self._jwt(user, access)
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _jwt(self, user: str, access: list[dict[str, object]]) -> str:
        import base64
        import json
        import secrets

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [base64.b64encode(self.cert_der).decode()]}
        claims = {"iss": self.ISSUER, "sub": user, "aud": self.SERVICE, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": secrets.token_hex(8), "access": access}  # fmt: skip
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
