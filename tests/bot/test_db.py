"""bot/db.py against a real redis-server that restarts under its clients."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
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
