"""README's "Configuration" table lists every environment variable the code reads.

No stack needed: the code is read, not run. Reads are found in
- Python under bot/, actions/, scripts/: `os.environ.get("X")`, `os.environ["X"]`,
  `os.getenv("X")`, `"X" in os.environ`, pydantic settings fields (`Field(env="X")`, or
  the field's name), the same on a mapping named `env`/`environ`
  (the entry points pass `os.environ` around), names given by module constants
  (`TOKEN_ENV = "KEFU_ACTION_TOKEN"`), and calls of our own helpers that read the variable
  named by one of their parameters (`_float("SMS_RATE_PER_SEC", …)`, `int_setting(env,
  "DESK_PORT", …)`), found by following those parameters;
- shell scripts under scripts/: `${X:-default}` and the other default forms, and `$X` / `${X}`
  where the script never sets X itself;
- endpoints.yml and credentials.yml: `${X}`.

Adding a variable without a row fails here, naming the variable and where it is read.
A row for a variable that nothing reads any more fails too.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_DIRS = ("bot", "actions", "scripts")
YAML_FILES = ("endpoints.yml", "credentials.yml")
NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

# Variables scripts read that belong to the system or to other tools, not to Kefu's
# configuration: the table documents what an operator of Kefu sets.
NOT_KEFU = {
    # the shell and the OS
    "HOME", "PATH", "PWD", "OLDPWD", "USER", "UID", "EUID", "SHELL", "TERM", "TMPDIR", "LANG",
    "HOSTNAME", "IFS", "RANDOM", "SECONDS", "LINENO", "BASH_SOURCE", "BASH_VERSION",
    "BASHPID", "PPID", "OSTYPE", "PIPESTATUS", "FUNCNAME", "SUDO_USER", "CI",
    # tools the scripts drive or configure for themselves
    "VIRTUAL_ENV", "PYENV_ROOT", "DEBIAN_FRONTEND", "PIP_DISABLE_PIP_VERSION_CHECK",
    "TF_CPP_MIN_LOG_LEVEL", "CUDA_VISIBLE_DEVICES", "RASA_TELEMETRY_ENABLED",
    "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH", "PLAYWRIGHT_BROWSERS_PATH",
    "SANIC_HOST", "SANIC_REQUEST_MAX_SIZE",
}  # fmt: skip

SHELL_DEFAULT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?[-=?+]")
SHELL_PLAIN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
SHELL_ASSIGN = re.compile(
    r"(?:^|[\s;&|(!])(?:export\s+|local\s+|readonly\s+|declare\s+(?:-\w+\s+)*)?"
    r"([A-Za-z_][A-Za-z0-9_]*)\+?="
)
SHELL_LOOP_OR_READ = re.compile(r"\b(?:for|read(?:\s+-\w+)*)\s+([A-Za-z_][A-Za-z0-9_]*)")
SHELL_PYTHON = re.compile(
    r"os\.(?:environ(?:\.get)?\s*[\[(]|getenv\s*\()\s*['\"]([A-Z][A-Z0-9_]*)['\"]"
)
YAML_VAR = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


# ---------------------------------------------------------------- Python
def _is_environ(node: ast.AST) -> bool:
    """`os.environ`, `environ`, or a mapping named `env` (how our entry points pass it)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in ("environ", "env")


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


