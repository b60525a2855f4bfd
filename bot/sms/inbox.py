"""Inbound SMS, durable between the webhook's acknowledgement and the end of the bot turn.

The webhook acknowledges Twilio at once, so Twilio will not redeliver; if the Rasa
process dies mid-turn the message would be lost. So accept() records it in Redis
(atomically with the MessageSid idempotency check) before the acknowledgement, done()
removes it after the turn, and any process reclaims entries left too long.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis

SEEN_TTL_S = 7 * 24 * 3600  # Twilio redelivers within hours; a week is ample
PENDING = "kefu:sms:inbox"  # sorted set MessageSid -> time claimed


def seen_key(message_sid: str) -> str:
    return f"kefu:sms:seen:{message_sid}"


def data_key(message_sid: str) -> str:
    return f"kefu:sms:inbox:{message_sid}"


_ACCEPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'payload', ARGV[2], 'attempts', '0')
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
return 1
"""

# Takes over entries claimed before ARGV[1]: re-stamps them so only one process wins.
_RECLAIM = """
local sids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, sid in ipairs(sids) do
  redis.call('ZADD', KEYS[1], ARGV[2], sid)
  local key = ARGV[4] .. sid
  local payload = redis.call('HGET', key, 'payload')
  if payload then
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    table.insert(out, sid)
    table.insert(out, payload)
    table.insert(out, tostring(attempts))
  else
    redis.call('ZREM', KEYS[1], sid)
  end
end
return out
"""


async def accept(redis: aioredis.Redis, message_sid: str, payload: dict[str, Any]) -> bool:
    """Records an inbound message; False if this MessageSid was seen before (a redelivery)."""
    script = redis.register_script(_ACCEPT)
    result = await script(
        keys=[seen_key(message_sid), data_key(message_sid), PENDING],
        args=[SEEN_TTL_S, json.dumps(payload, ensure_ascii=False), repr(time.time()), message_sid],
    )
    return int(result) == 1


async def done(redis: aioredis.Redis, message_sid: str) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(PENDING, message_sid)
        pipe.delete(data_key(message_sid))
        await pipe.execute()


async def heartbeat(redis: aioredis.Redis, message_sids: set[str]) -> None:
    """Marks messages this process is still working on as alive (only those still pending)."""
    if message_sids:
        now = time.time()
        await redis.zadd(PENDING, {sid: now for sid in message_sids}, xx=True)


async def attempts(redis: aioredis.Redis, message_sid: str) -> int:
    return int(await redis.hget(data_key(message_sid), "attempts") or 0)


async def reclaim(
    redis: aioredis.Redis, idle_s: float, limit: int = 20
) -> list[tuple[str, dict[str, Any], int]]:
    """Entries nobody finished within `idle_s`: (MessageSid, payload, attempts so far)."""
    now = time.time()
    script = redis.register_script(_RECLAIM)
    flat = await script(keys=[PENDING], args=[repr(now - idle_s), repr(now), limit, data_key("")])
    return [(flat[i], json.loads(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat), 3)]
