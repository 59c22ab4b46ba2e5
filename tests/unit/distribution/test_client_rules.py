"""The registry client's pure rules: which registries are insecure (Docker's), how a 401
challenge reads, what X-Registry-Auth carries. The real paths are in tests/integration/images."""

from __future__ import annotations

import base64
import json

import pytest

from wharf.distribution.client import credentials_from_header, is_insecure, parse_challenge


@pytest.mark.parametrize(
    ("host", "extra", "insecure"),
    [
        ("127.0.0.1:5000", [], True),
        ("127.8.9.10", [], True),  # all of 127.0.0.0/8
        ("localhost:5000", [], True),
        ("[::1]:5000", [], False),  # Docker: only 127.0.0.0/8 by default
        ("registry.example.com", [], False),
        ("10.1.2.3:5000", ["10.0.0.0/8"], True),
        ("10.1.2.3:5000", ["192.168.0.0/16"], False),
        ("myreg:5000", ["myreg:5000"], True),
        ("myreg:5000", ["myreg"], True),
        ("[fd00::5]:443", ["fd00::/64"], True),
    ],
)
def test_insecure_registries_follow_dockers_rule(host: str, extra: list[str], insecure: bool) -> None:
    assert is_insecure(host, extra) is insecure


def test_bearer_challenge_is_parsed() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull",
    }


def test_registry_auth_header_carries_credentials() -> None:
    header = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p"}).encode()).decode()
    creds = credentials_from_header(header.rstrip("="))
    assert creds is not None and (creds.username, creds.password) == ("u", "p")
    assert credentials_from_header("not base64 json") is None
    assert credentials_from_header(base64.b64encode(b"{}").decode()) is None
