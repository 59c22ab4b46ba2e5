"""OCI hooks: run each hook with the container's state as JSON on its stdin.

A hook that exits non-zero or outlives its ``timeout`` is an error naming the hook phase and
path. ``subprocess`` is imported only when a hook actually runs: most containers have none,
and the import costs more than starting a container.
"""

from __future__ import annotations

from wharf.errors import FailedPrecondition
from wharf.oci import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def run(phase: str, hooks: list[dict[str, Any]] | None, state: dict[str, Any]) -> None:
    """Run the hooks of one phase in order; the first failure raises ``FailedPrecondition``."""
    if not hooks:
        return
    import subprocess

    payload = fastjson.dumps(state).encode()
    for i, hook in enumerate(hooks):
        args = hook.get("args") or [hook["path"]]
        where = f"{phase} hook [{i}] {hook['path']}"
        try:
            proc = subprocess.run(
                args,
                executable=hook["path"],
                input=payload,
                env=dict(e.split("=", 1) for e in hook.get("env") or () if "=" in e),
                capture_output=True,
                timeout=hook.get("timeout"),
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise FailedPrecondition(f"{where}: timed out after {hook['timeout']}s") from None
        except OSError as exc:
            raise FailedPrecondition(f"{where}: {exc.strerror}") from None
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).decode(errors="replace").strip()
            raise FailedPrecondition(f"{where}: exit status {proc.returncode}: {detail}".rstrip(": "))


def run_logged(phase: str, hooks: list[dict[str, Any]] | None, state: dict[str, Any]) -> str | None:
    """Run hooks whose failure the spec says must only be logged (poststart, poststop)."""
    try:
        run(phase, hooks, state)
    except FailedPrecondition as exc:
        return str(exc)
    return None
