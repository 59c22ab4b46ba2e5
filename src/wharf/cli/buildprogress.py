"""The progress of ``wharf build``, from the classic builder's JSON stream (``POST /build``).

``BuildState`` reads the stream as steps (pure logic, its clock given); three views show it:
``Plain``, the classic CLI's output (the stream as it comes); ``Quiet``, ``-q`` (the image ID at
the end, everything on stderr if the build fails); ``Tty``, a BuildKit-like display redrawn in
place (cursor up, clear line) at most ten times a second: a ``[+] Building 3.2s (5/9)`` header,
a line per step with its time (``CACHED`` for a cache hit, ``ERROR`` for the failed one), the
running step's last lines of output under it, and the failed step's output after the last frame.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from wharf.base.units import human_size

_STEP = re.compile(r"Step (\d+)/(\d+) : (.*)")
_LAYER = re.compile(r" ---> [0-9a-f]{12,64}")
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b-\x1f\x7f]")
TAIL = 100  # output lines kept per step, for the failure's report
LIVE = 6  # output lines of the running step shown under it


class Step:
    """A line of the display: a Dockerfile step, or one of ours (the context, the export)."""

    def __init__(self, label: str, started: float, ended: float | None = None,
                 details: list[str] | None = None) -> None:  # fmt: skip
        self.label = label
        self.started = started
        self.ended = ended
        self.cached = False
        self.failed = False
        self.details = details or []  # " => => " lines, in every frame
        self.output: list[str] = []

    def seconds(self, now: float) -> float:
        return 0.0 if self.cached else (now if self.ended is None else self.ended) - self.started


class BuildState:
    """The classic builder's stream read as steps: ``Step N/M : TEXT`` starts step N, `` ---> Using
    cache`` marks it cached, `` ---> <id>`` ends it; `` ---> Running in`` and ``Removing
    intermediate container`` are the builder's own words; every other line is the running step's
    output (or, between steps, a note). Times are ``clock``'s."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.ended: float | None = None
        self.context = Step("[internal] load build context", self.started)
        self.steps: list[Step] = []
        self.export: Step | None = None
        self.total = 0
        self.notes: list[str] = []
        self.partial = ""  # a line not ended yet
        self.image_id = ""
        self.error = ""
        self.code = 0

    def current(self) -> Step | None:
        step = self.steps[-1] if self.steps else None
        return step if step is not None and step.ended is None else None

    def sending(self, sent: int, done: bool) -> None:
        self.context.details = [f"transferring context: {human_size(sent)}"]
        if done and self.context.ended is None:
            self.context.ended = self.clock()

    def feed(self, msg: dict[str, Any]) -> None:
        now = self.clock()
        if self.context.ended is None:
            self.context.ended = now
        aux = msg.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            self.image_id = str(aux["ID"])
        elif msg.get("errorDetail") or msg.get("error"):
            raw = msg.get("errorDetail")
            detail: dict[str, Any] = raw if isinstance(raw, dict) else {}
            self.error = str(detail.get("message") or msg.get("error") or "unknown error")
            code = detail.get("code")
            self.code = code if isinstance(code, int) and code > 0 else 0
            self._flush(now)
            if step := self.current():
                step.failed, step.ended = True, now
        elif text := message_text(msg):
            *lines, self.partial = (self.partial + text).split("\n")
            for line in lines:
                self._line(visible(line), now)

    def finish(self) -> None:
        now = self.clock()
        self._flush(now)
        if step := self.current():
            step.ended = now
        self.context.ended = self.context.ended or now
        self.ended = now

    def _flush(self, now: float) -> None:
        if self.partial:
            line, self.partial = self.partial, ""
            self._line(visible(line), now)

    def _line(self, line: str, now: float) -> None:
        step = self.current()
        if m := _STEP.fullmatch(line):
            if step:
                step.ended = now
            self.total = int(m[2])
            self.steps.append(Step(f"[{m[1]}/{m[2]}] {m[3]}", now))
        elif line == " ---> Using cache":
            if step:
                step.cached = True
        elif line.startswith((" ---> Running in ", "Removing intermediate container ")):
            pass
        elif _LAYER.fullmatch(line):
            if step:
                step.ended = now
        elif line.startswith("Successfully built "):
            if step:
                step.ended = now
            written = self.image_id or line.rpartition(" ")[2]
            self.export = Step("exporting to image", now, now, details=[f"writing image {written}"])
        elif line.startswith("Successfully tagged ") and self.export:
            self.export.details.append("naming to " + line.removeprefix("Successfully tagged "))
        else:
            kept = step.output if step else self.notes
            kept.append(line)
            del kept[:-TAIL]

    def live_output(self, step: Step) -> list[str]:
        lines = step.output[-LIVE:]
        if self.partial and step is self.current():
            lines = [*lines, visible(self.partial)][-LIVE:]
        return lines


