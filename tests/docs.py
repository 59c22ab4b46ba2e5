"""The commands of docs/*.md, run as a reader would run them.

A fenced block opened with ```console holds a session: a line ``$ command`` is run in bash
(with ``DOCKER_HOST``/``WHARF_HOST`` pointing at the test daemon and ``$SOCK`` its socket);
the lines after it, up to the next ``$`` line, are what it must print (stdout and stderr
together). ``...`` on a line of its own stands for any lines; a line ending in ``...`` only
has to start as written. A session's commands share one shell, so a variable or a container
one command makes is there for the next.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
_BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)


@dataclass(frozen=True)
class Step:
    command: str
    expected: tuple[str, ...]


@dataclass(frozen=True)
class Session:
    page: str
    line: int
    steps: tuple[Step, ...]

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}"


def sessions() -> list[Session]:
    out = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text()
        for m in _BLOCK.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            out.append(Session(page.name, line, tuple(_steps(m.group(1)))))
    return out


def _steps(block: str) -> list[Step]:
    steps: list[tuple[str, list[str]]] = []
    for raw in block.splitlines():
        if raw.startswith("$ "):
            steps.append((raw[2:], []))
        elif steps:
            steps[-1][1].append(raw)
    return [Step(cmd, tuple(exp)) for cmd, exp in steps]


def matches(expected: tuple[str, ...], got: list[str]) -> bool:
    """``got`` as ``expected`` says: exact lines, ``...`` for any lines, ``prefix...``."""
    if not expected:
        return not got
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(matches(rest, got[i:]) for i in range(len(got) + 1))
    if not got:
        return False
    ok = got[0].startswith(head[:-3]) if head.endswith("...") else got[0] == head
    return ok and matches(rest, got[1:])


def run(session: Session, env: dict[str, str], timeout: float = 120) -> list[str]:
    """Run the session's commands in one bash; the failures, in words (empty: it holds)."""
    marker = "__wharf_docs_step__"
    script = "\n".join(f"echo {marker}\n{s.command} 2>&1" for s in session.steps) + "\n"
    r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=timeout)
    outputs = r.stdout.split(marker + "\n")[1:]
    failures = []
    for i, step in enumerate(session.steps):
        got = outputs[i].splitlines() if i < len(outputs) else ["<not run>"]
        if not matches(step.expected, got):
            want = "\n".join(step.expected)
            failures.append(f"$ {step.command}\n--- expected\n{want}\n--- got\n" + "\n".join(got))
    return failures
