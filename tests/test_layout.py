"""The package's shape: no import cycles (function-level imports included), and no import of arcticsql's
own modules inside a function except to defer an optional dependency (said so in a comment)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "arcticsql"

#: Modules a function may import lazily, each because it pulls in an optional dependency.
DEFERRED = {
    "arcticsql.cli.magics",  # IPython (the notebook extra)
    "arcticsql.spark.dbapi",  # PySpark (the spark extra), for run/query --engine spark
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, bool, int]]:
    """(imported arcticsql module, inside a function, line) for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = {id(inner) for function in functions for inner in ast.walk(function)
              if isinstance(inner, (ast.Import, ast.ImportFrom))}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name in modules:
                found.append((name, id(node) in nested, node.lineno))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for imported, _inside, _line in _imports(path, modules):
            if imported != name:
                graph[name].add(imported)
    return graph


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_no_function_level_imports_of_the_package():
    modules = _modules()
    lazy = [f"{name}:{line} imports {imported}" for name, path in modules.items()
            for imported, inside, line in _imports(path, modules) if inside and imported not in DEFERRED]
    assert lazy == []


@pytest.mark.parametrize("name", sorted(DEFERRED))
def test_deferred_imports_say_why(name):
    modules = _modules()
    for module, path in modules.items():
        lines = path.read_text().splitlines()
        for imported, inside, line in _imports(path, modules):
            if inside and imported == name:
                assert "#" in lines[line - 1], f"{module}:{line} defers {name} without a comment saying why"


#: Modules fenced off for a dependency's private API, each with contract tests, and what marks its use there.
FENCED = {
    "arcticsql.arcticdb_private": ("._nvs", "arcticdb_ext"),  # ArcticDB's NativeVersionStore and C++ bindings
    "arcticsql.sources.protocol": ("duckdb._sources",),      # DuckDB 2.0's Arrow scan protocol
}


@pytest.mark.parametrize("module", sorted(FENCED))
def test_private_apis_only_in_their_fenced_module(module):
    markers = FENCED[module]
    elsewhere = [(name, marker) for name, path in _modules().items() if name != module
                 for marker in markers if marker in path.read_text()]
    assert elsewhere == [], f"only {module} may use {markers}"
