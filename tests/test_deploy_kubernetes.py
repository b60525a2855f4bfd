"""deploy/k8s: the base and the example overlay render with the real Kustomize, every
manifest is valid Kubernetes, and they keep the promises deploy/README.md makes: probes on
routes the processes really serve, requests and limits, no root, an autoscaler and a
disruption budget per Deployment, only the public paths on the Ingress, and no secret."""

from __future__ import annotations

import asyncio
import copy
import subprocess
import urllib.error
import urllib.request
from typing import Any

import kubernetes_validate
import pytest
from aiohttp.test_utils import make_mocked_request

from bot.desk.app import create_app
from bot.settings import ENV_NAMES, Settings, SettingsError
from tests.conftest import METRICS_TOKEN, ROOT, Stack
from tests.support.deploy import (
    K8S,
    KUBERNETES_VERSION,
    PLACEHOLDER,
    PRIVATE_PATHS,
    PUBLIC_PATHS,
    SECRETS_EXAMPLE,
    dotenv,
    ingress_backend,
    kustomize,
    of_kind,
    quantity,
    render_example_overlay,
    secret_values,
)

KINDS = ("rasa", "actions", "desk")
IMAGE = "registry.example.com/kefu"


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return kustomize(K8S / "base")


@pytest.fixture(scope="module")
def overlay(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return render_example_overlay(tmp_path_factory.mktemp("kustomize"))


def deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in docs
        if d["kind"] == "Deployment"
    }
    assert set(found) == set(KINDS), f"one Deployment per process kind, got {sorted(found)}"
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    result: dict[str, Any] = containers[0]
    return result