class _Module:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        self.constants: dict[str, str] = {}
        for node in ast.walk(self.tree):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.constants[target.id] = node.value.value
        for parent in ast.walk(self.tree):
            for child in ast.iter_child_nodes(parent):
                child.parent = parent  # type: ignore[attr-defined]

    def function_of(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        while node is not None:
            node = getattr(node, "parent", None)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return None

    def where(self, node: ast.AST) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{getattr(node, 'lineno', '?')}"


def _params(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = function.args
    return [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]


def _key_nodes(node: ast.AST) -> list[ast.AST]:
    """The expressions naming a variable read from the environment by `node`, if any."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "getenv" and node.args:
            return [node.args[0]]
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("get", "pop", "setdefault")
            and _is_environ(func.value)
            and node.args
        ):
            return [node.args[0]]
        # pydantic: a settings field names its variable, Field(..., env="X")
        if _callee(node) == "Field":
            return [k.value for k in node.keywords if k.arg == "env"]
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        if isinstance(node.ctx, ast.Load):
            return [node.slice]
    if isinstance(node, ast.Compare) and any(isinstance(o, (ast.In, ast.NotIn)) for o in node.ops):
        if any(_is_environ(c) for c in node.comparators):
            return [node.left]
    return []


def python_files() -> list[Path]:
    return [
        path
        for folder in PYTHON_DIRS
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


def python_reads(paths: list[Path] | None = None) -> dict[str, set[str]]:
    modules = [_Module(path) for path in (python_files() if paths is None else paths)]
    reads: dict[str, set[str]] = defaultdict(set)
    # Our helpers that read the variable named by a parameter: name -> parameter positions.
    readers: dict[str, set[int]] = defaultdict(set)
    reader_names: dict[str, set[str]] = defaultdict(set)

    def resolve(module: _Module, key: ast.AST, site: ast.AST) -> None:
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            if NAME.match(key.value):
                reads[key.value].add(module.where(site))
        elif isinstance(key, ast.Name):
            if key.id in module.constants:
                resolve(module, ast.Constant(module.constants[key.id]), site)
                return
            function = module.function_of(site)
            if function is not None and key.id in _params(function):
                position = _params(function).index(key.id)
                if position not in readers[function.name]:
                    readers[function.name].add(position)
                    reader_names[function.name].add(key.id)
                    changed[0] = True

    changed = [True]
    while changed[0]:  # until no new helper is found (helpers call helpers)
        changed[0] = False
        for module in modules:
            for node in ast.walk(module.tree):
                for key in _key_nodes(node):
                    resolve(module, key, node)
                if isinstance(node, ast.Call) and _callee(node) in readers:
                    name = _callee(node)
                    for position in readers[name]:
                        if position < len(node.args):
                            resolve(module, node.args[position], node)
                    for keyword in node.keywords:
                        if keyword.arg in reader_names[name]:
                            resolve(module, keyword.value, node)
    for module in modules:
        for field, site in _implicit_settings_fields(module, readers):
            reads[field].add(module.where(site))
    return reads


def _implicit_settings_fields(
    module: _Module, readers: dict[str, set[int]]
) -> Iterator[tuple[str, ast.AST]]:
    """Fields of a pydantic BaseSettings class that name no variable: pydantic reads
    `env_prefix` + the field's name in capitals."""
    for cls in ast.walk(module.tree):
        if not isinstance(cls, ast.ClassDef):
            continue
        if not any(getattr(b, "id", getattr(b, "attr", "")) == "BaseSettings" for b in cls.bases):
            continue
        prefix = ""
        for inner in cls.body:
            if isinstance(inner, ast.ClassDef) and inner.name == "Config":
                for item in inner.body:
                    if (
                        isinstance(item, ast.Assign)
                        and any(getattr(t, "id", "") == "env_prefix" for t in item.targets)
                        and isinstance(item.value, ast.Constant)
                    ):
                        prefix = str(item.value.value)
        for item in cls.body:
            if not isinstance(item, ast.AnnAssign) or not isinstance(item.target, ast.Name):
                continue
            value = item.value
            if isinstance(value, ast.Call) and (
                _callee(value) in readers
                or (_callee(value) == "Field" and any(k.arg == "env" for k in value.keywords))
            ):
                continue  # names its variable: found above
            yield (prefix + item.target.id).upper(), item


# ---------------------------------------------------------------- shell and YAML
def shell_reads() -> dict[str, set[str]]:
    reads: dict[str, set[str]] = defaultdict(set)
    scripts = sorted(p for p in (ROOT / "scripts").iterdir() if p.suffix == ".sh")
    shared_env = ROOT / "scripts" / "env.sh"  # sourced by the other scripts
    shared_assigned = (
        set(SHELL_ASSIGN.findall(shared_env.read_text())) if shared_env.exists() else set()
    )
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        code = "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())
        assigned = set(SHELL_ASSIGN.findall(code)) | set(SHELL_LOOP_OR_READ.findall(code))
        if script != shared_env:
            assigned |= shared_assigned
        where = str(script.relative_to(ROOT))
        for name in SHELL_DEFAULT.findall(code):
            reads[name].add(where)
        for braced, bare in SHELL_PLAIN.findall(code):
            name = braced or bare
            if name not in assigned:
                reads[name].add(where)
        for name in SHELL_PYTHON.findall(text):
            reads[name].add(where)
    return {name: places for name, places in reads.items() if NAME.match(name)}


def yaml_reads() -> dict[str, set[str]]:
    reads: dict[str, set[str]] = defaultdict(set)
    for name in YAML_FILES:
        for var in YAML_VAR.findall((ROOT / name).read_text(encoding="utf-8")):
            reads[var].add(name)
    return reads


def code_reads() -> dict[str, set[str]]:
    reads: dict[str, set[str]] = defaultdict(set)
    for found in (python_reads(), shell_reads(), yaml_reads()):
        for name, places in found.items():
            if name not in NOT_KEFU:
                reads[name] |= places
    return reads


def documented() -> set[str]:
    """Every `NAME` in the first column of the README's Configuration table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            first_cell = line.split("|")[1]
            names |= {n for n in re.findall(r"`([^`]+)`", first_cell) if NAME.match(n)}
    return names


# ---------------------------------------------------------------- the tests
def test_every_variable_the_code_reads_has_a_row() -> None:
    reads, table = code_reads(), documented()
    missing = {name: sorted(reads[name]) for name in sorted(set(reads) - table)}
    assert not missing, "README.md Configuration table has no row for: " + "; ".join(
        f"{name} (read in {', '.join(places)})" for name, places in missing.items()
    )


def test_every_row_is_read_by_the_code() -> None:
    stale = sorted(documented() - set(code_reads()))
    assert not stale, f"README.md documents variables nothing reads: {stale}"


SAMPLE = """
import os
from pydantic import BaseSettings, Field

REGION = os.environ.get("A_MODULE_LEVEL", "CN")
TOKEN_ENV = "A_CONSTANT_NAME"


def _float(name, default):
    return float(os.environ.get(name, default))


def _int(name, default):
    return int(_float(name, default))


def _var(default, env, meaning):
    return Field(default, env=env, description=meaning)


def settings(env=os.environ):
    return (
        env.get("A_MAPPING_GET"),
        env["A_MAPPING_ITEM"],
        os.getenv("A_GETENV"),
        "A_MEMBERSHIP" in os.environ,
        os.environ.get(TOKEN_ENV),
        _float("A_HELPER", 1.0),
        _int("A_HELPER_OF_A_HELPER", 2),
        int_setting(env, "NOT_A_READ", 3),  # an unknown function: not guessed
    )


class Settings(BaseSettings):
    explicit: str = Field("x", env="A_FIELD")
    through_helper: int = _var(1, "A_FIELD_HELPER", "meaning")
    implicit_field: str = "y"

    class Config:
        env_prefix = "KEFU_"
"""


def test_the_scanner_finds_every_kind_of_read(tmp_path: Path) -> None:
    """The scanner itself, on a sample of every way of reading a variable."""
    sample = tmp_path / "sample.py"
    sample.write_text(SAMPLE, encoding="utf-8")
    assert set(python_reads([sample])) == {
        "A_MODULE_LEVEL",
        "A_CONSTANT_NAME",
        "A_MAPPING_GET",
        "A_MAPPING_ITEM",
        "A_GETENV",
        "A_MEMBERSHIP",
        "A_HELPER",
        "A_HELPER_OF_A_HELPER",
        "A_FIELD",
        "A_FIELD_HELPER",
        "KEFU_IMPLICIT_FIELD",
    }
    # The shell scripts and Rasa's YAML are read too; tools' own variables are not ours.
    reads = code_reads()
    assert "REDIS_HOST" in reads  # ${...} in endpoints.yml
    assert "KEFU_LOCAL_REDIS_PORT" in reads  # ${...:-default} in scripts/env.sh
    assert "TF_CPP_MIN_LOG_LEVEL" not in reads


# ---------------------------------------------------------------- one settings module
SETTINGS_MODULE = ROOT / "bot" / "settings.py"
# Where the environment may be touched outside bot/settings.py, and why. Writes only:
# these hand settings to code that reads the environment itself.
ENVIRON_ALLOWED = {
    "bot/rasa_server.py": "writes SANIC_REQUEST_MAX_SIZE, KEFU_TRACKER_RETENTION_S and "
    "TICKET_LOCK_LIFETIME for Sanic, endpoints.yml and Rasa's lock store, read by the "
    "`rasa run` it starts in the same process",
    "actions/server.py": "writes SANIC_HOST, which rasa_sdk's server binds",
}


def _environ_uses(path: Path) -> list[tuple[int, str]]:
    """Every `os.environ` / `environ` / `getenv` in a module, with what it does."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            child.parent = parent  # type: ignore[attr-defined]
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            parent = getattr(node, "parent", None)
            kind = "read"
            if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store):
                kind = "write"
            elif isinstance(parent, ast.Attribute) and parent.attr == "update":
                kind = "write"
            uses.append((node.lineno, kind))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(alias.name in ("environ", "getenv") for alias in node.names):
                uses.append((node.lineno, "read"))
    return uses


def test_only_the_settings_module_reads_the_environment() -> None:
    offenders = []
    for path in python_files():
        relative = str(path.relative_to(ROOT))
        if path == SETTINGS_MODULE or not relative.startswith(("bot/", "actions/")):
            continue
        for line, kind in _environ_uses(path):
            if kind == "write" and relative in ENVIRON_ALLOWED:
                continue
            offenders.append(f"{relative}:{line} ({kind})")
    assert not offenders, (
        "read settings through bot.settings (add a field there), not the environment: "
        + ", ".join(offenders)
    )
    # Nor through a reader the scanner knows (env.get(...) on a mapping, helpers).
    others = [p for p in python_files() if p != SETTINGS_MODULE]
    stray = {
        name: sorted(places)
        for name, places in python_reads([p for p in others if "scripts" not in p.parts]).items()
    }
    assert not stray, f"environment read outside bot/settings.py: {stray}"


def test_every_variable_read_anywhere_is_a_settings_field() -> None:
    from bot.settings import ENV_NAMES

    fields = set(ENV_NAMES.values())
    unknown = {name: sorted(places) for name, places in code_reads().items() if name not in fields}
    assert not unknown, f"add a field to bot/settings.py for: {unknown}"


def test_fields_marked_for_rasa_or_the_scripts_are_read_there() -> None:
    from bot.settings import Settings

    outside = {**shell_reads()}
    for name, places in yaml_reads().items():
        outside.setdefault(name, set()).update(places)
    for field in Settings.__fields__.values():
        extra = field.field_info.extra
        if extra["read_by"] != "python":
            assert extra["env"] in outside, f"{extra['env']} is marked read by {extra['read_by']}"


def test_readme_table_is_the_generated_one() -> None:
    from bot.settings import markdown

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    assert markdown() in section, (
        "README.md's Configuration table differs from bot/settings.py: "
        "regenerate it with `python -m bot.settings --markdown`"
    )


def test_the_defaults_are_written_once() -> None:
    """The default Redis URL and time zone live in bot/settings.py; everything else imports
    them (the README's copy is generated)."""
    for literal in ("redis://localhost:6379/0", "Asia/Shanghai"):
        places = [
            str(path.relative_to(ROOT))
            for folder in ("bot", "actions", "scripts")
            for path in sorted((ROOT / folder).rglob("*"))
            if path.is_file()
            and path.suffix in (".py", ".sh", ".yml")
            and literal in path.read_text(encoding="utf-8")
        ]
        assert places == ["bot/settings.py"], f"{literal!r} in {places}"
