"""The layers point one way: app.py -> lab -> training -> training.hierarchy, and no import circle.

Reads every module's imports (top-level and inside functions) with ``ast``,
so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lab", "training")
CORE = "training.hierarchy"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    found["app"] = ROOT / "app.py"
    return found


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project's modules that ``path`` imports, anywhere in the file."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in known:  # "lab.ui.context" -> itself; "training.x.func" -> "training.x"
                name = name.rpartition(".")[0]
            if name:
                out.add(name)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports_of(p, set(mods)) - {m} for m, p in mods.items()}


def layer(module: str) -> int:
    """0: the core; 1: the rest of training; 2: lab; 3: app.py. An arrow may only point to a lower or equal layer."""
    if module == CORE or module.startswith(CORE + "."):
        return 0
    return {"training": 1, "lab": 2, "app": 3}[module.split(".")[0]]


def test_every_arrow_points_down_the_layers():
    wrong = [f"{a} -> {b}" for a, deps in graph().items() for b in deps if layer(b) > layer(a)]
    assert not wrong, "wrong-way imports (app.py -> lab -> training -> training.hierarchy):\n" + "\n".join(wrong)


def test_the_core_imports_only_itself():
    core = {m: d for m, d in graph().items() if layer(m) == 0}
    assert "training.hierarchy.grams" in core and "training.hierarchy.stats" in core
    outside = [f"{a} -> {b}" for a, deps in core.items() for b in deps if layer(b) != 0]
    assert not outside, "\n".join(outside)


def test_no_import_circle():
    g = graph()
    # a package's __init__ importing its own submodules is not a circle between concerns
    g = {m: {d for d in deps if not (m and d.startswith(m + "."))} for m, deps in g.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert not cycles, "import circles:\n" + "\n".join(cycles)
