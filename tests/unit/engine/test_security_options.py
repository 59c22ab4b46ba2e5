"""SecurityOpt, CapAdd/CapDrop and the seccomp choice read as dockerd reads them (pure: no
container; the integration side is tests/security/test_hardening_options.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wharf.base import caps
from wharf.engine import seccomp_profile, specgen
from wharf.engine.request import HostConfig
from wharf.errors import InvalidArgument

HELD = tuple(c for c in caps.NAMES if c != "CAP_SYS_RESOURCE")  # a daemon without one


@pytest.fixture(autouse=True)
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(specgen, "_available", lambda: HELD)
    yield


def test_current_reads_bounding_and_effective(tmp_path: object) -> None:
    import pathlib

    status = pathlib.Path(str(tmp_path)) / "status"
    status.write_text("Name:\tx\nCapEff:\t000001fffeffffff\nCapBnd:\t000001ffffffffff\n")
    assert caps.current(str(status)) == HELD
    status.write_text("Name:\tx\n")
    assert caps.current(str(status)) == caps.NAMES


@pytest.mark.parametrize(
    ("hc", "want"),
    [
        ({"CapAdd": ["net_admin"]}, [*specgen.DEFAULT_CAPS, "CAP_NET_ADMIN"]),
        ({"CapAdd": ["CAP_CHOWN"]}, specgen.DEFAULT_CAPS),  # no duplicate
        ({"CapDrop": ["ALL"], "CapAdd": ["Net_Admin", "cap_kill"]}, ["CAP_NET_ADMIN", "CAP_KILL"]),
        ({"CapAdd": ["all"], "CapDrop": ["chown"]}, [c for c in HELD if c != "CAP_CHOWN"]),
        ({"CapAdd": ["ALL"], "CapDrop": ["ALL"]}, list(HELD)),
        ({"Privileged": True, "CapDrop": ["chown"]}, list(HELD)),
    ],
)
def test_capability_sets(hc: HostConfig, want: list[str]) -> None:
    assert specgen.capabilities(hc) == want


@pytest.mark.parametrize(
    ("hc", "words"),
    [
        ({"CapAdd": ["cap_all"]}, 'invalid CapAdd: unknown capability: "CAP_ALL"'),
        ({"CapAdd": ["foo"], "CapDrop": ["bar"]}, 'invalid CapAdd: unknown capability: "CAP_FOO"'),
        ({"CapDrop": ["bar"]}, 'invalid CapDrop: unknown capability: "CAP_BAR"'),
        (
            {"CapAdd": ["sys_resource"]},
            "invalid CapAdd: capability not supported by your kernel or not available in the current "
            'environment: "CAP_SYS_RESOURCE"',
        ),
    ],
)
def test_capability_names_refused(hc: HostConfig, words: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        specgen.capabilities(hc)
    assert str(exc.value) == words


@pytest.mark.parametrize(
    ("opts", "default", "want"),
    [
        ([], True, (True, None)),
        (["no-new-privileges=false"], True, (False, None)),
        (["no-new-privileges"], False, (True, None)),
        (["no-new-privileges:1"], False, (True, None)),
        (["seccomp=unconfined", "label=disable", "apparmor=x", "disable"], False, (False, "unconfined")),
        (["seccomp="], False, (False, None)),
    ],
)
def test_security_opts(opts: list[str], default: bool, want: tuple[bool, str | None]) -> None:
    assert specgen.security(HostConfig(SecurityOpt=opts), default) == want


@pytest.mark.parametrize(
    ("opt", "words"),
    [("bogus", 'invalid --security-opt 1: "bogus"'), ("no-new-privileges=maybe",
     'invalid --security-opt 2: "no-new-privileges=maybe"'), ("x=y", 'invalid --security-opt 2: "x=y"')],
)  # fmt: skip
def test_security_opts_refused(opt: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        specgen.security(HostConfig(SecurityOpt=[opt]))
    assert str(exc.value) == words


def test_seccomp_choice() -> None:
    caps_ = specgen.DEFAULT_CAPS
    no_mkdir = (
        '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}'
    )
    pick = seccomp_profile.for_container
    assert pick(None, "builtin", False, caps_)["defaultAction"] == "SCMP_ACT_ERRNO"  # type: ignore[index]
    assert pick(None, "unconfined", False, caps_) is None
    assert pick("builtin", "unconfined", False, caps_) is not None
    assert pick(None, no_mkdir, False, caps_)["syscalls"][0]["names"] == ["mkdir"]  # type: ignore[index]
    assert pick("unconfined", no_mkdir, False, caps_) is None
    assert pick(None, no_mkdir, True, caps_) is None  # privileged: only its own profile applies
    assert pick(no_mkdir, "builtin", True, caps_) is not None
    assert pick("{}", "builtin", False, caps_) is None
