"""Accounts fixtures: Redis DB 11 (ours; flushed per test)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest_asyncio
import redis.asyncio as aioredis

from bot import db
from tests.conftest import RedisServer

ACCOUNTS_DB = 11


@pytest_asyncio.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = db.connect(re.sub(r"/\d+$", f"/{ACCOUNTS_DB}", redis_server.url))
    await client.flushdb()
    yield client
    await client.close()
