"""Redis databases for the tests: a client on an emptied database, a server restarted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis

from bot import db
from tests.conftest import RedisServer, start_redis


@asynccontextmanager
async def flushed_redis(url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the database at `url`, emptied first; closed afterwards."""
    client = db.connect(url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.close()


def restart_redis(server: RedisServer, data: Path, *config: str) -> RedisServer:
    """Stops `server` like a service restart does (SIGTERM: Redis saves its data) and starts
    it again on the same port with the same `data` and `config`; clients keep their URL."""
    server.process.terminate()
    server.process.wait(15)
    return start_redis(data, *config, password=server.password, port=server.port)
