"""The one way to get an asyncio Redis client: Redis is the system of record."""

from __future__ import annotations

import redis.asyncio as aioredis

# Every Redis call must fail fast rather than hang a webhook or a bot turn.
SOCKET_TIMEOUT_S = 5.0


def connect(url: str) -> aioredis.Redis:
    """A client for `url` (redis://[:password@]host:port/db) returning str values."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=30,
    )
