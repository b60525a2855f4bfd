"""Action tests: trackers built like the ones Rasa sends, a real Redis for tickets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rasa_sdk import Tracker

from actions import services
from tests.conftest import RedisServer

ACTIONS_DB = 4


@pytest.fixture
def tickets_redis(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Points the action server's TicketService at a clean Redis database."""
    url = redis_server.db_url(ACTIONS_DB)
    redis.Redis.from_url(url).flushdb()
    monkeypatch.setenv("REDIS_URL", url)
    services.tickets.cache_clear()
    services.redis.cache_clear()
    yield url
    services.tickets.cache_clear()
    services.redis.cache_clear()


def make_tracker(
    text: str = "",
    *,
    intent: str = "complain",
    slots: dict[str, Any] | None = None,
    entities: list[dict[str, Any]] | None = None,
    channel: str = "socketio",
    metadata: dict[str, Any] | None = None,
    active_loop: str | None = None,
    sender_id: str = "web:" + "0" * 32,
) -> Tracker:
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.9},
        "intent_ranking": [{"name": intent, "confidence": 0.9}],
        "entities": entities or [],
        "metadata": metadata or {},
    }
    return Tracker(
        sender_id=sender_id,
        slots={"language": "zh", **(slots or {})},
        latest_message=latest,
        events=[{"event": "user", "text": text, "input_channel": channel, "parse_data": latest}],
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )
