"""tests/ is laid out like the code (tests/README.md): each folder mirrors a package of bot/
or actions/, or is one of the named cross-cutting suites, and shared helpers live in
conftest.py or tests/support/, never in a test module another module imports."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

TESTS = ROOT / "tests"
# Suites that test the product across packages, named in tests/README.md.
CROSS_CUTTING = {"integration", "browser", "fuzz", "stories", "nlu"}
# tests/bot holds the tests of bot/'s top-level modules; tests/support the shared helpers.
OWN = {"bot", "actions", "support"}


def _imported_modules(path: Path) -> list[str]:
    """Every module `path` imports, relative imports resolved against its package."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.append(module)
            # `from tests.x import test_y` imports the module test_y
            found += [f"{module}.{alias.name}" for alias in node.names]
    return found


def test_no_module_imports_a_test_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for module in _imported_modules(path)
        if module.split(".")[0] == "tests" and module.split(".")[-1].startswith("test_")
    ]
    assert not offenders, "move shared helpers to conftest.py or tests/support/:\n" + "\n".join(
        offenders
    )


def test_helpers_come_from_the_root_conftest_or_tests_support() -> None:
    """A folder's conftest.py holds its fixtures; what other modules import lives in
    tests/conftest.py or tests/support/."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for module in _imported_modules(path)
        if module.endswith(".conftest") and module != "tests.conftest"
    ]
    assert not offenders, "move them to tests/support/:\n" + "\n".join(offenders)


def test_every_folder_mirrors_the_code_or_is_a_named_suite() -> None:
    packages = {p.name for p in (ROOT / "bot").iterdir() if (p / "__init__.py").exists()}
    allowed = packages | OWN | CROSS_CUTTING
    for folder in sorted(p for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"):
        assert folder.name in allowed, (
            f"tests/{folder.name}/ mirrors no package of bot/ or actions/; "
            "name the package it tests, or list the suite in tests/README.md and CROSS_CUTTING"
        )
    for nested in sorted(TESTS.glob("*/*/")):
        if nested.name in {"__pycache__", "data"} or not any(nested.glob("test_*.py")):
            continue
        code = ROOT / "bot" / nested.relative_to(TESTS)
        assert (code / "__init__.py").exists(), f"{nested.relative_to(ROOT)} mirrors no package"
