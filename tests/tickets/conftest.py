"""Fixtures for the ticket tests: the real Redis (DB 1, flushed per test), a settable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest
import redis.asyncio as aioredis

from bot import db
from bot.tickets.service import Policies, TicketService

DB = 1  # ours; other tests use DB 0
START = datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai


class FakeClock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def db_url(redis_server) -> str:  # type: ignore[no-untyped-def]
    return redis_server.db_url(DB)


@pytest.fixture(scope="session")
def policies() -> Policies:
    return Policies.load()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def redis(redis_server) -> AsyncIterator[aioredis.Redis]:  # type: ignore[no-untyped-def]
    client = db.connect(db_url(redis_server))
    await client.flushdb()
    yield client
    await client.close()


@pytest.fixture
async def second_redis(redis_server) -> AsyncIterator[aioredis.Redis]:  # type: ignore[no-untyped-def]
    """Another connection pool: stands in for a second desk or action-server process."""
    client = db.connect(db_url(redis_server))
    yield client
    await client.close()


@pytest.fixture
def service(redis: aioredis.Redis, policies: Policies, clock: FakeClock) -> TicketService:
    return TicketService.build(redis, policies, clock=clock)


PHONE = "+8613800138000"
OTHER_PHONE = "+8613900139000"


async def complaint(service: TicketService, text: str = "电费单金额不对", **overrides) -> object:  # type: ignore[no-untyped-def]
    fields = {
        "category": "billing",
        "description": text,
        "location": "幸福路 12 号",
        "phone": PHONE,
        "language": "zh",
        "channel": "socketio",
        "phone_verified": True,  # the usual case; the unverified web case is tested explicitly
    }
    fields.update(overrides)
    return await service.create_complaint(**fields)
