"""deploy/compose.yaml: valid against the Compose specification, nginx the only published
port on an internal network, every secret required from deploy/.env and none committed,
the same processes, secrets and probes as the Kubernetes manifests, a Redis configuration
that a real redis-server runs durable and with its password, and an nginx configuration that
a real nginx accepts and that exposes the public paths only."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis

from bot.settings import ENV_NAMES
from tests.conftest import ROOT, Stack, free_port, wait_until
from tests.support.deploy import (
    COMPOSE_ENV_EXAMPLE,
    DEPLOY,
    K8S,
    PLACEHOLDER,
    PRIVATE_PATHS,
    PUBLIC_PATHS,
    SECRET_NAMES,
    MissingVariable,
    compose_schema,
    dotenv,
    kustomize,
    load_compose,
    nginx_backend,
    raw_compose,
    variables,
)

APPS = ("rasa", "actions", "desk")
NGINX_CONF = DEPLOY / "nginx.compose.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# Stand-ins for deploy/.env: 32+ characters, as the processes require.
FILLED = {k: ("x" * 40 if v == PLACEHOLDER else v) for k, v in dotenv(COMPOSE_ENV_EXAMPLE).items()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(FILLED)


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict[str, Any]]:
    """The base's Deployments by process kind."""
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in kustomize(K8S / "base")
        if d["kind"] == "Deployment"
    }


def k8s_container(k8s: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    container: dict[str, Any] = k8s[kind]["spec"]["template"]["spec"]["containers"][0]
    return container


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)
    # The schema is strict: a misspelt key is an error, not ignored.
    broken = copy.deepcopy(compose)
    broken["services"]["rasa"]["healthcheck"]["start_perod"] = "10s"
    assert not validator.is_valid(broken)


def test_every_secret_is_required_and_the_template_lists_every_variable() -> None:
    used = variables(raw_compose())
    template = dotenv(COMPOSE_ENV_EXAMPLE)
    assert set(used) <= set(template), (
        f"missing in .env.example: {sorted(set(used) - set(template))}"
    )
    for name, operator in used.items():
        # Optional Twilio ids and the previous session secret may be empty; the rest stop
        # compose before anything starts.
        optional = name.startswith("TWILIO_") and name != "TWILIO_AUTH_TOKEN"
        if name in SECRET_NAMES and not optional and name != "KEFU_WEB_SESSION_SECRET_PREVIOUS":
            assert operator == ":?", f"${{{name}}} must be required: ${{{name}:?...}}"
        if name in SECRET_NAMES:
            assert template[name] in ("", PLACEHOLDER), f".env.example holds a value for {name}"
    with pytest.raises(MissingVariable, match="REDIS_PASSWORD"):
        load_compose({k: v for k, v in FILLED.items() if k != "REDIS_PASSWORD"})
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", str(DEPLOY / ".env")], cwd=ROOT, check=False
    )
    assert ignored.returncode == 0, ".gitignore must keep deploy/.env out of git"


def test_only_nginx_publishes_a_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert [name for name, s in services.items() if s.get("ports")] == ["nginx"]
    for name, service in services.items():
        assert "network_mode" not in service, name
        assert not service.get("privileged"), name
    networks = compose["networks"]
    assert networks["backend"]["internal"] is True
    on = {name: set(service["networks"]) for name, service in services.items()}
    assert [name for name, nets in on.items() if "edge" in nets] == ["nginx"]
    assert on["redis"] == {"backend"} and on["rasa"] == {"backend"}
    # Published on loopback unless the operator opens it on purpose.
    assert services["nginx"]["ports"] == ["127.0.0.1:8080:8080"]


def test_the_services_run_what_kubernetes_runs(
    compose: dict[str, Any], k8s: dict[str, dict[str, Any]]
) -> None:
    """Same commands, same secrets per process kind, healthchecks on the readiness probes'
    paths and ports, only known settings, an unprivileged read-only container."""
    known = set(ENV_NAMES.values())
    for kind in APPS:
        service = compose["services"][kind]
        container = k8s_container(k8s, kind)
        assert service["command"] == container["command"], kind
        env = service["environment"]
        assert set(env) <= known, f"{kind}: not settings: {sorted(set(env) - known)}"
        k8s_secrets = {
            v["name"] for v in container["env"] if "secretKeyRef" in v.get("valueFrom", {})
        }
        assert set(env) & SECRET_NAMES == k8s_secrets, f"{kind}: other secrets than in k8s"
        probe = container["readinessProbe"]["httpGet"]["path"]
        port = container["ports"][0]["containerPort"]
        check = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}{probe}'" in check, f"{kind}: healthcheck {check}"
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], kind
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", kind
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name}: no healthcheck"


