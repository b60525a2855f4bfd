"""Redis databases for the tests: a client on an emptied database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

from bot import db


@asynccontextmanager
async def flushed_redis(url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the database at `url`, emptied first; closed afterwards."""
    client = db.connect(url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.close()