def message_text(msg: dict[str, Any]) -> str:
    """What a progress message prints: its ``stream`` as it is, or its ``status`` as a line."""
    if isinstance(msg.get("stream"), str):
        return str(msg["stream"])
    if msg.get("status"):
        return f"{msg['id']}: {msg['status']}\n" if msg.get("id") else f"{msg['status']}\n"
    return ""


def visible(line: str) -> str:
    """A line of output as a terminal would leave it: what follows its last carriage return,
    without escape sequences or control characters, tabs expanded."""
    return _CONTROL.sub("", line.rstrip("\r").rpartition("\r")[2]).expandtabs()


def fit(text: str, right: str, width: int) -> str:
    """``text`` cut to the terminal's width (its last column left free), ``right`` at the right."""
    room = width - 1 - (len(right) + 1 if right else 0)
    if room <= 0:
        return f"{text} {right}".rstrip()
    return f"{text[:room]:<{room}} {right}" if right else text[:room]


def render(state: BuildState, now: float, width: int, final: bool = False) -> list[str]:
    """One frame of the terminal display: the header, each step with its time, the running
    step's last lines of output under it."""
    done = sum(1 for s in state.steps if s.ended is not None)
    elapsed = (now if state.ended is None else state.ended) - state.started
    header = f"[+] Building {elapsed:.1f}s ({done}/{max(state.total, len(state.steps))})"
    lines = [header + (" FINISHED" if final else "")]
    for step in [state.context, *state.steps, *([state.export] if state.export else [])]:
        mark = "ERROR " if step.failed else "CACHED " if step.cached else ""
        lines.append(fit(f" => {mark}{step.label}", f"{step.seconds(now):.1f}s", width))
        lines += [fit(f" => => {d}", "", width) for d in step.details]
        if step.ended is None and not final:
            lines += [fit(f" => => # {out}", "", width) for out in state.live_output(step)]
    return lines


def failure_report(state: BuildState) -> list[str]:
    """The failed step's output, as BuildKit shows it after the steps."""
    step = next((s for s in state.steps if s.failed), None)
    return ["------", f" > {step.label}:", *step.output, "------"] if step else []


def sending_line(sent: int) -> str:
    return f"Sending build context to Docker daemon {human_size(sent):>8}\r\r\n"


def messages(resp: Any) -> Iterator[dict[str, Any]]:
    for line in resp.lines():
        if not line.strip():
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            msg = None
        yield msg if isinstance(msg, dict) else {"stream": line.decode(errors="replace") + "\n"}


