"""A messages-per-second limit shared by every sender process (GCRA in Redis).

reserve() books the next free send slot atomically, using Redis's clock so processes on
different hosts agree, and returns how long to wait for it. acquire(), which the sender
uses, books a slot, sleeps until it, then *commits* the send: the commit succeeds only if
the last committed send is at least 1/rate ago (by Redis's clock), else it waits the
difference. The booking spreads the senders out (no stampede on each slot); the commit
makes the guarantee hold for the moments sends really start: a sender that woke late
from its sleep cannot bunch up with punctual ones, so no 1-second window ever holds more
than `per_second` sends.
"""

from __future__ import annotations

import asyncio
import math

import redis.asyncio as aioredis

KEY = "kefu:sms:ratelimit"
SPIN_S = 0.002

# KEYS[1] = theoretical arrival time (µs); ARGV[1] = interval between sends (µs).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local nxt = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
return {string.format('%.0f', tat - now), string.format('%.0f', tat)}
"""

# KEYS[1] = the last committed send (µs); ARGV[1] = interval (µs). Commits now, or returns
# how long until a send may be committed.
_COMMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if now - last < interval then return {string.format('%.0f', last + interval - now), '0'} end
redis.call('SET', KEYS[1], string.format('%.0f', now), 'PX', math.ceil(interval / 1000) + 1000)
return {'0', string.format('%.0f', now)}
"""


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, per_second: float, key: str = KEY) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._redis = redis
        # Rounded up: slots never closer than 1/rate, so no 1-second window holds more than
        # `per_second` of them (rounding down would let 3/s fit 4 slots in 999,999 µs).
        self._interval_us = math.ceil(1_000_000 / per_second)
        self._key = key
        self._script = redis.register_script(_RESERVE)
        self._commit = redis.register_script(_COMMIT)

    async def reserve_slot(self) -> tuple[float, float]:
        """Reserves a slot; returns (seconds to wait before using it, the slot's Unix time by
        Redis's clock)."""
        waited, slot = await self._script(keys=[self._key], args=[self._interval_us])
        return int(waited) / 1_000_000, int(slot) / 1_000_000

    async def reserve(self) -> float:
        """Reserves a slot; returns the seconds to wait before using it."""
        return (await self.reserve_slot())[0]

    async def acquire(self) -> float:
        """Waits for a slot and commits the send; returns the commit's Unix time (Redis's
        clock), which the sender records on the message (`rate_slot_at`) so the rate can be
        checked afterwards. Send right after it returns."""
        delay, _slot = await self.reserve_slot()
        if delay > 0:
            await asyncio.sleep(delay)
        while True:
            wait_us, at_us = await self._commit(
                keys=[self._key + ":last"], args=[self._interval_us]
            )
            if int(at_us):
                return int(at_us) / 1_000_000
            # A short wait is retried at once (one round trip) rather than slept: a sleep
            # overshoots by about a millisecond, which at 250/s would cost a fifth of the rate.
            wait_s = int(wait_us) / 1_000_000
            await asyncio.sleep(wait_s if wait_s > SPIN_S else 0)
