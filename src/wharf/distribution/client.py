"""A registry v2 client (the distribution spec), over urllib3: the only module that imports it.

Endpoints: ``docker.io`` is ``registry-1.docker.io`` (or the daemon's mirrors, tried first);
a registry is *insecure* when it is in 127.0.0.0/8 (``localhost`` included), or listed in the
daemon's ``insecure-registries``. As in Docker, https is always tried first; for an insecure
registry its certificate is not verified and plain http is the fallback. Otherwise TLS verifies
against the system CAs plus, as dockerd reads them, ``certs.d/<host>/*.crt`` (more CAs) and
``certs.d/<host>/<name>.cert`` + ``<name>.key`` (a client certificate), looked up in
/etc/wharf/certs.d then /etc/docker/certs.d.

Auth: anonymous first; on 401 the ``WWW-Authenticate`` challenge says how: ``Bearer`` (a token
from the realm, for the scope, with Basic credentials when we have some; cached per scope) or
``Basic``. Credentials come from the API's X-Registry-Auth, else ``$DOCKER_CONFIG/config.json``
(``auths[host].auth`` = base64 user:password, as ``docker login`` writes it).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import ssl
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import urllib3

from wharf.dockerconfig import (
    DOCKER_HUB,
    DOCKER_HUB_REGISTRY,
    Credentials,
)
from wharf.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthorized, Unavailable, WharfError

MANIFEST_TYPES = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
]


def credentials_from_header(header: str | None) -> Credentials | None:
    """The Engine API's X-Registry-Auth: base64url JSON {username, password, identitytoken, ...}."""
    if not header:
        return None
    try:
        pad = "=" * (-len(header) % 4)
        obj = json.loads(base64.urlsafe_b64decode(header + pad))
    except (ValueError, TypeError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    creds = Credentials(
        obj.get("username") or "",
        obj.get("password") or "",
        obj.get("identitytoken") or "",
        obj.get("registrytoken") or "",
    )
    return creds if (creds.username or creds.identity_token or creds.registry_token) else None


CERTS_DIRS = ("/etc/wharf/certs.d", "/etc/docker/certs.d")


def is_insecure(host: str, extra: list[str] | None = None) -> bool:
    """Docker's rule: listed in ``insecure-registries`` (a name or a CIDR), or in 127.0.0.0/8
    (``localhost`` resolves there; ::1 does not, so it is secure as in Docker)."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    for entry in extra or []:
        if entry == host or entry == name:
            return True
        try:
            if ipaddress.ip_address(name) in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    return ip.version == 4 and ip.is_loopback


def tls_context(
    host: str, insecure: bool, certs_dirs: tuple[str, ...] | list[str] = CERTS_DIRS
) -> ssl.SSLContext:
    """The TLS settings for ``host``: system CAs and its certs.d files; no verification if insecure
    (then the system CAs, ~30 ms to load here, are not loaded either)."""
    if insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context()
    for base in certs_dirs:
        d = os.path.join(base, host)
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            path = os.path.join(d, name)
            if name.endswith(".crt") and not insecure:
                ctx.load_verify_locations(cafile=path)
            elif name.endswith(".cert"):
                key = path[: -len(".cert")] + ".key"
                if not os.path.exists(key):
                    raise InvalidArgument(
                        f"missing key {os.path.basename(key)} for client certificate {name}"
                    )
                ctx.load_cert_chain(path, key)
        break  # the first certs.d that has the host wins
    return ctx


_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): v for k, v in _CHALLENGE_RE.findall(rest)}


@dataclass
class Registry:
    """One registry host as seen from here: its base URL, auth state, HTTP pool."""

    host: str
    insecure_registries: list[str] = field(default_factory=list)
    credentials: Credentials | None = None
    certs_dirs: tuple[str, ...] | list[str] = CERTS_DIRS
    _base: str | None = None
    _tokens: dict[str, str] = field(default_factory=dict)
    _basic: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _auth_lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0

    def __post_init__(self) -> None:
        self.insecure = is_insecure(self.host, self.insecure_registries)
        ctx = tls_context(self.host, self.insecure, self.certs_dirs)
        if self.insecure:  # an unverified https request is what was asked for: no warning about it
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=8, ssl_context=ctx)

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_REGISTRY if self.host in (DOCKER_HUB, "index.docker.io") else self.host

    def base(self) -> str:
        with self._lock:
            if self._base is not None:
                return self._base
            schemes = ["https", "http"] if self.insecure else ["https"]
            last: Exception | None = None
            for scheme in schemes:
                url = f"{scheme}://{self.api_host}"
                try:
                    self.pool.request("GET", f"{url}/v2/", retries=False, timeout=urllib3.Timeout(5, 30))
                except (urllib3.exceptions.SSLError, urllib3.exceptions.ProtocolError) as exc:
                    last = exc
                    continue
                except urllib3.exceptions.HTTPError as exc:
                    last = exc
                    continue
                self._base = url
                return url
            raise Unavailable(f'Get "https://{self.api_host}/v2/": {_why(last)}')

    def _auth_header(self, scope: str) -> dict[str, str]:
        if scope in self._tokens:
            return {"Authorization": f"Bearer {self._tokens[scope]}"}
        if self._basic and self.credentials and self.credentials.basic():
            return {"Authorization": f"Basic {self.credentials.basic()}"}
        return {}

    def _authenticate(self, challenge: str, scope: str, sent: str = "") -> None:
        """Answer a 401 for ``scope``: one thread fetches the token, the concurrent others
        (their request carried ``sent``, now stale) reuse it."""
        with self._auth_lock:
            current = self._auth_header(scope).get("Authorization", "")
            if current and current != sent:
                return
            self._fetch_auth(challenge, scope)

    def _fetch_auth(self, challenge: str, scope: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not (self.credentials and self.credentials.basic()):
                raise Unauthorized("no basic auth credentials")
            self._basic = True
            return
        if scheme != "bearer" or "realm" not in params:
            raise Unauthorized(f"unsupported authentication challenge: {challenge}")
        if self.credentials and self.credentials.registry_token:
            self._tokens[scope] = self.credentials.registry_token
            return
        fields = {"service": params.get("service", "")}
        if scope:
            fields["scope"] = scope
        headers = {}
        if self.credentials and self.credentials.basic():
            headers["Authorization"] = f"Basic {self.credentials.basic()}"
        resp = self.pool.request("GET", params["realm"], fields=fields, headers=headers, retries=2)
        if resp.status == 401:
            raise Unauthorized("unauthorized: incorrect username or password")
        if resp.status != 200:
            raise Unauthorized(f"fetching a token from {params['realm']}: HTTP {resp.status}")
        body = json.loads(resp.data)
        token = body.get("token") or body.get("access_token")
        if not token:
            raise Unauthorized("the token server answered without a token")
        self._tokens[scope] = token

    def request(
        self,
        method: str,
        path: str,
        scope: str,
        headers: dict[str, str] | None = None,
        body: bytes | Iterator[bytes] | None = None,
        preload: bool = True,
        ok: tuple[int, ...] = (200,),
        fields: dict[str, str] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        url = path if path.startswith("http") else self.base() + path
        for attempt in range(2):
            h = dict(headers or {})
            h.update(self._auth_header(scope))
            self.requests += 1
            try:
                resp = self.pool.request(
                    method,
                    url,
                    headers=h,
                    body=body,
                    fields=fields,
                    preload_content=preload,
                    redirect=True,
                    retries=urllib3.Retry(
                        total=3, connect=3, read=2, redirect=5, status=0, raise_on_status=False
                    ),
                    timeout=urllib3.Timeout(connect=10, read=120),
                )
            except urllib3.exceptions.HTTPError as exc:
                raise Unavailable(f"{method} {url}: {_why(exc)}") from None
            if resp.status == 401 and attempt == 0 and not isinstance(body, Iterator):
                challenge = resp.headers.get("WWW-Authenticate", "")
                resp.release_conn()
                if not challenge:
                    raise Unauthorized("unauthorized: authentication required")
                self._authenticate(challenge, scope, h.get("Authorization", ""))
                continue
            if resp.status in ok:
                return resp
            raise registry_error(resp, url)
        raise Unauthorized("unauthorized: authentication required")


def _why(exc: BaseException | None) -> str:
    if exc is None:
        return "unreachable"
    reason = getattr(exc, "reason", None)
    return str(reason or exc)


def registry_error(resp: urllib3.BaseHTTPResponse, url: str) -> WharfError:
    """The registry's error body as Docker words it ("manifest unknown: manifest unknown")."""
    try:
        data = resp.data if resp.data is not None else b""
        errs = json.loads(data or b"{}").get("errors") or []
    except ValueError:
        errs = []
    if errs:
        e = errs[0]
        code = str(e.get("code", "")).lower().replace("_", " ")
        msg = f"{code}: {e.get('message', '')}".strip()
    else:
        msg = f"unexpected HTTP status {resp.status} for {url}"
    if resp.status == 401:
        return Unauthorized(msg if errs else "unauthorized: authentication required")
    if resp.status == 404:
        return NotFound(msg)
    if resp.status == 400:
        return InvalidArgument(msg)
    return FailedPrecondition(msg)
