"""The build's plan: which stages a target needs, and stage output kept in stage order while
stages run at once."""

from __future__ import annotations

import pytest

from wharf.build import instructions as ins
from wharf.build import plan
from wharf.build.parser import parse
from wharf.errors import InvalidArgument


def _stages(text: str) -> list[ins.Stage]:
    return ins.parse_file(parse(text)).stages


MULTI = """\
FROM busybox AS base
RUN true
FROM base AS tools
RUN true
FROM busybox AS unrelated
RUN true
FROM busybox AS assets
RUN true
FROM scratch AS final
COPY --from=tools /x /x
COPY --from=3 /y /y
FROM busybox
RUN --mount=type=bind,from=unrelated,target=/m true
"""


def test_the_target_needs_its_base_and_copy_from_stages_only() -> None:
    stages = _stages(MULTI)
    assert plan.needed(stages, "final", lambda s: s) == [0, 1, 3, 4]
    assert plan.needed(stages, "", lambda s: s) == [2, 5]  # the last stage: a bind mount's source
    assert plan.needed(stages, "BASE", lambda s: s) == [0]
    with pytest.raises(InvalidArgument, match="failed to reach build target nope in Dockerfile"):
        plan.needed(stages, "nope", lambda s: s)


def test_a_reference_known_only_at_run_time_keeps_every_earlier_stage() -> None:
    stages = _stages("FROM busybox AS a\nFROM busybox AS b\nFROM busybox\nARG S=a\nCOPY --from=$S /x /x\n")
    assert plan.needed(stages, "", lambda s: s) == [0, 1, 2]


def test_a_stage_named_like_an_image_is_the_stage_only_when_earlier() -> None:
    index = {"busybox": 1}
    assert plan.stage_index("busybox", index, 2) == 1
    assert plan.stage_index("busybox", index, 1) is None  # a FROM busybox before it: the image
    assert plan.stage_index("0", index, 1) == 0
    assert plan.stage_index("debian:12", index, 3) is None


def test_output_of_later_stages_waits_for_the_earlier_ones() -> None:
    out: list[str] = []
    o = plan.Ordered(out.append, 3)
    o.say(0, "a1")
    o.say(2, "c1")
    o.say(1, "b1")
    assert out == ["a1"]
    o.finished(2)  # done, but its turn has not come
    assert out == ["a1"]
    o.finished(0)
    assert out == ["a1", "b1"]  # stage 1 is live now
    o.say(1, "b2")
    o.finished(1)
    assert out == ["a1", "b1", "b2", "c1"]


def test_a_failed_stage_shows_its_held_lines_at_once() -> None:
    out: list[str] = []
    o = plan.Ordered(out.append, 2)
    o.say(1, "b1")
    o.flush(1)
    assert out == ["b1"]
