"""The refusing limiter against a real Redis: exact allowances, all-or-nothing quotas."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot import db
from bot.ratelimit import Limiter, Quota
from tests.conftest import RedisServer


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = db.connect(redis_server.url)
    yield client
    await client.close()


def key() -> str:
    return f"test:limit:{uuid.uuid4().hex}"


async def test_allows_the_whole_allowance_at_once_then_refuses(redis: aioredis.Redis) -> None:
    limiter = Limiter(redis)
    quota = Quota(key(), 5, 60)
    assert [await limiter.try_acquire(quota) for _ in range(5)] == [0.0] * 5
    wait = await limiter.try_acquire(quota)
    assert 11 < wait <= 12  # one more every 60/5 s


async def test_concurrent_callers_share_one_allowance(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    other = db.connect(redis_server.url)  # another connection pool: another process
    quota = Quota(key(), 10, 60)
    results = await asyncio.gather(
        *(Limiter(client).try_acquire(quota) for client in [redis, other] * 15)
    )
    await other.close()
    assert sum(r == 0.0 for r in results) == 10


async def test_a_refused_event_charges_no_quota(redis: aioredis.Redis) -> None:
    limiter = Limiter(redis)
    small, large = Quota(key(), 1, 60), Quota(key(), 100, 60)
    assert await limiter.try_acquire(small, large) == 0.0
    assert await limiter.try_acquire(small, large) > 0
    # `large` was charged once, not twice: 99 more fit.
    assert [await limiter.try_acquire(large) for _ in range(99)] == [0.0] * 99
    assert await limiter.try_acquire(large) > 0


async def test_the_allowance_comes_back_with_time(redis: aioredis.Redis) -> None:
    limiter = Limiter(redis)
    quota = Quota(key(), 2, 0.4)
    assert await limiter.try_acquire(quota) == 0.0
    assert await limiter.try_acquire(quota) == 0.0
    assert await limiter.try_acquire(quota) > 0
    await asyncio.sleep(0.25)
    assert await limiter.try_acquire(quota) == 0.0


def test_a_quota_needs_a_positive_limit() -> None:
    with pytest.raises(ValueError):
        Quota("k", 0)
