"""Rasa's and the action server's /healthz, /readyz and /metrics on the running stack: a
real web chat turn and real action calls, counted by channel and by action; and the alert
rules and the dashboard name only metrics the processes really expose."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ACTION_TOKEN, RASA_TOKEN, ROOT, Stack
from tests.support.ops import get, scrape
from tests.support.webchat import Customer

pytestmark = pytest.mark.stack

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "kefu-dashboard.json"
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
# A metric name in PromQL: kefu_… (ours) or `up` (Prometheus's own, per target).
METRIC = re.compile(r"\b(kefu_[a-z0-9_]+|up)\b(?!\s*\()")

# An action call as Rasa sends it, for a conversation whose id is a phone number.
CALL = {
    "next_action": "action_check_ticket",
    "sender_id": "sms:+8613800000001",
    "version": "3.6.2",
    "domain": {},
    "tracker": {
        "sender_id": "sms:+8613800000001",
        "slots": {"phone": "+8613800000001"},
        "latest_message": {"text": "查工单", "intent": {"name": "check_ticket"}},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    },
}


def rasa_ops(stack: Stack, path: str) -> str:
    return f"{stack.rasa_url}/webhooks/ops/{path}"


def call_action(stack: Stack, call: dict) -> int:
    return get(f"{stack.actions_url}/webhook", ACTION_TOKEN, "POST", call).status


@pytest.mark.parametrize("kind", ["rasa", "actions", "desk"])
def test_health_and_readiness_of_every_process(stack: Stack, kind: str) -> None:
    base = {
        "rasa": f"{stack.rasa_url}/webhooks/ops",
        "actions": stack.actions_url,
        "desk": stack.desk_url,
    }[kind]
    assert get(f"{base}/healthz").status == 200
    ready = get(f"{base}/readyz")
    assert (ready.status, ready.json()) == (200, {"status": "ready"})
    # /metrics: the scrape token only, not the process's other tokens.
    for token in (None, RASA_TOKEN, ACTION_TOKEN):
        refused = get(f"{base}/metrics", token)
        assert refused.status == 401, (kind, token)
        assert b"kefu_" not in refused.body
    assert scrape(f"{base}/metrics").value("kefu_redis_up") == 1


async def test_a_web_turn_is_counted_under_its_channel(stack: Stack) -> None:
    def figures() -> tuple[float, float, float]:
        metrics = scrape(rasa_ops(stack, "metrics"))
        nlu = sum(
            value
            for (name, labels), value in metrics.samples.items()
            if name == "kefu_nlu_messages_total" and ("channel", "socketio") in labels
        )
        return (
            metrics.value("kefu_turns_total", channel="socketio", outcome="ok") or 0,
            metrics.value("kefu_turn_duration_seconds_count", channel="socketio") or 0,
            nlu,
        )

    before = await asyncio.to_thread(figures)
    customer = Customer(stack.rasa_url)
    await customer.connect()
    try:
        assert await customer.ask("电费怎么交")
    finally:
        await customer.client.disconnect()
    after = before
    for _ in range(50):  # the turn ends (tracker saved) just after the reply is sent
        after = await asyncio.to_thread(figures)
        if after[0] > before[0] and after[2] > before[2]:
            break
        await asyncio.sleep(0.1)
    assert after[0] >= before[0] + 1, (before, after)
    assert after[1] >= before[1] + 1, (before, after)
    assert after[2] >= before[2] + 1, (before, after)


def test_action_calls_are_counted_per_action(stack: Stack) -> None:
    before = scrape(f"{stack.actions_url}/metrics")
    assert call_action(stack, CALL) == 200
    assert call_action(stack, {**CALL, "next_action": "no_such_action"}) == 404
    after = scrape(f"{stack.actions_url}/metrics")

    def grew(name: str, **labels: str) -> float:
        return (after.value(name, **labels) or 0) - (before.value(name, **labels) or 0)

    assert grew("kefu_action_calls_total", action="action_check_ticket", outcome="ok") == 1
    assert grew("kefu_action_duration_seconds_count", action="action_check_ticket") == 1
    # A name the server does not have is no new label value.
    assert grew("kefu_action_calls_total", action="unknown", outcome="not_found") == 1
    labels = {value for (_, pairs) in after.samples for _, value in pairs}
    assert "no_such_action" not in labels and not any("8613800000001" in v for v in labels)


def _used_in_alerts() -> set[str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    used: set[str] = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
            assert rule["labels"]["severity"] in ("warning", "critical"), rule
            assert rule["annotations"].get("summary"), rule
            found = set(METRIC.findall(str(rule["expr"])))
            assert found, f"{rule['alert']}: no metric in its expression"
            used |= found
    return used


def _used_in_dashboard() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["title"] and dashboard["panels"]
    used: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used |= set(METRIC.findall(target["expr"]))
    return used


def test_alerts_and_dashboard_use_only_metrics_the_processes_expose(stack: Stack) -> None:
    assert call_action(stack, CALL) == 200  # the per-action series exist from the first call
    exposed = {"up"}  # Prometheus's own, one per scrape target
    for url in (
        f"{stack.desk_url}/metrics",
        rasa_ops(stack, "metrics"),
        f"{stack.actions_url}/metrics",
    ):
        exposed |= scrape(url).names
    alerts, dashboard = _used_in_alerts(), _used_in_dashboard()
    assert not alerts - exposed, f"alerts.yml names unknown metrics: {alerts - exposed}"
    assert not dashboard - exposed, f"the dashboard names unknown metrics: {dashboard - exposed}"
    # Every metric we expose is on the dashboard (histograms through _bucket or _count).
    ours = {name for name in exposed if name.startswith("kefu_")}
    shown = {re.sub(r"_(bucket|count|sum)$", "", name) for name in dashboard}
    missing = {name for name in ours if re.sub(r"_(bucket|count|sum)$", "", name) not in shown}
    assert not missing, f"not on the dashboard: {missing}"


def test_the_scrape_config_reaches_every_process_kind() -> None:
    config = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    paths = {name: job.get("metrics_path", "/metrics") for name, job in jobs.items()}
    assert paths == {
        "kefu-desk": "/metrics",
        "kefu-rasa": "/webhooks/ops/metrics",
        "kefu-actions": "/metrics",
    }
    for job in jobs.values():
        assert job["authorization"]["credentials_file"], job
        for target in job["static_configs"][0]["targets"]:
            assert target.startswith("127.0.0.1:"), target
    assert config["rule_files"] == ["alerts.yml"]


def test_dashboard_file_is_grafana_json() -> None:
    dashboard = json.loads(Path(DASHBOARD).read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["schemaVersion"] >= 30
