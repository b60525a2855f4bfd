"""bot/db.py against a real redis-server that restarts under its clients."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError

from bot import db
from tests.conftest import start_redis
from tests.support.databases import restart_redis


async def test_the_first_command_after_a_redis_restart_succeeds(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    client = db.connect(server.url)
    try:
        await client.set("kefu:test", "kept")
        server = restart_redis(server, tmp_path)
        # The pooled connection was closed by the old server: sent once more on a new one.
        assert await client.get("kefu:test") == "kept"
        assert await client.incr("kefu:test:n") == 1  # a write, run once
        await client.close()
        server.process.terminate()
        server.process.wait(15)
        client = db.connect(server.url)
        started = time.monotonic()
        with pytest.raises(RedisConnectionError):
            await client.get("kefu:test")  # Redis down: still an error, and at once
        assert time.monotonic() - started < 1.0
    finally:
        await client.close()
        if server.process.poll() is None:
            server.process.terminate()
            server.process.wait(15)


async def test_a_stores_asyncio_twin_reaches_its_database_and_rides_out_a_restart(
    tmp_path: Path,
) -> None:
    """Rasa's stores are built on the synchronous client (host, port, db and password from
    endpoints.yml); their per-turn commands run on its asyncio twin."""
    server = start_redis(tmp_path)
    sync = redis.StrictRedis(
        host="127.0.0.1", port=server.port, db=5, password=server.password, decode_responses=True
    )
    db.ride_out_restarts(sync)
    twin = db.async_twin(sync)
    try:
        sync.set("kefu:test", "from the synchronous client")
        assert await twin.get("kefu:test") == "from the synchronous client"
        assert await redis.asyncio.Redis.from_url(server.db_url(0)).get("kefu:test") is None
        server = restart_redis(server, tmp_path)
        assert await twin.get("kefu:test") == "from the synchronous client"
    finally:
        await twin.close()
        server.process.terminate()
        server.process.wait(15)
