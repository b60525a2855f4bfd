"""The import graph of bot/ and actions/ stays a clean downward flow.

Read from the source (ast), not by importing anything:
- no import cycle between project modules (a function-level import counts too: it only
  hides a cycle until the function runs);
- the domain packages (bot.tickets, bot.sms, bot.handoff) never import the desk
  (bot.desk): the desk composes them, they reach shared resources through bot.http;
- bot/ never imports actions/: the action server builds on bot/, not the other way;
- project modules are imported at the top of a module, except where ALLOWED says why.
Imports under `if TYPE_CHECKING:` are for annotations only and never run: not counted.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "actions")
DOMAIN = ("bot.tickets", "bot.sms", "bot.handoff")

# (module, imported module): why this import has to be inside a function.
ALLOWED: dict[tuple[str, str], str] = {
    ("bot.rasa_server", "bot.speedups"): "it imports Rasa (TensorFlow): only once the "
    "settings are valid, like the `rasa` import next to it",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, in_function: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every import statement with whether it sits inside a function, skipping
    TYPE_CHECKING blocks."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (pair for node in child.orelse for pair in _imports_of(node, in_function))
            continue
        yield from _imports_of(child, in_function)


def _imports_of(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.AST, bool]]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, in_function
        return
    nested = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    yield from _imports(node, nested)


def _targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The project modules an import statement loads (the most specific known name)."""

    def known_prefix(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        found = {known_prefix(alias.name) for alias in node.names}
    else:
        assert isinstance(node, ast.ImportFrom)
        base = node.module or ""
        if node.level:  # relative: from the module's package
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        # `from bot.desk import console` loads the submodule bot.desk.console;
        # `from bot.http import REDIS` loads bot.http.
        found = {
            f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else known_prefix(base)
            for alias in node.names
        }
    return {name for name in found if name and name.split(".")[0] in PACKAGES}


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, int]]]:
    """module -> imported project modules; and (module, imported, line) imported in a
    function."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    late: list[tuple[str, str, int]] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        for node, in_function in _imports(tree):
            for target in _targets(node, name, is_package, known):
                if target == name:
                    continue
                graph[name].add(target)
                if in_function:
                    late.append((name, target, node.lineno))  # type: ignore[attr-defined]
    return graph, late


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _in(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_no_import_cycles() -> None:
    graph, _ = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles (each line one cycle):\n" + "\n".join(
        " <-> ".join(cycle) for cycle in cycles
    )


@pytest.mark.parametrize(
    ("importers", "imported"),
    [
        # The desk composes the domain packages; they reach shared resources through bot.http.
        (DOMAIN, ("bot.desk",)),
        # The action server builds on bot/, not the other way.
        (("bot",), ("actions",)),
    ],
    ids=["domain packages never import the desk", "bot never imports actions"],
)
def test_forbidden_imports(importers: tuple[str, ...], imported: tuple[str, ...]) -> None:
    graph, _ = _graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if _in(module, importers)
        for target in targets
        if _in(target, imported)
    )
    assert not wrong, "\n".join(wrong)


def test_project_imports_are_at_module_level() -> None:
    _, late = _graph()
    wrong = sorted(
        f"{module}:{line} imports {target} inside a function"
        for module, target, line in late
        if (module, target) not in ALLOWED
    )
    assert not wrong, "\n".join(wrong) + "\n(move it up, or add it to ALLOWED with a reason)"


def test_the_check_sees_cycles_and_late_imports() -> None:
    """The checker itself: a planted cycle and a planted function-level import."""
    graph = {"bot.a": {"bot.b"}, "bot.b": {"bot.c"}, "bot.c": {"bot.a"}, "bot.d": {"bot.a"}}
    assert _cycles(graph) == [["bot.a", "bot.b", "bot.c"]]
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import b\n"
        "if TYPE_CHECKING:\n"
        "    from bot.desk import app\n"
        "def f():\n"
        "    from bot.sms.api import x\n"
    )
    known = {"bot.sms", "bot.sms.a", "bot.sms.b", "bot.sms.api", "bot.desk", "bot.desk.app"}
    found = {
        (target, late)
        for node, late in _imports(ast.parse(source))
        for target in _targets(node, "bot.sms.a", False, known)
    }
    assert found == {("bot.sms.b", False), ("bot.sms.api", True)}
