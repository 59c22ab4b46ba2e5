"""The shape of src/wharf, read with ``ast``: layers that hold, no import cycles, small modules
and functions, and container statuses decided in one place. docs/architecture.md ("Layers")
draws the same table; change both together."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# package -> rank. A module may import modules of lower-ranked packages and of its own package;
# packages of equal rank may not import each other. Bottom first.
RANK = {
    "errors": 0,
    "base": 1,
    "oci": 2,
    "runtime": 3,
    "content": 4,
    "archive": 4,
    "dockerconfig": 4,
    "network": 4,
    "volumes": 4,
    "snapshots": 5,
    "metadata": 6,
    "images": 7,
    "distribution": 8,
    "engine": 9,
    "build": 10,
    "api": 11,
    "client": 11,
    "fixtures": 11,
    "daemon": 12,
    "cli": 12,
}
# edges narrower than the ranks: the CLI is a thin client of the API (no engine, no stores)
ONLY = {
    "cli": {"errors", "base", "oci", "archive", "dockerconfig", "client", "engine.state", "build.ignore"},
    "client": {"errors", "base", "oci"},
}
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
STATUSES = {"created", "running", "paused", "restarting", "removing", "exited", "dead", "stopped"}
# Docker's container lifecycle, and the OCI runtime's own (created/running/paused/stopped)
STATE_MODULES = ("wharf.engine.state", "wharf.runtime.state")


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    imports: set[str] = field(default_factory=set)  # every wharf module it names
    runtime_imports: set[str] = field(default_factory=set)  # those not under TYPE_CHECKING


def _modules() -> dict[str, Module]:
    out = {}
    for p in sorted((SRC / "wharf").rglob("*.py")):
        parts = p.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = Module(name, p, ast.parse(p.read_text(), str(p)))
    for m in out.values():
        for node, typing_only in _import_nodes(m.tree):
            for target in _targets(node, out):
                if target != m.name:
                    m.imports.add(target)
                    if not typing_only:
                        m.runtime_imports.add(target)
    return out


def _import_nodes(tree: ast.AST, typing_only: bool = False) -> Iterator[tuple[ast.stmt, bool]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, typing_only
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _import_nodes(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from _import_nodes(ast.Module(body=[child], type_ignores=[]), typing_only)
        else:
            yield from _import_nodes(node, typing_only)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.stmt, mods: dict[str, Module]) -> Iterator[str]:
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        names = [f"{node.module}.{a.name}" for a in node.names]
    for name in names:
        parts = name.split(".")
        for i in range(len(parts), 0, -1):  # the longest prefix that is a module
            if ".".join(parts[:i]) in mods:
                yield ".".join(parts[:i])
                break


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


MODULES = _modules()


def _allowed(src: str, dst: str) -> bool:
    sp, dp = _package(src), _package(dst)
    if not dp or sp == dp:  # wharf/__init__ (the version), or its own package
        return True
    if sp in ONLY:
        return dp in ONLY[sp] or dst.removeprefix("wharf.") in ONLY[sp]
    return RANK[dp] < RANK[sp]


def test_every_package_has_a_rank() -> None:
    packages = {_package(m) for m in MODULES} - {""}
    assert packages <= set(RANK), (
        f"give these a rank (and a place in docs/architecture.md): {packages - set(RANK)}"
    )


def test_imports_run_down_the_layers() -> None:
    wrong = sorted(
        f"{m.name} imports {dst}" for m in MODULES.values() for dst in m.imports if not _allowed(m.name, dst)
    )
    assert not wrong, "imports that run up (or across) the layers:\n" + "\n".join(wrong)


def test_no_import_cycles() -> None:
    """A cycle of imports that run (TYPE_CHECKING imports only name types) is a tangle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(MODULES[v].runtime_imports):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for name in sorted(MODULES):
        if name not in index:
            visit(name)
    assert not cycles, f"import cycles: {cycles}"


def test_modules_are_small() -> None:
    big = {
        m.name: n for m in MODULES.values() if (n := len(m.path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not big, f"modules over {MAX_MODULE_LINES} lines: {big}"


def _declarative(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A table written as code: nothing but calls and assignments whose arguments are literals
    (and names), and at most a return of one."""
    for stmt in fn.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # the docstring
        value = stmt.value if isinstance(stmt, ast.Expr | ast.Assign | ast.Return) else None
        if value is None or any(
            isinstance(
                n, ast.If | ast.For | ast.While | ast.comprehension | ast.Lambda | ast.BoolOp | ast.Compare
            )
            for n in ast.walk(value)
        ):
            return False
    return True


def test_functions_are_short() -> None:
    long = sorted(
        f"{m.name}.{fn.name}: {n} lines"
        for m in MODULES.values()
        for fn in ast.walk(m.tree)
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
        and (n := (fn.end_lineno or fn.lineno) - fn.lineno + 1) > MAX_FUNCTION_LINES
        and not _declarative(fn)
    )
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (not declarative tables):\n" + "\n".join(
        long
    )


def _status_comparisons(tree: ast.AST) -> Iterator[int]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        for operand in (node.left, *node.comparators):
            consts = [operand] if isinstance(operand, ast.Constant) else []
            if isinstance(operand, ast.Tuple | ast.List | ast.Set):
                consts = [e for e in operand.elts if isinstance(e, ast.Constant)]
            if any(isinstance(c, ast.Constant) and c.value in STATUSES for c in consts) and _about_status(
                node
            ):
                yield node.lineno


def _about_status(node: ast.Compare) -> bool:
    """The comparison reads a status or state (``c.state.status == "running"``,
    ``c.get("State") in (...)``), not an unrelated word such as an image's "created" key."""
    text = ast.unparse(node).lower()
    return "status" in text or "state" in text


def test_statuses_are_compared_only_in_the_state_module() -> None:
    found = sorted(
        f"{m.path.relative_to(SRC)}:{line}"
        for m in MODULES.values()
        if m.name not in STATE_MODULES
        for line in _status_comparisons(m.tree)
    )
    assert not found, f"status strings compared outside {STATE_MODULES}: {found}"


@pytest.mark.parametrize(
    "code,count",
    [
        ('if c.state.status == "running": pass', 1),
        ('ok = c.get("State") in ("running", "paused")', 1),
        ('if k == "created": pass', 0),
        ("if c.state.status is Status.RUNNING: pass", 0),
    ],
)
def test_the_status_check_sees_what_it_should(code: str, count: int) -> None:
    assert len(list(_status_comparisons(ast.parse(code)))) == count


def test_the_layer_check_refuses_an_upward_import() -> None:
    assert not _allowed("wharf.network.manager", "wharf.engine.containers")
    assert not _allowed("wharf.cli.run", "wharf.engine.engine")
    assert _allowed("wharf.cli.system", "wharf.engine.state")
    assert _allowed("wharf.engine.start", "wharf.network.manager")
    assert not _allowed("wharf.network.manager", "wharf.volumes.store")  # equal rank
