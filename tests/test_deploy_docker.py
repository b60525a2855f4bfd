"""deploy/docker/Dockerfile and .dockerignore, read as Docker reads them (no Docker daemon
here): a multi-stage build on python:3.10-slim whose final stage runs as the unprivileged
user the Kubernetes manifests expect, without node, with the pinned runtime requirements,
the model trained from the inputs scripts/train.sh fingerprints, and a build context that
holds what the COPY lines need and never a secret."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support.deploy import (
    K8S,
    Stage,
    copy_sources,
    dockerfile_stages,
    dockerignore_patterns,
    in_context,
    kustomize,
    raw_compose,
)

PYTHON = "python:3.10-slim"


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return dockerfile_stages()


@pytest.fixture(scope="module")
def deployments() -> list[dict[str, Any]]:
    return [d for d in kustomize(K8S / "base") if d["kind"] == "Deployment"]


def stage(stages: list[Stage], name: str) -> Stage:
    [found] = [s for s in stages if s.name == name]
    return found


def test_multi_stage_on_python_3_10_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 3, "build stages apart from the image that runs"
    assert stages[-1].base == PYTHON, "the final image is python:3.10-slim"
    names = {s.name for s in stages}
    for s in stages:
        # Each stage starts from the pinned Python, node (first stage only) or an earlier stage.
        assert s.base in (PYTHON, *names) or s.base.startswith("node:"), s.base


def test_the_final_image_runs_as_the_user_kubernetes_expects(
    stages: list[Stage], deployments: list[dict[str, Any]]
) -> None:
    final = stages[-1]
    users = final.args("USER")
    assert users, "the final stage names its user"
    uid, _, gid = users[-1].partition(":")
    # Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit() and int(gid) > 0
    last_user = max(i for i, (kw, _) in enumerate(final.instructions) if kw == "USER")
    assert not any(kw == "RUN" for kw, _ in final.instructions[last_user:]), (
        "nothing runs as root after USER"
    )
    made = " ".join(final.args("RUN"))
    assert f"--uid {uid}" in made and f"--gid {gid}" in made, "the user is created in the image"
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]["securityContext"]
        assert (pod["runAsUser"], pod["runAsGroup"]) == (int(uid), int(gid))


def test_node_stays_in_its_build_stage(stages: list[Stage]) -> None:
    node = [s for s in stages if s.base.startswith("node:")]
    assert len(node) == 1 and node[0] is not stages[-1]
    assert any("npm ci --omit=dev" in run for run in node[0].args("RUN")), "runtime packages only"
    final = stages[-1]
    for run in final.args("RUN"):
        assert not re.search(r"\b(npm|node|nodejs|apt-get)\b", run), run
    for rest in final.args("COPY"):
        origin, sources = copy_sources(rest)
        if origin == node[0].name:
            assert sources == ["/build/node_modules"], "only node_modules leaves the node stage"


def test_the_python_environment_is_the_pinned_runtime_set(stages: list[Stage]) -> None:
    installs = [
        run for s in stages for run in s.args("RUN") if "pip install" in run and " -r " in run
    ]
    assert installs, "requirements are installed"
    for run in installs:
        words = shlex.split(run)
        assert words[words.index("-r") + 1].endswith("/requirements.txt"), run
        assert words[words.index("-c") + 1].endswith("/constraints.txt"), run
        assert "requirements-dev.txt" not in run


def test_the_model_is_trained_from_what_train_sh_fingerprints(stages: list[Stage]) -> None:
    model = stage(stages, "model")
    copied = [src for rest in model.args("COPY") for src in copy_sources(rest)[1]]
    train = (ROOT / "scripts" / "train.sh").read_text(encoding="utf-8")
    match = re.search(r"find (.+?) -type f", train)
    assert match, "scripts/train.sh's fingerprint inputs"
    for source in match.group(1).split():
        assert any(
            c.rstrip("/") == source or source.startswith(c.rstrip("/") + "/") for c in copied
        ), f"{source} changes the model but is not copied into the model stage"
    assert any("rasa train" in run for run in model.args("RUN"))
    assert "KEFU_MODEL=train" in model.args("ARG"), "training is the default"
    final_copies = [copy_sources(rest) for rest in stages[-1].args("COPY")]
    assert ("model", ["/build/models"]) in final_copies


def test_the_build_context_has_what_copy_needs_and_no_secret(stages: list[Stage]) -> None:
    patterns = dockerignore_patterns()
    assert patterns[0] == "*", ".dockerignore is an allow-list"
    for s in stages:
        for rest in s.args("COPY"):
            origin, sources = copy_sources(rest)
            if origin is not None:
                continue
            for source in sources:
                assert (ROOT / source).exists(), source
                assert in_context(source, patterns), f"{source} is not in the build context"
    for private in (
        ".run/rasa_token",
        ".env",
        "deploy/.env",
        "deploy/k8s/overlays/example/secrets.env",
        ".venv/bin/python",
        "models/latest.tar.gz",
        "node_modules/socket.io-client/package.json",
        "tests/nlu/heldout/nlu.yml",
        ".git/config",
        "bot/__pycache__/settings.cpython-310.pyc",
    ):
        assert not in_context(private, patterns), f"{private} would enter the build context"


def test_every_command_is_an_entry_point_and_every_port_exposed(
    stages: list[Stage], deployments: list[dict[str, Any]]
) -> None:
    exposed = {int(p) for rest in stages[-1].args("EXPOSE") for p in rest.split()}
    commands = [
        c["command"] for d in deployments for c in d["spec"]["template"]["spec"]["containers"]
    ]
    commands += [s["command"] for s in raw_compose()["services"].values() if s.get("build")]
    cmd = stages[-1].args("CMD")
    commands.append(json.loads(cmd[-1]))
    for command in commands:
        assert command[:2] == ["python", "-m"], command
        assert importlib.util.find_spec(command[2]) is not None, f"no module {command[2]}"
    ports = {
        p["containerPort"]
        for d in deployments
        for c in d["spec"]["template"]["spec"]["containers"]
        for p in c["ports"]
    }
    assert ports == exposed == {5005, 5055, 8000}
