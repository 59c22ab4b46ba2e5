"""``~/.docker/config.json`` credentials, as ``docker login`` reads and writes them (stdlib only:
the CLI imports this).

``auths[server].auth`` is base64 ``user:password``; an ``identitytoken`` may stand instead. Docker
Hub's key is ``https://index.docker.io/v1/``; other registries are keyed by host (with or without
a scheme). Writes are atomic (temp file, fsync, rename) and the file is mode 0600.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from typing import Any

from wharf.base.files import atomic_write

DOCKER_HUB = "docker.io"
DOCKER_HUB_REGISTRY = "registry-1.docker.io"
HUB_SERVER = "https://index.docker.io/v1/"


@dataclass
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""

    def basic(self) -> str | None:
        if not self.username:
            return None
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def docker_config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def auth_keys(host: str) -> list[str]:
    if host in (DOCKER_HUB, DOCKER_HUB_REGISTRY, "index.docker.io"):
        return [HUB_SERVER, "index.docker.io", "docker.io", "registry-1.docker.io"]
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]


def server_key(server: str) -> str:
    """The key `docker login SERVER` stores under: the Hub's legacy URL, else the bare host."""
    host = server.removeprefix("https://").removeprefix("http://").rstrip("/")
    if host in ("", "docker.io", "index.docker.io", "index.docker.io/v1", "registry-1.docker.io"):
        return HUB_SERVER
    return host.split("/", 1)[0]


def _load(path: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _save(path: str, cfg: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write(path, json.dumps(cfg, indent="\t"), 0o600)


def credentials_from_config(host: str, path: str | None = None) -> Credentials | None:
    auths = _load(path or docker_config_path()).get("auths") or {}
    for key in auth_keys(host):
        entry = auths.get(key)
        if not entry:
            continue
        if entry.get("identitytoken"):
            return Credentials(identity_token=entry["identitytoken"])
        if entry.get("auth"):
            user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
            return Credentials(user, pw)
        if entry.get("username"):
            return Credentials(entry["username"], entry.get("password", ""))
    return None


def store_credentials(server: str, username: str, password: str, path: str | None = None) -> None:
    path = path or docker_config_path()
    cfg = _load(path)
    cfg.setdefault("auths", {})[server] = {
        "auth": base64.b64encode(f"{username}:{password}".encode()).decode()
    }
    _save(path, cfg)


def remove_credentials(server: str, path: str | None = None) -> bool:
    """Drop every key that names the server; False when there was nothing to drop."""
    path = path or docker_config_path()
    cfg = _load(path)
    auths = cfg.get("auths") or {}
    host = server_key(server)
    keys = [k for k in auth_keys(host if host != HUB_SERVER else DOCKER_HUB) if k in auths]
    if server in auths and server not in keys:
        keys.append(server)
    if not keys:
        return False
    for k in keys:
        del auths[k]
    _save(path, cfg)
    return True


def registry_auth_header(host: str, path: str | None = None) -> str | None:
    """The Engine API's X-Registry-Auth for a registry host: base64url JSON, or None."""
    creds = credentials_from_config(host, path)
    if creds is None:
        return None
    obj = {"username": creds.username, "password": creds.password, "serveraddress": host}
    if creds.identity_token:
        obj = {"identitytoken": creds.identity_token, "serveraddress": host}
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()
