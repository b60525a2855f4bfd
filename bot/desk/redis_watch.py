"""Alerts on a full Redis.

redis.conf sets `maxmemory` with `noeviction`: a full Redis refuses writes ("OOM command
not allowed") instead of silently evicting tickets, queued SMS or conversations. That is
only safe if someone notices. Each desk looks every KEFU_REDIS_WATCH_INTERVAL_S seconds
at `INFO memory` and at Redis's own count of OOM refusals (`INFO errorstats`, which counts
refused writes from every client: Rasa, the action server and the desks), logs an ERROR
while Redis is full and a WARNING when it is nearly full, and reports the state in
`GET /healthz` (`redis_memory`) for monitoring and the supervisor view.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from bot.http import REDIS, WORKERS
from bot.settings import get as settings

logger = logging.getLogger(__name__)

NEAR_FULL_RATIO = 0.9


@dataclass(frozen=True)
class MemoryStatus:
    # "ok", "near_full" (>= 90 % of maxmemory), "full" (at maxmemory, or writes were
    # refused since the last check), "unknown" (Redis unreachable or not checked yet).
    state: str
    used_bytes: int = 0
    max_bytes: int = 0  # 0: no limit configured (a misconfiguration, logged)
    policy: str = ""
    oom_refusals: int = 0  # since Redis started


def _oom_count(errorstats: dict[str, Any]) -> int:
    # redis-py 4.6 leaves the value unparsed: {"errorstat_OOM": "count=3"}.
    raw = errorstats.get("errorstat_OOM")
    if isinstance(raw, dict):
        return int(raw.get("count", 0))
    if isinstance(raw, str) and raw.startswith("count="):
        return int(raw.removeprefix("count=").split(",")[0])
    return 0


class RedisMemoryWatch:
    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self.status = MemoryStatus("unknown")
        self._last_oom: int | None = None
        self._warned_config = False

    async def check(self) -> MemoryStatus:
        """One look at Redis; logs and remembers the result."""
        try:
            memory = await self.redis.info("memory")
            oom = _oom_count(await self.redis.info("errorstats"))
        except RedisError as e:
            # Other parts of the desk report an unreachable Redis; only note it here.
            logger.warning("redis memory check failed: %s", e)
            self.status = MemoryStatus("unknown")
            return self.status
        used, limit = int(memory["used_memory"]), int(memory["maxmemory"])
        policy = str(memory.get("maxmemory_policy", ""))
        new_refusals = oom - self._last_oom if self._last_oom is not None else 0
        self._last_oom = oom
        if (limit == 0 or policy != "noeviction") and not self._warned_config:
            self._warned_config = True
            logger.warning(
                "Redis maxmemory=%d policy=%s: set maxmemory with noeviction (redis.conf), "
                "or a full Redis evicts or swaps instead of refusing writes",
                limit,
                policy,
            )
        if new_refusals > 0 or (limit and used >= limit):
            state = "full"
            logger.error(
                "Redis is full: %d of %d bytes used, %d writes refused since the last check; "
                "raise maxmemory (KEFU_REDIS_MAXMEMORY) or free memory",
                used,
                limit,
                new_refusals,
            )
        elif limit and used >= NEAR_FULL_RATIO * limit:
            state = "near_full"
            logger.warning("Redis is nearly full: %d of %d bytes used", used, limit)
        else:
            state = "ok"
            if self.status.state in ("full", "near_full"):
                logger.info("Redis memory is back to normal: %d of %d bytes used", used, limit)
        self.status = MemoryStatus(state, used, limit, policy, oom)
        return self.status


WATCH = web.AppKey("redis_memory_watch", RedisMemoryWatch)


def status(app: web.Application) -> dict[str, Any]:
    """The last check, for /healthz."""
    watch = app.get(WATCH)
    return asdict(watch.status if watch is not None else MemoryStatus("unknown"))


async def _watch_ctx(app: web.Application) -> AsyncIterator[None]:
    interval = settings().redis_watch_interval_s
    app[WATCH] = watch = RedisMemoryWatch(app[REDIS])
    worker = app[WORKERS].periodic("redis_memory_watch", watch.check, interval)
    try:
        yield
    finally:
        await worker.stop()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_watch_ctx)
