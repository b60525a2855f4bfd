"""The one way to get an asyncio Redis client: Redis is the system of record."""

from __future__ import annotations

import redis.asyncio as aioredis

# Every Redis call must fail fast rather than hang a webhook or a bot turn.
SOCKET_TIMEOUT_S = 5.0


def connect(url: str, block_ms: int = 0) -> aioredis.Redis:
    """A client for `url` (redis://[:password@]host:port/db) returning str values.

    `block_ms`: the longest blocking read (XREAD BLOCK) the client will make; a read
    must not time out while Redis is still legitimately waiting. Give such a worker its own
    client: a blocked connection serves nobody else.
    """
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT_S + block_ms / 1000,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        health_check_interval=30,
    )
