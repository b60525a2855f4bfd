"""SMS opt-out registry in Redis: who said STOP (or 退订/TD), when, and how."""

from __future__ import annotations

import json
import time

import redis.asyncio as aioredis

REGISTRY = "kefu:sms:optout"  # hash: E.164 phone -> JSON {at, keyword, source}
LOG = "kefu:sms:optout:log"  # stream: every opt-out and opt-in, for audits
LOG_MAXLEN = 100_000


async def opt_out(redis: aioredis.Redis, phone: str, *, source: str, keyword: str = "") -> None:
    record = json.dumps({"at": time.time(), "keyword": keyword, "source": source})
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(REGISTRY, phone, record)
        pipe.xadd(
            LOG,
            {"phone": phone, "action": "out", "source": source, "keyword": keyword},
            maxlen=LOG_MAXLEN,
            approximate=True,
        )
        await pipe.execute()


async def opt_in(redis: aioredis.Redis, phone: str, *, source: str, keyword: str = "") -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(REGISTRY, phone)
        pipe.xadd(
            LOG,
            {"phone": phone, "action": "in", "source": source, "keyword": keyword},
            maxlen=LOG_MAXLEN,
            approximate=True,
        )
        await pipe.execute()


async def is_opted_out(redis: aioredis.Redis, phone: str) -> bool:
    return bool(await redis.hexists(REGISTRY, phone))


async def record(redis: aioredis.Redis, phone: str) -> dict[str, str] | None:
    raw = await redis.hget(REGISTRY, phone)
    return json.loads(raw) if raw else None
