"""Action tests: trackers built like the ones Rasa sends, a real Redis for tickets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

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
