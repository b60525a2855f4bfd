"""Is the web chat open? (the web chat channel writes it, the return visits read it)"""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.surveys import presence

WEB = "web:" + "ef" * 16


async def test_open_while_a_socket_is_connected(redis: aioredis.Redis) -> None:
    now = 1_000_000.0
    assert not await presence.is_open(redis, WEB, now)
    await presence.opened(redis, WEB, "tab-1", now)
    await presence.opened(redis, WEB, "tab-2", now)
    assert await presence.is_open(redis, WEB, now)
    await presence.closed(redis, WEB, "tab-1")
    assert await presence.is_open(redis, WEB, now)  # another tab is still open
    await presence.closed(redis, WEB, "tab-2")
    assert not await presence.is_open(redis, WEB, now)


async def test_a_socket_whose_process_died_counts_as_closed_after_the_ttl(
    redis: aioredis.Redis,
) -> None:
    now = 1_000_000.0
    await presence.opened(redis, WEB, "tab-1", now)  # never closed: its Rasa was killed
    assert await presence.is_open(redis, WEB, now + presence.OPEN_TTL_S - 1)
    assert not await presence.is_open(redis, WEB, now + presence.OPEN_TTL_S)
    await presence.opened(redis, WEB, "tab-1", now + presence.OPEN_TTL_S)  # a turn refreshes
    assert await presence.is_open(redis, WEB, now + presence.OPEN_TTL_S + 60)
