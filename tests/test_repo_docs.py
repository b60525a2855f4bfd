"""The repository documents itself: no file points outside it, and docs/architecture.md
names modules that exist and every module that does.

A clone holds only the repository, so a link to a file beside it is a dead link; and an
architecture document whose module map has drifted from the code is worse than none.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import ROOT

ARCHITECTURE = ROOT / "docs" / "architecture.md"
WHERE_HEADING = "## Where does X live"
# Spelled in pieces so this file does not match itself.
OUTSIDE_REFERENCES = ("../" + "shared", "DESIGN" + ".md")
# A backticked token that names a file or folder of the repository.
PATH_TOKEN = re.compile(r"`([A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-/]*|[A-Za-z0-9_\-]+\.[a-z]{2,4})`")


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc}")
    return [name for name in out.decode().split("\0") if name]


def where_table() -> list[tuple[str, list[str]]]:
    """(capability, paths) for each row of the "where does X live" table."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert WHERE_HEADING in text, f"docs/architecture.md has no '{WHERE_HEADING}' section"
    section = text.split(WHERE_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or set(cells[0]) <= {"-", " "}:
            continue
        if cells[0] == "Capability":
            continue
        rows.append((cells[0], PATH_TOKEN.findall(cells[1])))
    return rows


def test_no_tracked_file_refers_outside_the_repository() -> None:
    offenders = []
    for name in tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the work tree, not yet in the index
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary
        for number, line in enumerate(text.splitlines(), start=1):
            if any(ref in line for ref in OUTSIDE_REFERENCES):
                offenders.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not offenders, "files refer to documents outside the repository:\n" + "\n".join(
        offenders
    )


def test_readme_links_the_architecture() -> None:
    assert "(docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_where_table_names_only_existing_paths() -> None:
    rows = where_table()
    assert len(rows) >= 20, "the 'where does X live' table looks empty"
    missing = []
    for capability, paths in rows:
        if "planned" in capability.lower():
            continue  # not built yet: nothing to point at
        assert paths, f"row '{capability}' names no path"
        missing += [f"{capability}: {p}" for p in paths if not (ROOT / p).exists()]
    assert not missing, "docs/architecture.md names paths that do not exist:\n" + "\n".join(missing)


def test_every_module_is_named_in_the_architecture() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    modules = [
        name
        for name in tracked_files()
        if name.endswith(".py")
        and name.startswith(("bot/", "actions/"))
        and not name.endswith("/__init__.py")
    ]
    assert modules
    unnamed = [name for name in modules if f"`{name}`" not in text]
    assert not unnamed, (
        "modules missing from docs/architecture.md (add them to 'Where does X live'):\n"
        + "\n".join(unnamed)
    )
