"""Build cache keys are content-addressed chains: the same parent and step give the same key,
anything else another."""

from __future__ import annotations

from wharf.build.cache import step_key


def test_a_key_depends_on_its_parent_and_every_part() -> None:
    root = step_key("", ["FROM", "sha256:1"])
    assert root == step_key("", ["FROM", "sha256:1"])
    assert root != step_key("", ["FROM", "sha256:2"])
    run = step_key(root, ["RUN", "echo hi"])
    assert run != step_key(step_key("", ["FROM", "sha256:2"]), ["RUN", "echo hi"])
    assert step_key(root, ["a", "bc"]) != step_key(root, ["ab", "c"])  # parts cannot run together
    assert len(run) == 64 and int(run, 16) >= 0
