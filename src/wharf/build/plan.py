"""Which stages a build runs, and the order their output reaches the client.

``needed`` walks back from the target (the last stage, or ``--target``) through what each stage
uses: its FROM when that names an earlier stage, ``COPY --from`` and ``RUN --mount=...,from=``
naming a stage (by name or index). Only those stages run; each starts as soon as the stages it
uses are done, so independent ones run in parallel.

The classic builder's stream is one sequence of ``Step N/M`` lines. ``Ordered`` keeps it so while
stages run at once: a stage's lines go out live while it is the earliest unfinished stage,
and are held until then otherwise.
"""

from __future__ import annotations

from collections.abc import Callable

from wharf.build import instructions as ins
from wharf.errors import InvalidArgument


def uses(stage: ins.Stage, expand: Callable[[str], str]) -> list[str]:
    """The names a stage takes files or its base from (stage names, indexes or images)."""
    out = [expand(stage.base)]
    for cmd in stage.commands:
        if isinstance(cmd, ins.Copy) and cmd.from_:
            out.append(cmd.from_)
        elif isinstance(cmd, ins.Run):
            out += [m.from_ for m in cmd.mounts if m.from_]
    return out


def needed(stages: list[ins.Stage], target: str, expand: Callable[[str], str]) -> list[int]:
    """The indexes of the stages the target needs, in Dockerfile order (the target last)."""
    index = {s.name: i for i, s in enumerate(stages) if s.name}
    last = len(stages) - 1
    if target:
        if target.lower() not in index:
            raise InvalidArgument(f"failed to reach build target {target} in Dockerfile")
        last = index[target.lower()]
    keep: set[int] = set()
    todo = [last]
    while todo:
        i = todo.pop()
        if i in keep:
            continue
        keep.add(i)
        for ref in uses(stages[i], expand):
            if "$" in ref:  # known only when the stage runs: any earlier stage may be it
                todo += range(i)
                continue
            j = stage_index(ref, index, i)
            if j is not None:
                todo.append(j)
    return sorted(keep)


def stage_index(ref: str, index: dict[str, int], before: int) -> int | None:
    """The stage ``ref`` names as seen from stage ``before`` (an earlier one only), or None."""
    j = index.get(ref.lower())
    if j is None and ref.isdigit():
        j = int(ref)
    return j if j is not None and j < before else None


class Ordered:
    """Output of concurrently running stages, emitted in stage order (see the module text)."""

    def __init__(self, emit: Callable[[str], None], count: int) -> None:
        self._emit = emit
        self._held: list[list[str]] = [[] for _ in range(count)]
        self._done = [False] * count
        self._current = 0

    def say(self, position: int, text: str) -> None:
        if position == self._current:
            self._emit(text)
        else:
            self._held[position].append(text)

    def finished(self, position: int) -> None:
        self._done[position] = True
        while self._current < len(self._done) and self._done[self._current]:
            self._current += 1
            if self._current < len(self._held):
                for text in self._held[self._current]:
                    self._emit(text)
                self._held[self._current].clear()

    def flush(self, position: int) -> None:
        """A failed stage's held lines, out at once (the error follows them)."""
        for text in self._held[position]:
            self._emit(text)
        self._held[position].clear()
