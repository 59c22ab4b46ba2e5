"""Image references, parsed and normalised exactly as Docker does (distribution/reference).

``busybox`` means ``docker.io/library/busybox:latest``; ``localhost:5000/a/b:1`` names a registry
with a port; ``name@sha256:...`` pins a digest. The first path component is a registry host only
if it contains a ``.`` or a ``:``, is ``localhost``, or has an upper-case letter; otherwise the
domain is ``docker.io``, and a single-component name on Docker Hub gets ``library/``.
``familiar()`` gives back the short form the docker CLI prints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wharf.errors import InvalidArgument
from wharf.oci.digest import parse_digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_HOST = rf"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_ANCHORED_ID_RE = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised reference: always a domain, a path, and a tag and/or a digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.name()
        if self.tag is not None:
            s += f":{self.tag}"
        if self.digest is not None:
            s += f"@{self.digest}"
        return s

    def familiar_name(self) -> str:
        if self.domain != DEFAULT_DOMAIN:
            return self.name()
        path = self.path
        if path.startswith(OFFICIAL_REPO_PREFIX) and "/" not in path[len(OFFICIAL_REPO_PREFIX) :]:
            path = path[len(OFFICIAL_REPO_PREFIX) :]
        return path

    def familiar(self) -> str:
        s = self.familiar_name()
        if self.tag is not None:
            s += f":{self.tag}"
        if self.digest is not None:
            s += f"@{self.digest}"
        return s

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, parse_digest(digest))


def split_docker_domain(name: str) -> tuple[str, str]:
    """Split a repository name into (domain, remainder) with Docker's defaulting rules."""
    first, sep, rest = name.partition("/")
    if not sep or (
        "." not in first and ":" not in first and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_reference(s: str, default_tag: bool = True) -> Reference:
    """Parse and normalise ``s``; adds ``:latest`` when neither tag nor digest is given."""
    if _ANCHORED_ID_RE.match(s):
        raise InvalidArgument(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = split_docker_domain(_name_part(s))
    if remainder.lower() != remainder:
        raise InvalidArgument(f"invalid reference format: repository name ({remainder}) must be lowercase")
    m = _REFERENCE_RE.match(f"{domain}/{remainder}{s[len(_name_part(s)) :]}")
    if m is None:
        raise InvalidArgument("invalid reference format")
    if len(m.group(1)) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidArgument(
            "invalid reference format: repository name must not be more than "
            f"{NAME_TOTAL_LENGTH_MAX} characters"
        )
    tag, digest = m.group(2), m.group(3)
    if digest is not None:
        digest = parse_digest(digest)
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(domain, remainder, tag, digest)


def _name_part(s: str) -> str:
    """The repository part of ``s``: before ``@``, and before a ``:tag`` after the last ``/``."""
    name = s.partition("@")[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    return name


def parse_repository(s: str) -> Reference:
    """A name without tag or digest (``docker tag``/``docker images <repo>`` arguments)."""
    ref = parse_reference(s, default_tag=False)
    if ref.tag is not None or ref.digest is not None:
        raise InvalidArgument(f"invalid repository name: {s}")
    return ref


def try_parse(s: str) -> Reference | None:
    try:
        return parse_reference(s)
    except InvalidArgument:
        return None
