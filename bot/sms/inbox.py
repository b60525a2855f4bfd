"""Inbound SMS, durable from the webhook's acknowledgement to the end of the bot turn.

The desk acknowledges Twilio at once, so Twilio will not redeliver; a message lost after
that is lost for good. So:
- accept() (the desk's webhook) records it, atomically with the MessageSid idempotency
  check, in QUEUED and rings DOORBELL;
- claim() (any Rasa process with a free turn slot) moves the oldest queued message to
  PENDING, stamped with the time, so exactly one process takes it;
- done() removes it after the turn; reclaim() hands PENDING entries left too long (their
  process died) to another process.
The doorbell only wakes idle consumers: a lost ring delays nothing past their poll.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio as aioredis

SEEN_TTL_S = 7 * 24 * 3600  # Twilio redelivers within hours; a week is ample
QUEUED = "kefu:sms:queued"  # sorted set MessageSid -> time accepted, not yet claimed
PENDING = "kefu:sms:inbox"  # sorted set MessageSid -> time claimed (or last heartbeat)
DOORBELL = "kefu:sms:doorbell"  # list: one ring per accepted message
DOORBELL_MAX = 1000  # rings beyond this wake nobody new; the list stays small


def seen_key(message_sid: str) -> str:
    return f"kefu:sms:seen:{message_sid}"


def data_key(message_sid: str) -> str:
    return f"kefu:sms:inbox:{message_sid}"


_ACCEPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'payload', ARGV[2], 'attempts', '0')
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[4])
redis.call('RPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1)
return 1
"""

# The oldest queued message moves to PENDING, stamped ARGV[1]: one process wins it.
_CLAIM = """
local sids = redis.call('ZRANGE', KEYS[1], 0, 0)
if #sids == 0 then return nil end
local sid = sids[1]
redis.call('ZREM', KEYS[1], sid)
local payload = redis.call('HGET', ARGV[2] .. sid, 'payload')
if not payload then return {sid, false, '0'} end
redis.call('ZADD', KEYS[2], ARGV[1], sid)
local attempts = redis.call('HGET', ARGV[2] .. sid, 'attempts') or '0'
return {sid, payload, attempts}
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
        keys=[seen_key(message_sid), data_key(message_sid), QUEUED, DOORBELL],
        args=[
            SEEN_TTL_S,
            json.dumps(payload, ensure_ascii=False),
            repr(time.time()),
            message_sid,
            DOORBELL_MAX,
        ],
    )
    return int(result) == 1


async def claim(redis: aioredis.Redis) -> tuple[str, dict[str, Any], int] | None:
    """The oldest queued message, now this process's: (MessageSid, payload, attempts so
    far), or None when nothing is queued."""
    script = redis.register_script(_CLAIM)
    while True:
        found = await script(keys=[QUEUED, PENDING], args=[repr(time.time()), data_key("")])
        if not found:
            return None
        sid, payload, tries = found
        if payload:
            return sid, json.loads(payload), int(tries)
        # Its record expired while queued (a week without any consumer): skip it.


async def wait_for_doorbell(redis: aioredis.Redis, timeout_s: float) -> None:
    """Blocks until a message is accepted or `timeout_s` passes (a blocking client)."""
    await redis.blpop([DOORBELL], timeout=timeout_s)


async def depth(redis: aioredis.Redis) -> tuple[int, int]:
    """(queued, in a turn): messages waiting for a consumer, and being answered."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(QUEUED)
        pipe.zcard(PENDING)
        queued, pending = await pipe.execute()
    return int(queued), int(pending)


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
