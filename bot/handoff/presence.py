"""Agents online: each open console heartbeats; an agent is online until the TTL runs out.

One sorted set (agent id -> expiry in ms) answers "who is online" and "how many" in one
call, and needs no clean-up job: expired members are dropped when read.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from bot.handoff.store import PREFIX

PRESENCE = PREFIX + "presence"


class Presence:
    def __init__(self, redis: aioredis.Redis, ttl_s: float) -> None:
        self._r = redis
        self.ttl_s = ttl_s

    async def heartbeat(self, agent: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        await self._r.zadd(PRESENCE, {agent: int((now + self.ttl_s) * 1000)})

    async def leave(self, agent: str) -> None:
        """Logout: offline at once rather than after the TTL."""
        await self._r.zrem(PRESENCE, agent)

    async def online(self, now: float | None = None) -> list[str]:
        now_ms = int((time.time() if now is None else now) * 1000)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(PRESENCE, "-inf", now_ms)
            pipe.zrangebyscore(PRESENCE, now_ms, "+inf")
            _, agents = await pipe.execute()
        return sorted(agents)

    async def is_online(self, agent: str, now: float | None = None) -> bool:
        expiry = await self._r.zscore(PRESENCE, agent)
        now = time.time() if now is None else now
        return expiry is not None and expiry > now * 1000
