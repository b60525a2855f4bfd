"""What the running processes expose: bound addresses, secrets, Redis auth, limits.

Issue 8 item 4: the action server, Rasa's API and Redis listened on every interface
with no authentication, and `ps` showed Rasa's token.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

from tests.conftest import ACTION_TOKEN, RASA_TOKEN, REDIS_PASSWORD, Stack

pytestmark = pytest.mark.stack

SECRETS = {"RASA_TOKEN": RASA_TOKEN, "KEFU_ACTION_TOKEN": ACTION_TOKEN, "redis": REDIS_PASSWORD}


def listening(pid: int) -> list[str]:
    """The local addresses (host:port) process `pid` listens on, from `ss`."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if re.search(rf"pid={pid},", line)]


def test_every_service_listens_on_loopback_only(stack: Stack) -> None:
    pids = {Path(p.args[2] if len(p.args) > 2 else p.args[0]).name: p.pid for p in stack.procs}
    pids["redis"] = stack.redis.process.pid
    assert set(pids) == {"actions.server", "bot.rasa_server", "bot.desk", "redis"}
    for name, pid in pids.items():
        addresses = listening(pid)
        assert addresses, f"{name} listens nowhere?"
        for address in addresses:
            host = address.rsplit(":", 1)[0]
            assert host in ("127.0.0.1", "[::1]"), f"{name} listens on {address}"


def _post(url: str, body: dict, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# What an attacker sent in the report: someone else's phone in the slots.
FORGED = {
    "next_action": "action_check_ticket",
    "sender_id": "attacker",
    "version": "3.6.2",
    "domain": {},
    "tracker": {
        "sender_id": "attacker",
        "slots": {"phone": "+8613800138000"},
        "latest_message": {"text": "查工单", "intent": {"name": "check_ticket"}},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    },
}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"Authorization": "Bearer " + "0" * 64}, 403),
        ({"Authorization": ACTION_TOKEN}, 401),  # no scheme
        ({"Authorization": "Bearer " + ACTION_TOKEN[:-1]}, 403),
    ],
)
def test_forged_action_call_is_refused(stack: Stack, headers: dict, status: int) -> None:
    code, body = _post(f"{stack.actions_url}/webhook?token={ACTION_TOKEN}", FORGED, headers)
    assert code == status
    assert body["field"] == "Authorization"
    assert "events" not in body and "responses" not in body


def test_action_server_answers_with_the_token(stack: Stack) -> None:
    request = urllib.request.Request(
        f"{stack.actions_url}/actions", headers={"Authorization": f"Bearer {ACTION_TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        names = {a["name"] for a in json.loads(response.read())}
    assert "action_check_ticket" in names
    with urllib.request.urlopen(f"{stack.actions_url}/health", timeout=5) as response:  # noqa: S310
        assert response.status == 200  # open: start.sh and load balancers poll it
    # Errors answer with their own status and never echo the tracker (phones) back.
    auth = {"Authorization": f"Bearer {ACTION_TOKEN}"}
    broken = {**FORGED, "next_action": "no_such_action"}
    code, body = _post(f"{stack.actions_url}/webhook", broken, auth)
    assert code == 404 and "8613800138000" not in json.dumps(body)
    code, body = _post(f"{stack.actions_url}/nowhere", {}, auth)
    assert code == 404 and "error" in body


def test_no_secret_on_any_command_line(stack: Stack) -> None:
    rasa = next(p for p in stack.procs if "bot.rasa_server" in p.args)
    cmdline = Path(f"/proc/{rasa.pid}/cmdline").read_bytes().split(b"\0")
    assert b"bot.rasa_server" in cmdline
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():  # /proc entries, not untrusted input
            continue
        try:
            text = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue  # exited meanwhile
        for name, secret in SECRETS.items():
            assert secret not in text, f"{name} on the command line of pid {proc.name}"


def test_redis_refuses_clients_without_the_password(stack: Stack) -> None:
    port = stack.redis.port
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=port).ping()
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=port, password="0" * 64).ping()
    assert redis.Redis(port=port, password=REDIS_PASSWORD).ping()


def test_tracker_is_kept_for_the_retention_time_only(stack: Stack) -> None:
    sender = "web:" + "7e57" * 8
    code, _ = _post(
        f"{stack.rasa_url}/conversations/{sender}/tracker/events?token={RASA_TOKEN}",
        {"event": "action", "name": "action_listen"},
        {},
    )
    assert code == 200
    ttl = stack.redis.client().ttl(f"kefu:tracker:{sender}")
    # The default KEFU_TRACKER_RETENTION_S (30 days); -1 would mean kept forever.
    assert 29 * 86400 < ttl <= 30 * 86400


def test_rasa_api_needs_its_token(stack: Stack) -> None:
    code, _ = _post(
        f"{stack.rasa_url}/conversations/web:{'0' * 32}/tracker/events",
        {"event": "action", "name": "action_listen"},
        {},
    )
    assert code == 401


def _status_for_declared_length(base_url: str, path: str, length: int) -> int:
    """Sends only the headers: Sanic refuses on Content-Length before reading a byte."""
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def test_rasa_refuses_bodies_over_the_limit(stack: Stack) -> None:
    path = f"/conversations/web:{'1' * 32}/tracker/events?token={RASA_TOKEN}"
    assert _status_for_declared_length(stack.rasa_url, path, 1024 * 1024 + 1) == 413
    # The SMS webhook is the desk's: a body far beyond any Twilio form is refused, naming it.
    request = urllib.request.Request(
        f"{stack.desk_url}/webhooks/sms/webhook",
        data=b"Body=" + b"x" * 300_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413
    assert json.loads(refused.value.read())["field"] == "body"
    # Normal sizes still pass.
    event = {"event": "action", "name": "action_listen", "x": "y" * 500_000}
    code, _ = _post(f"{stack.rasa_url}{path}", event, {})
    assert code == 200


def test_desk_reports_redis_memory(stack: Stack) -> None:
    with urllib.request.urlopen(f"{stack.desk_url}/healthz", timeout=5) as response:  # noqa: S310
        health = json.loads(response.read())
    assert health["status"] == "ok"
    memory = health["redis_memory"]
    assert memory["state"] in ("ok", "unknown")  # unknown: first check not done yet
    if memory["state"] == "ok":
        assert memory["max_bytes"] == 1024**3 and memory["policy"] == "noeviction"


def test_rasa_allows_cross_origin_calls_from_the_desk_only(stack: Stack) -> None:
    def allowed_origin(origin: str) -> str | None:
        request = urllib.request.Request(
            f"{stack.rasa_url}/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.headers.get("Access-Control-Allow-Origin")

    assert allowed_origin(stack.desk_url) == stack.desk_url
    assert allowed_origin("https://evil.example") is None