class Plain:
    """The classic CLI's output: the stream as it comes, the context's size once it is sent."""

    def __init__(self, out: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.state = BuildState(clock)

    def sending(self, sent: int, done: bool) -> None:
        self.state.sending(sent, done)
        if done:
            self.out.write(sending_line(sent))
            self.out.flush()

    def show(self, msg: dict[str, Any]) -> None:
        self.state.feed(msg)
        if not self.state.error and (text := message_text(msg)):
            self.out.write(text)
            self.out.flush()

    def follow(self, resp: Any) -> None:
        for msg in messages(resp):
            self.show(msg)
            if self.state.error:
                return  # docker stops at the first error

    def close(self) -> None:
        self.state.finish()

    def succeeded(self) -> None:
        pass

    def failed(self) -> None:
        pass


class Quiet(Plain):
    """``-q``: nothing but the image ID at the end; all of it on stderr if the build fails."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(io.StringIO(), clock)
        self.progress = ""

    def sending(self, sent: int, done: bool) -> None:
        self.state.sending(sent, done)
        self.progress = sending_line(sent) if done else ""

    def succeeded(self) -> None:
        assert isinstance(self.out, io.StringIO)
        sys.stdout.write(self.out.getvalue() or self.state.image_id + "\n")

    def failed(self) -> None:
        assert isinstance(self.out, io.StringIO)
        sys.stderr.write(self.progress + self.out.getvalue())


class Tty(Plain):
    """The display drawn in place: each frame goes up over the last one and clears its lines."""

    INTERVAL = 0.1

    def __init__(self, out: IO[str], clock: Callable[[], float] = time.monotonic,
                 size: Callable[[], tuple[int, int]] | None = None) -> None:  # fmt: skip
        super().__init__(out, clock)
        self.size = size or self._terminal_size
        self.drawn = 0
        self.last = float("-inf")

    def _terminal_size(self) -> tuple[int, int]:
        """(columns, lines): $COLUMNS/$LINES, else the terminal's, else 80x24 (as shutil has it)."""
        try:
            cols, rows = os.get_terminal_size(self.out.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            cols = rows = 0
        env = os.environ
        cols = int(env["COLUMNS"]) if env.get("COLUMNS", "").isdigit() else cols
        rows = int(env["LINES"]) if env.get("LINES", "").isdigit() else rows
        return cols or 80, rows or 24

    def sending(self, sent: int, done: bool) -> None:
        self.state.sending(sent, done)
        self.tick()

    def show(self, msg: dict[str, Any]) -> None:
        self.state.feed(msg)
        self.tick()

    def tick(self) -> None:
        now = self.state.clock()
        if now - self.last >= self.INTERVAL:
            self.draw(now)
            self.last = now

    def draw(self, now: float, final: bool = False) -> None:
        cols, rows = self.size()
        lines = render(self.state, now, cols, final)
        if not final and rows > 2 and len(lines) > rows - 1:
            lines = [lines[0], *lines[-(rows - 2) :]]  # what the screen holds: the latest steps
        frame = f"\x1b[{self.drawn}A\r" if self.drawn else ""
        frame += "".join(f"\x1b[2K{line}\n" for line in lines)
        if len(lines) < self.drawn:
            frame += "\x1b[J"
        self.out.write(frame)
        self.out.flush()
        self.drawn = len(lines)

    def follow(self, resp: Any) -> None:
        """Read the stream in a thread, so that the clock goes on while a step prints nothing."""
        import queue
        import threading

        q: queue.Queue[dict[str, Any] | Exception | None] = queue.Queue()

        def read() -> None:
            try:
                for msg in messages(resp):
                    q.put(msg)
            except Exception as exc:
                q.put(exc)
            q.put(None)

        threading.Thread(target=read, daemon=True).start()
        while not self.state.error:
            try:
                item = q.get(timeout=self.INTERVAL)
            except queue.Empty:
                self.tick()
                continue
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            self.show(item)

    def close(self) -> None:
        self.state.finish()
        self.draw(self.state.clock(), final=True)
        extra = failure_report(self.state) + self.state.notes
        if extra:
            self.out.write("\n".join(extra) + "\n")
            self.out.flush()


def make_view(quiet: bool, progress: str, out: IO[str]) -> Plain:
    if quiet:
        return Quiet()
    if progress == "tty" or (progress == "auto" and out.isatty()):
        return Tty(out)
    return Plain(out)
