"""Fixtures for the return-visit tests: the real Redis (DB 14, flushed per test), one
clock for tickets and visits, the stand-in Rasa, and a scheduler wired to them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestServer

from bot.handoff.rasa_client import RasaClient
from bot.sms.settings import QuietHours
from bot.surveys.scheduler import VisitScheduler
from bot.surveys.timing import Timing
from bot.tickets.service import Policies, TicketService
from tests.support.databases import flushed_redis
from tests.support.surveys import Clock, StandInRasa, db_url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def redis(redis_server) -> AsyncIterator[aioredis.Redis]:  # type: ignore[no-untyped-def]
    async with flushed_redis(db_url(redis_server)) as client:
        yield client


@pytest.fixture
def tickets(redis: aioredis.Redis, ticket_policies: Policies, clock: Clock) -> TicketService:
    """On our Redis and clock; the policies are tests/support/handoff.py's (session-wide)."""
    return TicketService.build(redis, ticket_policies, clock=clock.datetime)


@pytest.fixture
async def rasa() -> AsyncIterator[StandInRasa]:
    stand_in = StandInRasa()
    server = TestServer(stand_in.app())
    await server.start_server()
    stand_in.url = str(server.make_url("")).rstrip("/")
    yield stand_in
    await server.close()


@pytest.fixture
def timing() -> Timing:
    return Timing(
        delay_s=7200,
        reminder_s=48 * 3600,
        window_s=14 * 86400,
        quiet=QuietHours.parse("21:00-08:00", "Asia/Shanghai"),
    )


@pytest.fixture
async def scheduler(
    redis: aioredis.Redis, tickets: TicketService, rasa: StandInRasa, timing: Timing, clock: Clock
) -> AsyncIterator[VisitScheduler]:
    async with aiohttp.ClientSession() as http:
        client = RasaClient(rasa.url, rasa.token, http)
        yield VisitScheduler(redis, tickets.store, client, timing, clock=clock, consumer="test")
