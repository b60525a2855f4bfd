"""A messages-per-second limit shared by every sender process (GCRA in Redis).

Each call reserves the next free send slot atomically, using Redis's clock so
processes on different hosts agree, and returns how long to wait for it.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

KEY = "kefu:sms:ratelimit"

# KEYS[1] = theoretical arrival time (µs); ARGV[1] = interval between sends (µs).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
return string.format('%.0f', tat - now)
"""


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, per_second: float, key: str = KEY) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._redis = redis
        self._interval_us = int(1_000_000 / per_second)
        self._key = key
        self._script = redis.register_script(_RESERVE)

    async def reserve(self) -> float:
        """Reserves a slot; returns the seconds to wait before using it."""
        waited = await self._script(keys=[self._key], args=[self._interval_us])
        return int(waited) / 1_000_000

    async def acquire(self) -> None:
        delay = await self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
