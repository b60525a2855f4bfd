"""Fixtures for the ticket tests: the real Redis (DB 1, flushed per test), a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot import db
from bot.tickets.service import Policies, TicketService
from tests.support.databases import flushed_redis
from tests.support.tickets import FakeClock, db_url


@pytest.fixture(scope="session")
def policies() -> Policies:
    return Policies.load()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def redis(redis_server) -> AsyncIterator[aioredis.Redis]:  # type: ignore[no-untyped-def]
    async with flushed_redis(db_url(redis_server)) as client:
        yield client


@pytest.fixture
async def second_redis(redis_server) -> AsyncIterator[aioredis.Redis]:  # type: ignore[no-untyped-def]
    """Another connection pool: stands in for a second desk or action-server process."""
    client = db.connect(db_url(redis_server))
    yield client
    await client.close()


@pytest.fixture
def service(redis: aioredis.Redis, policies: Policies, clock: FakeClock) -> TicketService:
    return TicketService.build(redis, policies, clock=clock)
