"""The compiled seccomp filters a create keeps in the runtime's root: a later create with the
same filter loads the program without compiling it, and a program is only used for the exact
text it was compiled from."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharf.engine import seccomp_profile
from wharf.runtime import seccomp


@pytest.fixture
def spec() -> Iterator[dict[str, object]]:
    seccomp._prepared.clear()
    yield seccomp_profile.to_oci(seccomp_profile.default_profile(), [])
    seccomp._prepared.clear()


def _no_compile(spec: object) -> bytes:
    raise AssertionError("compiled again")


def test_second_prepare_reads_the_cache(
    spec: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seccomp.prepare(spec, str(tmp_path))
    (cached,) = os.listdir(tmp_path)
    first = seccomp._prepared[seccomp._key(spec)]
    assert len(first) % 8 == 0 and len(first) > 8 * 100  # sock_filter entries, Docker's profile
    assert (tmp_path / cached).stat().st_mode & 0o777 == 0o600
    seccomp._prepared.clear()
    monkeypatch.setattr(seccomp, "compile_filter", _no_compile)
    seccomp.prepare(spec, str(tmp_path))
    assert seccomp._prepared[seccomp._key(spec)] == first


def test_a_cache_file_of_another_text_is_not_used(spec: dict[str, object], tmp_path: Path) -> None:
    seccomp.prepare(spec, str(tmp_path))
    (cached,) = os.listdir(tmp_path)
    right = seccomp._prepared[seccomp._key(spec)]
    data = (tmp_path / cached).read_bytes()
    head, _, prog = data.partition(b"\n")
    (tmp_path / cached).write_bytes(head.replace(b"SCMP_ACT_ERRNO", b"SCMP_ACT_ERRNX", 1) + b"\n" + prog)
    seccomp._prepared.clear()
    seccomp.prepare(spec, str(tmp_path))  # same name (the CRC of the right text), wrong text
    assert seccomp._prepared[seccomp._key(spec)] == right
    assert (tmp_path / cached).read_bytes() == data  # compiled again and written back


def test_the_program_is_what_libseccomp_compiles(spec: dict[str, object], tmp_path: Path) -> None:
    seccomp.prepare(spec, str(tmp_path))
    assert seccomp._prepared[seccomp._key(spec)] == seccomp.compile_filter(spec)
