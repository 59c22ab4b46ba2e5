"""Digests, references (Docker's normalisation table) and descriptors."""

from __future__ import annotations

import pytest

from wharf.errors import InvalidArgument
from wharf.oci.descriptor import (
    MEDIA_TYPE_OCI_MANIFEST,
    Descriptor,
    Platform,
    parse_platform,
)
from wharf.oci.digest import is_digest, parse_digest, sha256_digest
from wharf.oci.reference import parse_reference, parse_repository

D = "sha256:" + "a" * 64


def test_sha256_digest() -> None:
    assert sha256_digest(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize(
    "bad", ["", "sha256", "sha256:", "md5:" + "a" * 32, "sha256:" + "A" * 64, "sha256:" + "a" * 63]
)
def test_bad_digests(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_digest(bad)
    assert not is_digest(bad)


def test_sha512_digest() -> None:
    assert parse_digest("sha512:" + "0" * 128)


@pytest.mark.parametrize(
    "given,full,familiar",
    [
        ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("index.docker.io/foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest"),
        ("foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest"),
        ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
        ("localhost:5000/a/b:1", "localhost:5000/a/b:1", "localhost:5000/a/b:1"),
        ("quay.io/a/b/c:v1", "quay.io/a/b/c:v1", "quay.io/a/b/c:v1"),
        ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
        ("Host/x", "Host/x:latest", "Host/x:latest"),
        (f"busybox@{D}", f"docker.io/library/busybox@{D}", f"busybox@{D}"),
        (f"busybox:1@{D}", f"docker.io/library/busybox:1@{D}", f"busybox:1@{D}"),
    ],
)
def test_normalisation(given: str, full: str, familiar: str) -> None:
    ref = parse_reference(given)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert str(parse_reference(full)) == full


@pytest.mark.parametrize(
    "bad,msg",
    [
        ("Busybox", "repository name (library/Busybox) must be lowercase"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
        ("busybox:", "invalid reference format"),
        ("busybox@sha256:abc", "invalid reference format"),
        ("-x", "invalid reference format"),
        ("foo//bar", "invalid reference format"),
        ("x:" + "t" * 129, "invalid reference format"),
        ("a/" * 130 + "b", "must not be more than 255 characters"),
    ],
)
def test_invalid_references(bad: str, msg: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_reference(bad)
    assert msg in str(info.value)


def test_reference_parts() -> None:
    ref = parse_reference("localhost:5000/a/b:1")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("localhost:5000", "a/b", "1", None)
    assert ref.name() == "localhost:5000/a/b"
    assert str(ref.with_digest(D)) == f"localhost:5000/a/b@{D}"


def test_repository_only() -> None:
    assert parse_repository("busybox").tag is None
    with pytest.raises(InvalidArgument):
        parse_repository("busybox:1")


def test_descriptor_round_trip() -> None:
    raw = {
        "mediaType": MEDIA_TYPE_OCI_MANIFEST,
        "digest": D,
        "size": 7,
        "annotations": {"a": "b"},
        "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
    }
    desc = Descriptor.from_json(raw)
    assert desc.platform == Platform("linux", "arm64", "v8")
    assert desc.to_json() == raw
    with pytest.raises(InvalidArgument):
        Descriptor.from_json({"digest": D})
    with pytest.raises(InvalidArgument):
        Descriptor.from_json({"digest": "nope", "size": 1})


def test_platform_matching() -> None:
    host = Platform("linux", "amd64")
    assert host.matches(Platform("linux", "amd64"))
    assert not host.matches(Platform("linux", "arm64"))
    assert Platform("linux", "arm64", "v8").matches(Platform("linux", "arm64"))
    assert not Platform("linux", "arm", "v7").matches(Platform("linux", "arm", "v6"))
    assert str(parse_platform("linux/arm64/v8")) == "linux/arm64/v8"
    assert Platform.host().os == "linux"
    with pytest.raises(InvalidArgument):
        parse_platform("linux")
