"""capabilities.refusal: the kernel's capset(2) rules over the sets the init holds, as pure logic
(the integration tests in tests/security/test_runtime_spec.py run the cases a root runtime can
reach; a runtime missing capabilities, as inside some sandboxes, reaches the others)."""

from __future__ import annotations

import pytest

from wharf.runtime.capabilities import Held, parse, refusal

ALL = (1 << 41) - 1
NO_SYS_RESOURCE = ALL & ~(1 << 24)
ROOT = Held(ALL, ALL, 0, ALL)  # a root runtime's sets


def _sets(**kw: list[str]) -> dict[str, list[str]]:
    return {k: kw.get(k, []) for k in ("bounding", "effective", "permitted", "inheritable", "ambient")}


@pytest.mark.parametrize(
    ("sets", "uid", "held", "why"),
    [
        (_sets(bounding=["CAP_KILL"], effective=["CAP_KILL"], permitted=["CAP_KILL"]), 1000, ROOT, ""),
        # the bounding set does not bound the permitted set capset takes
        (_sets(bounding=["CAP_KILL"], permitted=["CAP_CHOWN"]), 0, ROOT, ""),
        (_sets(effective=["CAP_CHOWN"]), 0, ROOT, "effective CAP_CHOWN not in the permitted set"),
        (
            _sets(bounding=["CAP_SYS_RESOURCE"], permitted=["CAP_SYS_RESOURCE"]),
            0,
            Held(NO_SYS_RESOURCE, NO_SYS_RESOURCE, 0, NO_SYS_RESOURCE),
            "permitted CAP_SYS_RESOURCE not held by the runtime",
        ),
        (
            _sets(bounding=["CAP_KILL"], inheritable=["CAP_CHOWN"]),
            0,
            ROOT,
            "inheritable CAP_CHOWN not in the bounding set",
        ),
        # an inheritable capability the runtime already has may stay outside the bounding set
        (_sets(bounding=["CAP_KILL"], inheritable=["CAP_CHOWN"]), 0, Held(ALL, ALL, 1, ALL), ""),
        # as root with CAP_SETPCAP any inheritable capability inside the bounding set is fine ...
        (
            _sets(bounding=["CAP_SYS_RESOURCE"], inheritable=["CAP_SYS_RESOURCE"]),
            0,
            Held(ALL, NO_SYS_RESOURCE, 0, ALL),
            "",
        ),
        # ... but after setresuid away from 0 the effective set is empty: only permitted ones
        (
            _sets(bounding=["CAP_SYS_RESOURCE"], inheritable=["CAP_SYS_RESOURCE"]),
            1000,
            Held(ALL, NO_SYS_RESOURCE, 0, ALL),
            "inheritable CAP_SYS_RESOURCE not in the permitted set (no CAP_SETPCAP)",
        ),
        # unknown names are ignored (create warns), never refused
        (_sets(bounding=["CAP_FOO"], effective=["CAP_FOO"]), 0, ROOT, ""),
    ],
)
def test_refusal(sets: dict[str, list[str]], uid: int, held: Held, why: str) -> None:
    assert refusal(parse(sets), uid, held) == why
