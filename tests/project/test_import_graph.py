"""The packages' import graph: no cycles, and the layers of ``seamrefine`` only import downwards.

Every import statement counts, also those inside functions and under ``TYPE_CHECKING``: a cycle that
is only broken by importing late is still a cycle for the reader.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = {
    "seamrefine": REPO / "server" / "seamrefine",
    "seamrefine_train": REPO / "export" / "seamrefine_train",
    "seamrefine_plugins": REPO / "plugins",
}
# what each part of seamrefine may import from seamrefine (besides itself and seamrefine.errors)
LAYERS = {
    "imaging": set(),
    "runtime": {"imaging"},
    "service": {"imaging", "runtime", ""},  # "": the package root (version numbers)
    "app": {"imaging", "runtime", "service", ""},
}


def module_files() -> dict[str, Path]:
    """Dotted module name → source file, for every module of the three packages."""
    out = {}
    for package, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((package, *parts))] = path
    return out


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` (at ``path``) imports, anywhere in the file."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import sub` needs the submodule, not what pkg/__init__.py defines
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.c` names a.b.c; `from a import f` names a
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_relative_imports_resolve():
    graph = import_graph()
    assert "seamrefine.imaging.imagemath" in graph["seamrefine.imaging.metrics"]
    assert "seamrefine.errors" in graph["seamrefine.runtime.inference"]


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def _part(module: str) -> str | None:
    """``imaging``/``runtime``/``service``/``app`` for a seamrefine module, "" for the root, else None."""
    parts = module.split(".")
    if parts[0] != "seamrefine" or module == "seamrefine.errors":
        return None
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("part", sorted(LAYERS))
def test_parts_import_only_lower_parts(part):
    wrong = {}
    for module, targets in import_graph().items():
        if _part(module) != part:
            continue
        bad = {t for t in targets if _part(t) not in (None, part) and _part(t) not in LAYERS[part]}
        if bad:
            wrong[module] = sorted(bad)
    assert not wrong, f"seamrefine.{part} imports from a part above it: {wrong}"


def test_training_imports_only_imaging_and_runtime():
    graph = import_graph()
    wrong = {
        m: sorted(t for t in targets if _part(t) not in (None, "imaging", "runtime"))
        for m, targets in graph.items()
        if m.startswith("seamrefine_train")
    }
    assert not {m: t for m, t in wrong.items() if t}


def test_imaging_is_pure_numpy():
    third_party = set()
    for path in ROOTS["seamrefine"].joinpath("imaging").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                third_party |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                third_party.add(node.module.split(".")[0])
    assert third_party - set(sys.stdlib_module_names) - {"seamrefine"} == {"numpy"}
