"""The desk's /metrics, /readyz and /healthz, and its JSON log lines, on real desk
processes (`python -m bot.desk`) against the suite's Redis or a dead port."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.handoff import store as handoff
from bot.sms import inbox
from bot.tickets.store import Keys
from tests.conftest import DESK_TEST_TOKEN, METRICS_TOKEN, RedisServer, free_port
from tests.support.desk_process import desk_env, desk_process
from tests.support.ops import get, scrape

DB = 10  # ours; other tests use 0-4, 6, 7, 9, 11-14
PHONE = "+8613800000001"
MASKED = "+86138****0001"


@pytest.fixture(scope="module")
def desk(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """A desk on database DB writing JSON logs: its URL and its log file."""
    redis.Redis.from_url(redis_server.db_url(DB)).flushdb()
    log = tmp_path_factory.mktemp("desk") / "desk.log"
    env = desk_env(
        redis_server.db_url(DB),
        DESK_TEST_TOKEN,
        KEFU_METRICS_TOKEN=METRICS_TOKEN,
        KEFU_LOG_FORMAT="json",
    )
    with desk_process(env, log=log) as url:
        yield url, log


def test_metrics_need_the_metrics_token(desk: tuple[str, Path]) -> None:
    url = f"{desk[0]}/metrics"
    for token in (None, DESK_TEST_TOKEN, METRICS_TOKEN[:-1] + "0"):
        answer = get(url, token)
        assert answer.status == 401, token
        assert answer.json()["field"] == "Authorization"
        assert b"kefu_" not in answer.body
    metrics = scrape(url)
    assert metrics.value("kefu_redis_up") == 1
    # Every family of ours has its HELP text; counters exist at 0 before their first event.
    ours = {name: text for name, text in metrics.help.items() if name.startswith("kefu_")}
    assert ours and all(ours.values()), ours
    assert metrics.value("kefu_outbox_messages_total", status="failed") == 0
    assert metrics.value("kefu_sla_breaches_total", kind="resolve") == 0


def test_queue_gauges_read_redis_at_scrape_time(
    desk: tuple[str, Path], redis_server: RedisServer
) -> None:
    client = redis.Redis.from_url(redis_server.db_url(DB), decode_responses=True)
    now = time.time()
    client.zadd(inbox.QUEUED, {"SM1": now - 120, "SM2": now - 5})
    client.zadd(inbox.PENDING, {"SM3": now})
    # A P2 conversation waiting 5 minutes and a P1 waiting 30 s: the longest wait is 300 s.
    waited_ms = int((now - 300) * 1000)
    client.zadd(
        handoff.QUEUE,
        {
            "web:a": 2 * handoff.RANK_FACTOR + waited_ms,
            "web:b": handoff.RANK_FACTOR + waited_ms + 270_000,
        },
    )
    client.zadd(Keys().sla, {"TK1|resolve": now - 10, "TK2|resolve": now + 3600})
    try:
        metrics = scrape(f"{desk[0]}/metrics")
    finally:
        client.flushdb()
    assert metrics.value("kefu_sms_inbox_depth", state="queued") == 2
    assert metrics.value("kefu_sms_inbox_depth", state="in_turn") == 1
    assert 119 <= (metrics.value("kefu_sms_inbox_oldest_seconds") or 0) < 150
    # The outbox's own figures: tests/ops/test_gauges.py (this desk's senders drain it).
    assert metrics.value("kefu_outbox_backlog") == 0
    assert metrics.value("kefu_handoff_queue_length") == 2
    assert 299 <= (metrics.value("kefu_handoff_longest_wait_seconds") or 0) < 330
    assert metrics.value("kefu_sla_overdue") == 1
    # Emptied: the gauges follow Redis, nothing is remembered in the process.
    assert scrape(f"{desk[0]}/metrics").value("kefu_handoff_queue_length") == 0


def test_health_and_readiness_are_open_and_say_nothing_sensitive(desk: tuple[str, Path]) -> None:
    ready = get(f"{desk[0]}/readyz")
    assert (ready.status, ready.json()) == (200, {"status": "ready"})
    assert get(f"{desk[0]}/healthz").status == 200


def test_json_logs_mask_phones_and_name_the_conversation(desk: tuple[str, Path]) -> None:
    url, log = desk
    # A console route about an SMS conversation (refused: nobody is logged in); its access
    # log line carries the phone in the path.
    get(f"{url}/console/api/conversations/sms:{PHONE}")
    get(f"{url}/console/api/conversations/sms:%2B{PHONE[1:]}")
    deadline = time.monotonic() + 5
    while MASKED not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, "the desk wrote nothing"
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line), line
    assert PHONE not in text and PHONE[1:] not in text
    assert any(MASKED in line["message"] for line in lines)


def test_readyz_is_503_when_redis_is_unreachable(tmp_path: Path) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    env = desk_env(dead, DESK_TEST_TOKEN, KEFU_METRICS_TOKEN=METRICS_TOKEN)
    with desk_process(env, log=tmp_path / "desk.log") as url:
        ready = get(f"{url}/readyz")
        assert ready.status == 503
        assert ready.json() == {"status": "not_ready", "failed": ["redis"]}
        assert "127.0.0.1" not in ready.body.decode()
        assert get(f"{url}/healthz").status == 200  # alive: restarting would not help
        # The scrape still answers: Redis down is a value, not an error.
        metrics = scrape(f"{url}/metrics")
        assert metrics.value("kefu_redis_up") == 0
        assert (metrics.value("kefu_redis_errors_total", component="scrape") or 0) >= 1
        assert metrics.value("kefu_handoff_queue_length") is None