def test_the_action_server_and_redis_stay_off_the_proxy() -> None:
    conf = NGINX_CONF.read_text(encoding="utf-8")
    assert "actions:" not in conf and "redis:" not in conf


def test_the_proxy_exposes_only_the_public_paths() -> None:
    conf = NGINX_CONF.read_text(encoding="utf-8")
    for path, kind in PUBLIC_PATHS.items():
        assert nginx_backend(path, conf) == f"kefu_{kind}", path
    for path in PRIVATE_PATHS:
        assert nginx_backend(path, conf) is None, f"{path} must not be public"
    upstreams = dict(re.findall(r"upstream (\w+) \{[^}]*?server (\S+);", conf))
    assert upstreams == {
        "kefu_rasa": "rasa:5005",
        "kefu_rasa_spread": "rasa:5005",
        "kefu_desk": "desk:8000",
    }


def local_nginx_conf(tmp: Path, port: int, rasa_port: int, desk_port: int) -> Path:
    """The compose proxy's configuration on this machine: the service names become the
    local ports, temporary files go to `tmp`, the listener to loopback."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    text = text.replace("server rasa:5005;", f"server 127.0.0.1:{rasa_port};")
    text = text.replace("server desk:8000;", f"server 127.0.0.1:{desk_port};")
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    text = text.replace("/tmp/", f"{tmp}/")
    path = tmp / "nginx.conf"
    path.write_text(text, encoding="utf-8")
    return path


def test_nginx_accepts_the_proxy_configuration(tmp_path: Path) -> None:
    conf = local_nginx_conf(tmp_path, free_port(), free_port(), free_port())
    done = subprocess.run(
        [NGINX, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def proxy(stack: Stack, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    rasa_port = int(stack.rasa_url.rsplit(":", 1)[1])
    desk_port = int(stack.desk_url.rsplit(":", 1)[1])
    conf = local_nginx_conf(tmp_path, port, rasa_port, desk_port)
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: status(url + "/") == 200, 15, "nginx", [proc])
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def status(url: str, method: str = "GET", data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code


@pytest.mark.stack
def test_the_proxy_in_front_of_the_running_stack(proxy: str) -> None:
    for path in ("/", "/vendor/socket.io.min.js", "/socket.io/?EIO=4&transport=polling"):
        assert status(proxy + path) == 200, path
    assert status(proxy + "/console/login") == 200
    # Both Twilio webhooks reach the desk, which refuses an unsigned request itself.
    assert status(proxy + "/webhooks/sms/webhook", "POST", b"From=%2B8613800138000") == 403
    assert status(proxy + "/webhooks/sms/status?id=OB0123456789ab", "POST", b"x=1") == 403
    assert status(proxy + "/webhooks/sms/webhook") == 403  # POST only
    for path in PRIVATE_PATHS:
        assert status(proxy + path) == 404, path


def test_redis_runs_durable_with_its_password(tmp_path: Path, compose: dict[str, Any]) -> None:
    """The compose Redis's start script, run by a real redis-server: the repository's
    redis.conf (AOF, appendfsync always, noeviction) plus the password. Only its paths and
    its address are this machine's."""
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed; run scripts/setup.sh")
    service = compose["services"]["redis"]
    script = service["command"][-1]
    assert (
        "/etc/kefu/redis.conf" in script
        and "../redis.conf:/etc/kefu/redis.conf:ro" in service["volumes"]
    )
    port = free_port()
    script = (
        script.replace("/etc/kefu/redis.conf", str(ROOT / "redis.conf"))
        .replace("/tmp/redis.conf", str(tmp_path / "redis.conf"))
        .replace("dir /data", f"dir {tmp_path}")
        .replace("bind 0.0.0.0", "bind 127.0.0.1")
    )
    script = script.rstrip("\n") + f" --port {port}\n"
    env = {**service["environment"], "PATH": "/usr/bin:/bin:/usr/local/bin"}
    proc = subprocess.Popen(
        ["sh", "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        client = redis.Redis(port=port, password=env["REDIS_PASSWORD"], decode_responses=True)
        wait_until(client.ping, 10, "compose's redis", [proc])
        assert client.config_get("appendonly")["appendonly"] == "yes"
        assert client.config_get("appendfsync")["appendfsync"] == "always"
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        assert int(client.config_get("maxmemory")["maxmemory"]) == 2**30  # 1gb
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        assert (tmp_path / "redis.conf").stat().st_mode & 0o077 == 0, "the password file is private"
    finally:
        proc.terminate()
        proc.wait(10)
