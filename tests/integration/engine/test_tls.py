"""wharfd on ``-H tcp://127.0.0.1:PORT`` with TLS and client verification, as ``dockerd
--tlsverify`` does: the docker CLI and the wharf CLI with the client certificate get through;
without one, or over plain http, they are refused."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.daemon import Daemon, new_root
from tests.integration.engine.conftest import WHARF
from tests.pki import make_pki
from tests.registry import free_port

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def tls_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, str, Path]]:
    pki = tmp_path_factory.mktemp("pki")
    make_pki(pki)
    port = free_port()
    d = Daemon(new_root())
    try:
        d.start("-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", str(pki / "ca.pem"),
                "--tlscert", str(pki / "server.pem"), "--tlskey", str(pki / "server-key.pem"))  # fmt: skip
        yield d, f"tcp://127.0.0.1:{port}", pki
    finally:
        d.cleanup()


def _env(host: str, certs: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "WHARF_"))}
    env["DOCKER_HOST"] = host
    env["DOCKER_CONFIG"] = str(certs or "/nonexistent")
    if certs is not None:
        env["DOCKER_TLS_VERIFY"] = "1"
        env["DOCKER_CERT_PATH"] = str(certs)
    return env


@pytest.mark.parametrize("cli", ["docker", WHARF], ids=["docker", "wharf"])
def test_verified_client_gets_through(tls_daemon: tuple[Daemon, str, Path], cli: str) -> None:
    _, host, pki = tls_daemon
    env = _env(host, pki / "client")
    r = subprocess.run([cli, "version", "--format", "{{.Server.APIVersion}}"], env=env,
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "1.47"
    r = subprocess.run([cli, "ps", "-a", "-q"], env=env, capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout) == (0, "")


def test_client_without_certificate_is_refused(tls_daemon: tuple[Daemon, str, Path], tmp_path: Path) -> None:
    daemon, host, pki = tls_daemon
    ca_only = tmp_path / "ca-only"
    ca_only.mkdir()
    (ca_only / "ca.pem").write_bytes((pki / "ca.pem").read_bytes())
    r = subprocess.run(["docker", "ps"], env=_env(host, ca_only), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    r = subprocess.run(["docker", "ps"], env=_env(host, None), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0  # plain http to a TLS port
    assert daemon.request("GET", "/_ping")[0] == 200  # and the daemon still serves its unix socket
