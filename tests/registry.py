"""Debian's docker-registry (CNCF distribution) on 127.0.0.1, started by a test and removed after.

``Registry(tmp, users={"alice": "secret"})`` adds htpasswd (Basic) auth. The access log goes to
``<dir>/registry.log``: tests read it to see which requests reached the registry.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))


class Registry:
    def __init__(self, root: Path, users: dict[str, str] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log = root / "registry.log"
        root.mkdir(parents=True, exist_ok=True)
        auth = ""
        if users:
            htpasswd = root / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{_bcrypt(p)}\n" for u, p in users.items()))
            auth = f"auth:\n  htpasswd:\n    realm: wharf-test\n    path: {htpasswd}\n"
        (root / "config.yml").write_text(
            "version: 0.1\n"
            "log:\n  level: info\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n"
            "health:\n  storagedriver:\n    enabled: false\n" + auth
        )
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(
                [BINARY, "serve", str(root / "config.yml")],
                stdout=logf,
                stderr=logf,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
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


def docker_config(path: Path, host: str, user: str, password: str) -> None:
    import base64
    import json

    path.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (path / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    os.chmod(path / "config.json", 0o600)
