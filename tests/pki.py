"""Test certificates made with openssl: a CA, a server certificate for the loopback addresses and
a client certificate, in files with the names docker uses."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d: Path, server_names: str = "IP:127.0.0.1") -> None:
    """In ``d``: ca.pem/ca-key.pem, server.pem/server-key.pem (subjectAltName ``server_names``),
    client.pem/client-key.pem, and client/{ca,cert,key}.pem as the docker CLI's --tls files."""
    d.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=wharf test CA", cwd=d)  # fmt: skip
    (d / "server.ext").write_text(f"subjectAltName={server_names}\nextendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}-key.pem", "-out", f"{who}.csr",
                 "-subj", f"/CN={who}", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-out", f"{who}.pem", "-days", "2", "-extfile", f"{who}.ext",
                 cwd=d)  # fmt: skip
    client = d / "client"
    client.mkdir()
    for src, dst in (("ca.pem", "ca.pem"), ("client.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        (client / dst).write_bytes((d / src).read_bytes())