def probes(deployment: dict[str, Any]) -> dict[str, str]:
    """Each probe's path (startup, liveness, readiness)."""
    c = container(deployment)
    return {
        kind: c[kind]["httpGet"]["path"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
        if kind in c
    }


def test_every_manifest_is_valid_kubernetes(
    base: list[dict[str, Any]], overlay: list[dict[str, Any]]
) -> None:
    for doc in base + overlay:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {path}: {e.message}")


def test_the_validation_catches_a_misspelt_field(overlay: list[dict[str, Any]]) -> None:
    """Strict schemas: a typo is an error, not an ignored field."""
    broken = copy.deepcopy(deployments(overlay)["rasa"])
    container(broken)["readinesProbe"] = container(broken).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_deployment_has_probes_limits_and_no_privilege(overlay: list[dict[str, Any]]) -> None:
    for kind, deployment in deployments(overlay).items():
        pod = deployment["spec"]["template"]["spec"]
        c = container(deployment)
        assert {"livenessProbe", "readinessProbe"} <= set(probes(deployment)), kind
        resources = c["resources"]
        for resource in ("cpu", "memory"):
            request = quantity(resources["requests"][resource])
            limit = quantity(resources["limits"][resource])
            assert 0 < request <= limit, f"{kind}: {resource} request {request} > limit {limit}"
        assert pod["securityContext"]["runAsNonRoot"] is True, kind
        assert pod["securityContext"]["runAsUser"] > 0, kind
        assert pod["automountServiceAccountToken"] is False, kind
        # Service links would inject variables such as KEFU_REDIS_PORT=tcp://...
        assert pod["enableServiceLinks"] is False, kind
        security = c["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, kind
        assert security["readOnlyRootFilesystem"] is True, kind
        assert security["capabilities"]["drop"] == ["ALL"], kind
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{kind}: a read-only root needs a writable /tmp"


def test_rasa_gets_the_memory_it_was_measured_to_use(overlay: list[dict[str, Any]]) -> None:
    """About 1.8 GiB resident with the model loaded (ps on a running stack): a smaller
    request would schedule it where it cannot fit, a smaller limit would kill it."""
    resources = container(deployments(overlay)["rasa"])["resources"]
    assert quantity(resources["requests"]["memory"]) >= 2 * 2**30
    assert quantity(resources["limits"]["memory"]) >= 2.5 * 2**30
    assert quantity(resources["requests"]["cpu"]) >= 1


def test_every_deployment_has_a_service_a_budget_and_an_autoscaler(
    overlay: list[dict[str, Any]],
) -> None:
    for deployment in deployments(overlay).values():
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
        # The autoscaler owns the count: a `replicas` here would reset it on every apply.
        assert "replicas" not in deployment["spec"], f"{name}: leave replicas to the HPA"
        services = [
            s
            for s in of_kind(overlay, "Service")
            if s["spec"].get("selector", {}).items() <= labels.items() and s["spec"].get("selector")
        ]
        assert [s["metadata"]["name"] for s in services] == [name], name
        ports = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
        assert services[0]["spec"]["ports"][0]["targetPort"] in ports, name
        budgets = [
            p
            for p in of_kind(overlay, "PodDisruptionBudget")
            if p["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(budgets) == 1, f"{name}: one PodDisruptionBudget"
        scalers = [
            h
            for h in of_kind(overlay, "HorizontalPodAutoscaler")
            if h["spec"]["scaleTargetRef"]
            == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        ]
        assert len(scalers) == 1, f"{name}: one HorizontalPodAutoscaler"
        low = scalers[0]["spec"]["minReplicas"]
        assert 2 <= low <= scalers[0]["spec"]["maxReplicas"], name
        # The budget leaves at least one pod of the smallest fleet serving.
        budget = budgets[0]["spec"]
        allowed_down = budget.get("maxUnavailable", low - budget.get("minAvailable", low))
        assert 1 <= allowed_down < low, f"{name}: the budget must let a node drain, not empty it"


def test_the_overlay_sets_image_replicas_and_host(overlay: list[dict[str, Any]]) -> None:
    images = {container(d)["image"] for d in deployments(overlay).values()}
    assert len(images) == 1, "the three kinds run one image"
    image = images.pop()
    name, _, tag = image.rpartition(":")
    assert name == IMAGE and tag not in ("", "latest", "set-by-overlay"), image
    minimum = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]["minReplicas"]
        for h in of_kind(overlay, "HorizontalPodAutoscaler")
    }
    assert minimum["kefu-rasa"] == 3
    assert {d["metadata"]["namespace"] for d in overlay if d["kind"] != "Namespace"} == {"kefu"}
    hosts = {r["host"] for i in of_kind(overlay, "Ingress") for r in i["spec"]["rules"]}
    assert hosts == {"kefu.example.com"}


def test_the_ingress_exposes_only_the_public_paths(overlay: list[dict[str, Any]]) -> None:
    ingresses = of_kind(overlay, "Ingress")
    for path, kind in PUBLIC_PATHS.items():
        assert ingress_backend(path, ingresses) == f"kefu-{kind}", path
    for path in PRIVATE_PATHS:
        assert ingress_backend(path, ingresses) is None, f"{path} must not be public"
    backends = {
        p["backend"]["service"]["name"]
        for i in ingresses
        for r in i["spec"]["rules"]
        for p in r["http"]["paths"]
    }
    assert backends == {"kefu-desk", "kefu-rasa"}, "the action server is never public"
    for ingress in ingresses:
        assert ingress["spec"]["tls"], f"{ingress['metadata']['name']}: TLS"


def test_only_socket_io_is_sticky(overlay: list[dict[str, Any]]) -> None:
    """socket.io's long-polling needs every request of a session on one pod; the desk keeps
    its sessions in Redis and needs no affinity."""
    for ingress in of_kind(overlay, "Ingress"):
        notes = ingress["metadata"].get("annotations", {})
        paths = {p["path"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]}
        sticky = notes.get("nginx.ingress.kubernetes.io/affinity") == "cookie"
        assert sticky == (paths == {"/socket.io/"}), ingress["metadata"]["name"]
        if sticky:
            assert notes["nginx.ingress.kubernetes.io/session-cookie-name"]


def test_the_desk_serves_what_the_ingress_sends_it() -> None:
    """Each public desk path, and each desk probe, is a route of the desk's application
    (resolved by aiohttp's router, as a request would be)."""
    app = create_app(Settings.from_env({}))

    async def resolves(method: str, path: str) -> bool:
        match = await app.router.resolve(make_mocked_request(method, path, app=app))
        return match.http_exception is None

    for path in [p for p, kind in PUBLIC_PATHS.items() if kind == "desk"] + ["/healthz", "/readyz"]:
        method = "POST" if path.startswith("/webhooks/") else "GET"
        assert asyncio.run(resolves(method, path)), f"the desk has no route for {method} {path}"
    assert not asyncio.run(resolves("GET", "/no/such/page")), "the check must be able to fail"


def test_redis_is_an_external_service(overlay: list[dict[str, Any]]) -> None:
    """Rasa 3.6's Redis stores speak to one endpoint: Redis is a managed service behind one
    address, not a pod of this deployment."""
    redis = [s for s in of_kind(overlay, "Service") if s["metadata"]["name"] == "kefu-redis"]
    assert redis and redis[0]["spec"]["type"] == "ExternalName"
    assert redis[0]["spec"]["externalName"] != "redis.example.internal", "the overlay names it"
    images = [
        c["image"]
        for d in deployments(overlay).values()
        for c in d["spec"]["template"]["spec"]["containers"]
    ]
    assert not any("redis" in i for i in images)
    assert not of_kind(overlay, "StatefulSet")


def test_every_variable_is_a_setting_and_every_secret_key_is_in_the_template(
    overlay: list[dict[str, Any]],
) -> None:
    known = set(ENV_NAMES.values())
    template = dotenv(SECRETS_EXAMPLE)
    config = of_kind(overlay, "ConfigMap")[0]["data"]
    assert set(config) <= known, f"not settings: {sorted(set(config) - known)}"
    for kind, deployment in deployments(overlay).items():
        for variable in container(deployment).get("env", []):
            assert variable["name"] in known, f"{kind}: {variable['name']} is no setting"
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in template, (
                    f"{kind}: {ref['key']} missing in secrets.env.example"
                )
                assert ref["name"].startswith("kefu-secrets"), kind
    assert set(template) <= known


def test_secrets_are_placeholders_the_processes_refuse(
    base: list[dict[str, Any]], overlay: list[dict[str, Any]]
) -> None:
    assert not of_kind(base, "Secret"), "the base holds no Secret: the overlay makes it"
    [secret] = of_kind(overlay, "Secret")
    for key, value in secret_values(secret).items():
        assert value in ("", PLACEHOLDER), f"{key}: a committed secret value"
    # A forgotten placeholder cannot go live: the settings refuse it.
    for name in (
        "RASA_TOKEN",
        "KEFU_ACTION_TOKEN",
        "KEFU_WEB_SESSION_SECRET",
        "KEFU_METRICS_TOKEN",
    ):
        with pytest.raises(SettingsError):
            Settings.from_env({name: PLACEHOLDER})
    committed = subprocess.run(
        ["git", "check-ignore", "-q", str(K8S / "overlays" / "example" / "secrets.env")],
        cwd=ROOT,
        check=False,
    )
    assert committed.returncode == 0, ".gitignore must keep secrets.env out of git"


def get(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.stack
def test_every_probe_answers_on_the_running_processes(
    overlay: list[dict[str, Any]], stack: Stack
) -> None:
    """The probes' and the scrape annotations' paths are real routes of the process kind
    they name: each probe answers 200 without a token (the test stack's Redis is up and
    Rasa's model loaded); /metrics refuses a scrape without KEFU_METRICS_TOKEN."""
    urls = {"rasa": stack.rasa_url, "actions": stack.actions_url, "desk": stack.desk_url}
    for kind, deployment in deployments(overlay).items():
        for probe, path in probes(deployment).items():
            assert get(urls[kind] + path) == 200, f"{kind} {probe} {path}"
        notes = deployment["spec"]["template"]["metadata"]["annotations"]
        port = container(deployment)["ports"][0]["containerPort"]
        assert notes["prometheus.io/port"] == str(port), kind
        metrics = urls[kind] + notes["prometheus.io/path"]
        assert get(metrics) == 401, f"{kind}: {metrics} without the token"
        assert get(metrics, METRICS_TOKEN) == 200, f"{kind}: {metrics}"
