"""Notice fixtures: Redis DB 13 (flushed per test), offline SMS settings."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from bot.sms.settings import SmsSettings
from tests.conftest import RedisServer

NOTICES_DB = 13  # ours alone


@pytest.fixture(scope="session")
def notices_redis_url(redis_server: RedisServer) -> str:
    return redis_server.db_url(NOTICES_DB)


@pytest_asyncio.fixture
async def redis(notices_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(notices_redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.close()


@pytest.fixture
def sms_settings(notices_redis_url: str) -> SmsSettings:
    """Offline (local sink), no quiet hours, fast."""
    return SmsSettings(redis_url=notices_redis_url, rate_per_sec=1000.0, quiet_hours=None)
