"""Redis Streams consumer groups: the one way to create a group and to name a consumer.

Used by every worker that shares a stream with other processes (the outbox sender, the
desk's broker-event sync).
"""

from __future__ import annotations

import os
import secrets
import socket

import redis.asyncio as aioredis


async def ensure_group(redis: aioredis.Redis, stream: str, group: str, start_id: str) -> None:
    """Creates `group` on `stream` (and the stream) unless it exists. `start_id`: "0" to
    deliver entries added before the group existed too, "$" for new entries only."""
    try:
        await redis.xgroup_create(stream, group, id=start_id, mkstream=True)
    except aioredis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def consumer_name() -> str:
    """Unique per process and per start (host, pid, random): a restarted process is a new
    consumer, and what its predecessor left pending is reclaimed, not silently resumed."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
